// Shared by every kernel source: the shims that let __host__ __device__ functions compile for the
// CPU (the host harnesses include the .cu files with g++), and the small helpers they share.
#pragma once

#ifndef __CUDACC__
#include <cmath>
using std::exp;
using std::log;
using std::sqrt;
#define __host__
#define __device__
#endif

namespace memopt {

template <typename real>
__host__ __device__ inline real dot(const real* a, const real* x, int p) {
    real sum = real(0);
    for (int j = 0; j < p; ++j) sum += a[j] * x[j];
    return sum;
}

}  // namespace memopt
