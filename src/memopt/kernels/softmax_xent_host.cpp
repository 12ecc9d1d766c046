// Host harness: softmax_xent.cu's per-row function compiled for the CPU, with the kernel's arguments.
#include "softmax_xent.cu"

#define MEMOPT_HOST(real, suffix)                                                                 \
    extern "C" void xent_rows_##suffix(const real* logits, const long long* labels, int C,       \
                                       long long B, real* losses, real* gradient) {              \
        for (long long r = 0; r < B; ++r) memopt::xent_row(r, logits, labels, C, B, losses, gradient); \
    }

MEMOPT_HOST(float, float)
MEMOPT_HOST(double, double)
