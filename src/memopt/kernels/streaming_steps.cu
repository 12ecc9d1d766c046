// T samples of randomized Kaczmarz or streaming SGD on a least-squares stream, for R independent
// trials in one launch (one thread a trial), recording ||x - x_true|| after every sample.
//
// Per-trial logic is __host__ __device__ so that streaming_steps_host.cpp compiles the same
// source for the CPU; the NumPy twins are Kaczmarz._update and StreamingSGD._update in
// memopt/optim/streaming.py, whose arithmetic order this follows; memopt/kernels/cpu.py holds
// the same functions for Numba.
//
// Layout (row-major): rows (R, T, d); labels (R, T); targets (R, d); x (R, d); errors (R, T).

#include "common.cuh"

namespace memopt {

template <typename real>
__host__ __device__ inline real distance(const real* x, const real* target, int d) {
    real sum = real(0);
    for (int j = 0; j < d; ++j) {
        real e = x[j] - target[j];
        sum += e * e;
    }
    return sqrt(sum);
}

// x <- x + a (b - <a, x>) / ||a||^2: the projection onto the sample's hyperplane.
template <typename real>
__host__ __device__ inline void kaczmarz_step(const real* a, real b, int d, real* x) {
    real norm = dot(a, a, d);
    if (norm <= real(0)) return;
    real step = (b - dot(a, x, d)) / norm;
    for (int j = 0; j < d; ++j) x[j] += step * a[j];
}

// x <- x - step (<a, x> - b) a: SGD on (1/2)(<a, x> - b)^2.
template <typename real>
__host__ __device__ inline void sgd_step(const real* a, real b, int d, real step, real* x) {
    real scaled = step * (dot(a, x, d) - b);
    for (int j = 0; j < d; ++j) x[j] -= scaled * a[j];
}

template <typename real>
__host__ __device__ inline void kaczmarz_run(int r, const real* rows, const real* labels,
                                             const real* targets, int T, int R, int d, real* x,
                                             real* errors) {
    real* xr = x + (long long)r * d;
    for (int t = 0; t < T; ++t) {
        long long sample = (long long)r * T + t;
        kaczmarz_step(rows + sample * d, labels[sample], d, xr);
        errors[sample] = distance(xr, targets + (long long)r * d, d);
    }
}

template <typename real>
__host__ __device__ inline void sgd_run(int r, const real* rows, const real* labels,
                                        const real* targets, int T, int R, int d, real step, real* x,
                                        real* errors) {
    real* xr = x + (long long)r * d;
    for (int t = 0; t < T; ++t) {
        long long sample = (long long)r * T + t;
        sgd_step(rows + sample * d, labels[sample], d, step, xr);
        errors[sample] = distance(xr, targets + (long long)r * d, d);
    }
}

}  // namespace memopt

#ifdef __CUDACC__
template <typename real>
__global__ void kaczmarz_steps(const real* rows, const real* labels, const real* targets, int T,
                               int R, int d, real* x, real* errors) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= R) return;
    memopt::kaczmarz_run(r, rows, labels, targets, T, R, d, x, errors);
}

template <typename real>
__global__ void sgd_steps(const real* rows, const real* labels, const real* targets, int T, int R,
                          int d, real step, real* x, real* errors) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= R) return;
    memopt::sgd_run(r, rows, labels, targets, T, R, d, step, x, errors);
}

#ifdef MEMOPT_INSTANTIATE
#define MEMOPT_KERNELS(real)                                                                        \
    template __global__ void kaczmarz_steps<real>(const real*, const real*, const real*, int, int, \
                                                  int, real*, real*);                              \
    template __global__ void sgd_steps<real>(const real*, const real*, const real*, int, int, int, \
                                             real, real*, real*);
MEMOPT_KERNELS(float)
MEMOPT_KERNELS(double)
#endif
#endif
