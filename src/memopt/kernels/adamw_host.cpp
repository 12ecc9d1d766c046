// Host harness: adamw.cu's per-element update compiled for the CPU, with the kernel's arguments.
#include "adamw.cu"

#define MEMOPT_HOST(real, suffix)                                                                 \
    extern "C" void adamw_step_##suffix(long long n, real* x, const real* g, real* m, real* v,   \
                                        real decay, real beta1, real beta2, real inv_sqrt_c2,    \
                                        real eps, real step_scale) {                             \
        for (long long i = 0; i < n; ++i)                                                         \
            memopt::adamw_element(i, x, g, m, v, decay, beta1, beta2, inv_sqrt_c2, eps, step_scale); \
    }

MEMOPT_HOST(float, float)
MEMOPT_HOST(double, double)
