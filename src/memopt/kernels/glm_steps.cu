// T steps of SGD, SAG, SAGA or SVRG on a generalised linear model (L2-regularised logistic
// regression), for R independent runs in one launch: one thread a run, indices from the host.
//
// The per-run logic is written as __host__ __device__ functions so that the same source also
// compiles for the CPU (tests/unit/test_kernels.py builds it with g++ and compares it with the
// NumPy twin, the methods' step() in memopt/optim/stochastic.py). The arithmetic follows the
// twin's order: margins first, then the table, then the iterate. memopt/kernels/cpu.py holds
// the same functions for Numba (the compiled CPU path), which the GPU tests compare against.
//
// Layout (row-major): features A (n, p); labels y (n); iterates x (R, p); GLM tables (R, n);
// table sums (R, p); indices (T, R, B) for SGD, (T, R) otherwise.

#include "common.cuh"

namespace memopt {

template <typename real>
__host__ __device__ inline real sigmoid(real t) {
    // Stable on both sides: exp never overflows.
    if (t >= real(0)) return real(1) / (real(1) + exp(-t));
    real e = exp(t);
    return e / (real(1) + e);
}

// s_i(x) = -y_i sigma(-y_i <a_i, x>): grad f_i(x) = s_i a_i + mu x.
template <typename real>
__host__ __device__ inline real loss_derivative(const real* A, const real* y, int p, long long i,
                                                const real* x) {
    real yi = y[i];
    return -yi * sigmoid(-dot(A + i * p, x, p) * yi);
}

// One SGD step on a mini-batch of B indices; scratch holds B reals.
template <typename real>
__host__ __device__ inline void sgd_step(const real* A, const real* y, int p, real mu, real alpha,
                                         const long long* batch, int B, real* x, real* scratch) {
    for (int b = 0; b < B; ++b) scratch[b] = loss_derivative(A, y, p, batch[b], x);
    for (int j = 0; j < p; ++j) {
        real g = real(0);
        for (int b = 0; b < B; ++b) g += scratch[b] * A[batch[b] * p + j];
        x[j] -= alpha * (g / real(B) + mu * x[j]);
    }
}

// One SAG step with the GLM table (Schmidt, Le Roux, Bach 2017, eq. (5) and section 4).
template <typename real>
__host__ __device__ inline void sag_step(const real* A, const real* y, int p, real mu, real alpha,
                                         long long i, real* x, real* table, real* total,
                                         real* denominator, unsigned char* seen, int normalize) {
    real s = loss_derivative(A, y, p, i, x);
    if (normalize && !seen[i]) {
        seen[i] = 1;
        *denominator += real(1);
    }
    real change = s - table[i];
    table[i] = s;
    const real* a = A + i * p;
    for (int j = 0; j < p; ++j) total[j] += change * a[j];
    // Loaded once: the compiler cannot hoist *denominator past the stores to x it may alias.
    real decay = real(1) - alpha * mu, scale = alpha / *denominator;
    for (int j = 0; j < p; ++j) x[j] = x[j] * decay - scale * total[j];
}

// One SAGA step with the GLM table (Defazio, Bach, Lacoste-Julien 2014).
template <typename real>
__host__ __device__ inline void saga_step(const real* A, const real* y, int n, int p, real mu,
                                          real alpha, long long i, real* x, real* table, real* total) {
    real s = loss_derivative(A, y, p, i, x);
    real change = s - table[i];
    table[i] = s;
    const real* a = A + i * p;
    for (int j = 0; j < p; ++j) {
        real c = change * a[j];
        real direction = c + total[j] / real(n) + mu * x[j];
        total[j] += c;
        x[j] -= alpha * direction;
    }
}

// One inner SVRG step (Johnson & Zhang 2013); the snapshot and its gradient come from the host.
template <typename real>
__host__ __device__ inline void svrg_step(const real* A, const real* y, int p, real mu, real alpha,
                                          long long i, real* x, const real* snapshot,
                                          const real* snapshot_gradient) {
    real s = loss_derivative(A, y, p, i, x);
    real s_snapshot = loss_derivative(A, y, p, i, snapshot);
    const real* a = A + i * p;
    for (int j = 0; j < p; ++j) {
        real direction = (s - s_snapshot) * a[j] + mu * (x[j] - snapshot[j]) + snapshot_gradient[j];
        x[j] -= alpha * direction;
    }
}

// One run's share of a launch: run r through the T steps. The __global__ wrappers below call
// these with r from the thread index; the host harness calls them for r = 0 .. R-1.
template <typename real>
__host__ __device__ inline void sgd_run(int r, const real* A, const real* y, int p, real mu,
                                        const real* alphas, const long long* indices, int T, int R,
                                        int B, real* x, real* scratch) {
    for (int t = 0; t < T; ++t)
        sgd_step(A, y, p, mu, alphas[t], indices + ((long long)t * R + r) * B, B, x + (long long)r * p,
                 scratch + (long long)r * B);
}

template <typename real>
__host__ __device__ inline void sag_run(int r, const real* A, const real* y, int n, int p, real mu,
                                        real alpha, const long long* indices, int T, int R, real* x,
                                        real* table, real* total, real* denominators,
                                        unsigned char* seen, int normalize) {
    for (int t = 0; t < T; ++t)
        sag_step(A, y, p, mu, alpha, indices[(long long)t * R + r], x + (long long)r * p,
                 table + (long long)r * n, total + (long long)r * p, denominators + r,
                 seen + (long long)r * n, normalize);
}

template <typename real>
__host__ __device__ inline void saga_run(int r, const real* A, const real* y, int n, int p, real mu,
                                         real alpha, const long long* indices, int T, int R, real* x,
                                         real* table, real* total) {
    for (int t = 0; t < T; ++t)
        saga_step(A, y, n, p, mu, alpha, indices[(long long)t * R + r], x + (long long)r * p,
                  table + (long long)r * n, total + (long long)r * p);
}

template <typename real>
__host__ __device__ inline void svrg_run(int r, const real* A, const real* y, int p, real mu,
                                         real alpha, const long long* indices, int T, int R, real* x,
                                         const real* snapshot, const real* snapshot_gradient) {
    for (int t = 0; t < T; ++t)
        svrg_step(A, y, p, mu, alpha, indices[(long long)t * R + r], x + (long long)r * p,
                  snapshot + (long long)r * p, snapshot_gradient + (long long)r * p);
}

}  // namespace memopt

#ifdef __CUDACC__
#define MEMOPT_THREAD_RUN                                \
    int r = blockIdx.x * blockDim.x + threadIdx.x;       \
    if (r >= R) return;

template <typename real>
__global__ void sgd_steps(const real* A, const real* y, int p, real mu, const real* alphas,
                          const long long* indices, int T, int R, int B, real* x, real* scratch) {
    MEMOPT_THREAD_RUN
    memopt::sgd_run(r, A, y, p, mu, alphas, indices, T, R, B, x, scratch);
}

template <typename real>
__global__ void sag_steps(const real* A, const real* y, int n, int p, real mu, real alpha,
                          const long long* indices, int T, int R, real* x, real* table, real* total,
                          real* denominators, unsigned char* seen, int normalize) {
    MEMOPT_THREAD_RUN
    memopt::sag_run(r, A, y, n, p, mu, alpha, indices, T, R, x, table, total, denominators, seen, normalize);
}

template <typename real>
__global__ void saga_steps(const real* A, const real* y, int n, int p, real mu, real alpha,
                           const long long* indices, int T, int R, real* x, real* table, real* total) {
    MEMOPT_THREAD_RUN
    memopt::saga_run(r, A, y, n, p, mu, alpha, indices, T, R, x, table, total);
}

template <typename real>
__global__ void svrg_steps(const real* A, const real* y, int p, real mu, real alpha,
                           const long long* indices, int T, int R, real* x, const real* snapshot,
                           const real* snapshot_gradient) {
    MEMOPT_THREAD_RUN
    memopt::svrg_run(r, A, y, p, mu, alpha, indices, T, R, x, snapshot, snapshot_gradient);
}

#ifdef MEMOPT_INSTANTIATE
// Explicit instantiations, so that `nvcc -ptx -DMEMOPT_INSTANTIATE` compiles every kernel.
#define MEMOPT_KERNELS(real)                                                                         \
    template __global__ void sgd_steps<real>(const real*, const real*, int, real, const real*,       \
                                             const long long*, int, int, int, real*, real*);         \
    template __global__ void sag_steps<real>(const real*, const real*, int, int, real, real,         \
                                             const long long*, int, int, real*, real*, real*, real*, \
                                             unsigned char*, int);                                   \
    template __global__ void saga_steps<real>(const real*, const real*, int, int, real, real,        \
                                              const long long*, int, int, real*, real*, real*);      \
    template __global__ void svrg_steps<real>(const real*, const real*, int, real, real,             \
                                              const long long*, int, int, real*, const real*,        \
                                              const real*);
MEMOPT_KERNELS(float)
MEMOPT_KERNELS(double)
#endif
#endif
