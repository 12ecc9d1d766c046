// Host harness: the per-trial functions of streaming_steps.cu compiled for the CPU, with the
// same arguments as the __global__ kernels, looping over the trials.
#include "streaming_steps.cu"

#define MEMOPT_HOST(real, suffix)                                                                  \
    extern "C" void kaczmarz_steps_##suffix(const real* rows, const real* labels,                  \
                                            const real* targets, int T, int R, int d, real* x,     \
                                            real* errors) {                                        \
        for (int r = 0; r < R; ++r) memopt::kaczmarz_run(r, rows, labels, targets, T, R, d, x, errors); \
    }                                                                                              \
    extern "C" void sgd_steps_##suffix(const real* rows, const real* labels, const real* targets,  \
                                       int T, int R, int d, real step, real* x, real* errors) {    \
        for (int r = 0; r < R; ++r) memopt::sgd_run(r, rows, labels, targets, T, R, d, step, x, errors); \
    }

MEMOPT_HOST(float, float)
MEMOPT_HOST(double, double)
