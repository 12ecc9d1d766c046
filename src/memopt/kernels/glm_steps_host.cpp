// Host harness: the per-run functions of glm_steps.cu compiled for the CPU, with the same
// arguments as the __global__ kernels, looping over the runs instead of launching threads.
#include "glm_steps.cu"

#define MEMOPT_HOST(real, suffix)                                                                   \
    extern "C" void sgd_steps_##suffix(const real* A, const real* y, int p, real mu,                \
                                       const real* alphas, const long long* indices, int T, int R,  \
                                       int B, real* x, real* scratch) {                             \
        for (int r = 0; r < R; ++r) memopt::sgd_run(r, A, y, p, mu, alphas, indices, T, R, B, x, scratch); \
    }                                                                                               \
    extern "C" void sag_steps_##suffix(const real* A, const real* y, int n, int p, real mu,         \
                                       real alpha, const long long* indices, int T, int R, real* x, \
                                       real* table, real* total, real* denominators,                \
                                       unsigned char* seen, int normalize) {                        \
        for (int r = 0; r < R; ++r)                                                                 \
            memopt::sag_run(r, A, y, n, p, mu, alpha, indices, T, R, x, table, total, denominators, \
                            seen, normalize);                                                       \
    }                                                                                               \
    extern "C" void saga_steps_##suffix(const real* A, const real* y, int n, int p, real mu,        \
                                        real alpha, const long long* indices, int T, int R, real* x, \
                                        real* table, real* total) {                                 \
        for (int r = 0; r < R; ++r) memopt::saga_run(r, A, y, n, p, mu, alpha, indices, T, R, x, table, total); \
    }                                                                                               \
    extern "C" void svrg_steps_##suffix(const real* A, const real* y, int p, real mu, real alpha,   \
                                        const long long* indices, int T, int R, real* x,            \
                                        const real* snapshot, const real* snapshot_gradient) {      \
        for (int r = 0; r < R; ++r)                                                                 \
            memopt::svrg_run(r, A, y, p, mu, alpha, indices, T, R, x, snapshot, snapshot_gradient); \
    }

MEMOPT_HOST(float, float)
MEMOPT_HOST(double, double)
