// Softmax cross-entropy on the answer token, forward and backward fused: one thread a row of
// logits (B rows of C classes) computes the row's loss -log softmax(z)_y and its gradient
// (softmax(z) - e_y) / B in one pass, without writing the probabilities separately.
//
// Per-row logic is __host__ __device__ (softmax_xent_host.cpp compiles it for the CPU); the
// NumPy twin is CrossEntropy.value_and_gradient in memopt/nets/losses.py. The mean loss is the
// mean of the returned per-row losses, taken by the caller. The wrapper (memopt.kernels.xent_rows)
// rejects labels outside [0, C); the kernel still never writes outside its row for one.

#include "common.cuh"

namespace memopt {

template <typename real>
__host__ __device__ inline void xent_row(long long r, const real* logits, const long long* labels,
                                         int C, long long B, real* losses, real* gradient) {
    const real* z = logits + r * C;
    real* g = gradient + r * C;
    long long y = labels[r];
    if (y < 0 || y >= C) {  // a label out of range: NaN for the row, no write outside it
        losses[r] = quiet_nan<real>();
        for (int c = 0; c < C; ++c) g[c] = quiet_nan<real>();
        return;
    }
    real top = z[0];
    for (int c = 1; c < C; ++c) top = z[c] > top ? z[c] : top;
    real total = real(0);
    for (int c = 0; c < C; ++c) {
        g[c] = exp(z[c] - top);
        total += g[c];
    }
    losses[r] = log(total) - (z[y] - top);
    for (int c = 0; c < C; ++c) g[c] = g[c] / total;
    g[y] -= real(1);
    for (int c = 0; c < C; ++c) g[c] /= real(B);
}

}  // namespace memopt

#ifdef __CUDACC__
template <typename real>
__global__ void xent_rows(const real* logits, const long long* labels, int C, long long B,
                          real* losses, real* gradient) {
    long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= B) return;
    memopt::xent_row(r, logits, labels, C, B, losses, gradient);
}

#ifdef MEMOPT_INSTANTIATE
template __global__ void xent_rows<float>(const float*, const long long*, int, long long, float*, float*);
template __global__ void xent_rows<double>(const double*, const long long*, int, long long, double*,
                                           double*);
#endif
#endif
