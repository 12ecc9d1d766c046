// One fused AdamW update (Loshchilov & Hutter 2019, as PyTorch's AdamW), one thread an element:
// the decoupled decay, both moments and the step in a single pass over x, g, m and v.
//
// Per-element logic is __host__ __device__ (adamw_host.cpp compiles it for the CPU); the NumPy
// twin is Adam._update with decoupled decay in memopt/optim/adaptive.py, whose order of
// operations this follows: x *= 1 - lr wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
// x -= (lr / c1) m / (sqrt(v) / sqrt(c2) + eps).

#include "common.cuh"

namespace memopt {

template <typename real>
__host__ __device__ inline void adamw_element(long long i, real* x, const real* g, real* m, real* v,
                                              real decay, real beta1, real beta2, real inv_sqrt_c2,
                                              real eps, real step_scale) {
    x[i] *= decay;
    m[i] = m[i] * beta1 + g[i] * (real(1) - beta1);
    v[i] = v[i] * beta2 + g[i] * g[i] * (real(1) - beta2);
    x[i] -= m[i] / (sqrt(v[i]) * inv_sqrt_c2 + eps) * step_scale;
}

}  // namespace memopt

#ifdef __CUDACC__
template <typename real>
__global__ void adamw_step(long long n, real* x, const real* g, real* m, real* v, real decay,
                           real beta1, real beta2, real inv_sqrt_c2, real eps, real step_scale) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    memopt::adamw_element(i, x, g, m, v, decay, beta1, beta2, inv_sqrt_c2, eps, step_scale);
}

#ifdef MEMOPT_INSTANTIATE
template __global__ void adamw_step<float>(long long, float*, const float*, float*, float*, float,
                                           float, float, float, float, float);
template __global__ void adamw_step<double>(long long, double*, const double*, double*, double*,
                                            double, double, double, double, double, double);
#endif
#endif
