// Fused PGD step kernels for the CuPy backend of tradeoff.kernels (compiled by NVRTC
// through cupy.RawModule; compile-checked with `nvcc -ptx` in the tests).
//
// T  : float or double (the dtype of x, g, out)
// X0 : T or unsigned char (uint8 images, read as x0 / 255)
// Arithmetic follows tradeoff/kernels/reference.py operation by operation. The l∞ step
// uses only exact or single IEEE operations (alpha * sign(g) is exact, so FMA
// contraction cannot change it; the uint8 scaling is an IEEE division, not a multiply
// by 1/255), hence it is bit-identical to the reference. Per-sample parameters: when
// sa < 0 (se < 0) the scalar alpha_s (eps_s) is used, else alpha[b * sa] (eps[b * se]).

template <typename T, typename X0>
__device__ __forceinline__ T x0_value(const X0* x0, long long i);

template <>
__device__ __forceinline__ float x0_value<float, float>(const float* x0, long long i) {
    return x0[i];
}
template <>
__device__ __forceinline__ double x0_value<double, double>(const double* x0, long long i) {
    return x0[i];
}
template <>
__device__ __forceinline__ float x0_value<float, unsigned char>(const unsigned char* x0,
                                                                 long long i) {
    return __fdiv_rn((float)x0[i], 255.0f);
}
template <>
__device__ __forceinline__ double x0_value<double, unsigned char>(const unsigned char* x0,
                                                                   long long i) {
    return __ddiv_rn((double)x0[i], 255.0);
}

template <typename T>
__device__ __forceinline__ T clip_select(T y, T lower, T upper) {
    y = (y < lower) ? lower : y;
    return (y > upper) ? upper : y;
}

// The eps-box: a NaN bound (a non-finite x0) gives NaN, never an unconstrained value.
template <typename T>
__device__ __forceinline__ T clip_ball(T y, T lower, T upper) {
    y = (y >= lower) ? y : lower;
    return (y <= upper) ? y : upper;
}

// l∞ step (step = true) or projection (step = false), grid-stride over all elements.
template <typename T, typename X0, bool STEP>
__device__ __forceinline__ void linf_body(const T* x, const X0* x0, const T* g, T* out,
                                          const T* alpha, int sa, T alpha_s,
                                          const T* eps, int se, T eps_s, T lo, T hi,
                                          long long d, long long n) {
    long long stride = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        long long b = (sa < 0 && se < 0) ? 0 : i / d;  // skip the division for scalars
        T e = se < 0 ? eps_s : eps[b * se];
        T y = x[i];
        if (STEP) {
            T a = sa < 0 ? alpha_s : alpha[b * sa];
            T gi = g[i];
            T s = gi > T(0) ? a : (gi < T(0) ? -a : T(0));
            y = y + s;
        }
        T v = x0_value<T, X0>(x0, i);
        y = clip_ball<T>(y, v - e, v + e);
        out[i] = clip_select<T>(y, lo, hi);
    }
}

template <typename T, typename X0>
__global__ void linf_step(const T* x, const X0* x0, const T* g, T* out, const T* alpha,
                          int sa, T alpha_s, const T* eps, int se, T eps_s, T lo, T hi,
                          long long d, long long n) {
    linf_body<T, X0, true>(x, x0, g, out, alpha, sa, alpha_s, eps, se, eps_s, lo, hi, d, n);
}

template <typename T, typename X0>
__global__ void linf_project(const T* x, const X0* x0, T* out, const T* eps, int se,
                             T eps_s, T lo, T hi, long long d, long long n) {
    linf_body<T, X0, false>(x, x0, x, out, eps, -1, T(0), eps, se, eps_s, lo, hi, d, n);
}

// Block-wide sum of three doubles; every thread gets the totals. sh has 3 * blockDim.x.
__device__ __forceinline__ void block_sum3(double* sh, double& a, double& b, double& c) {
    int t = threadIdx.x, nt = blockDim.x;
    sh[t] = a;
    sh[nt + t] = b;
    sh[2 * nt + t] = c;
    __syncthreads();
    for (int h = nt / 2; h > 0; h >>= 1) {
        if (t < h) {
            sh[t] += sh[t + h];
            sh[nt + t] += sh[nt + t + h];
            sh[2 * nt + t] += sh[2 * nt + t + h];
        }
        __syncthreads();
    }
    a = sh[0];
    b = sh[nt];
    c = sh[2 * nt];
    __syncthreads();  // sh may be reused right after
}

// l2 step (STEP) or projection, one block per sample (blockDim.x a power of two).
// Pass 1 reduces ||g||^2, <x - x0, g>, ||x - x0||^2 in double; ||x - x0 + s g||^2 by
// expansion, or exactly by a second reduction where the expansion cancels.
template <typename T, typename X0, bool STEP>
__device__ __forceinline__ void l2_body(const T* x, const X0* x0, const T* g, T* out,
                                        const T* alpha, int sa, T alpha_s, const T* eps,
                                        int se, T eps_s, T lo, T hi, long long d,
                                        double tight) {
    extern __shared__ double sh[];
    long long b = blockIdx.x;
    long long base = b * d;
    double gg = 0.0, dg = 0.0, dd = 0.0;
    for (long long j = threadIdx.x; j < d; j += blockDim.x) {
        double dj = (double)x[base + j] - (double)x0_value<T, X0>(x0, base + j);
        dd += dj * dj;
        if (STEP) {
            double gj = (double)g[base + j];
            gg += gj * gj;
            dg += dj * gj;
        }
    }
    block_sum3(sh, gg, dg, dd);
    double a = sa < 0 ? (double)alpha_s : (double)alpha[b * sa];
    double e = se < 0 ? (double)eps_s : (double)eps[b * se];
    double s = (STEP && gg > 0.0) ? a / sqrt(gg) : 0.0;
    double dn2 = dd + 2.0 * s * dg + s * s * gg;
    double scale = sqrt(dd) + s * sqrt(gg);
    if (dn2 < tight * scale * scale) {
        double acc = 0.0, z1 = 0.0, z2 = 0.0;
        for (long long j = threadIdx.x; j < d; j += blockDim.x) {
            double zj = (double)x[base + j] - (double)x0_value<T, X0>(x0, base + j);
            if (STEP) zj += s * (double)g[base + j];
            acc += zj * zj;
        }
        block_sum3(sh, acc, z1, z2);
        dn2 = acc;
    }
    double dn = (dn2 <= 0.0) ? 0.0 : sqrt(dn2);  // NaN (a non-finite x0) stays NaN ...
    bool proj = !(dn <= e);                      // ... and is projected: the sample is NaN
    double f = proj ? e / dn : 1.0;
    T st = (T)s;
    T ft = (T)f;
    if (STEP && !(st < (T)INFINITY)) {
        // s = alpha/||g|| beyond T's range (a tiny gradient in float): update in double.
        for (long long j = threadIdx.x; j < d; j += blockDim.x) {
            double v = (double)x0_value<T, X0>(x0, base + j);
            double z = ((double)x[base + j] - v) + s * (double)g[base + j];
            T y = proj ? (T)(v + z * f) : (T)(v + z);
            out[base + j] = clip_select<T>(y, lo, hi);
        }
        return;
    }
    for (long long j = threadIdx.x; j < d; j += blockDim.x) {
        T xj = x[base + j];
        T sg = STEP ? st * g[base + j] : T(0);
        T y;
        if (proj) {
            T v = x0_value<T, X0>(x0, base + j);
            y = v + ((xj - v) + sg) * ft;
        } else {
            y = xj + sg;
        }
        out[base + j] = clip_select<T>(y, lo, hi);
    }
}

template <typename T, typename X0>
__global__ void l2_step(const T* x, const X0* x0, const T* g, T* out, const T* alpha,
                        int sa, T alpha_s, const T* eps, int se, T eps_s, T lo, T hi,
                        long long d, double tight) {
    l2_body<T, X0, true>(x, x0, g, out, alpha, sa, alpha_s, eps, se, eps_s, lo, hi, d, tight);
}

template <typename T, typename X0>
__global__ void l2_project(const T* x, const X0* x0, T* out, const T* eps, int se,
                           T eps_s, T lo, T hi, long long d, double tight) {
    l2_body<T, X0, false>(x, x0, x, out, eps, -1, T(0), eps, se, eps_s, lo, hi, d, tight);
}

// Stream limit of the l∞ access pattern (read 3, write 1 in place), for the benchmark.
template <typename T>
__global__ void stream3(T* x, const T* y, const T* z, long long n) {
    long long stride = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        x[i] = x[i] + y[i] + z[i];
}

#ifdef TRADEOFF_INSTANTIATE
// For `nvcc -ptx -DTRADEOFF_INSTANTIATE` compile checks (NVRTC instantiates by name).
#define TRADEOFF_ALL(T, X0)                                                              \
    template __global__ void linf_step<T, X0>(const T*, const X0*, const T*, T*, const T*, \
                                              int, T, const T*, int, T, T, T, long long,  \
                                              long long);                                 \
    template __global__ void linf_project<T, X0>(const T*, const X0*, T*, const T*, int,  \
                                                 T, T, T, long long, long long);          \
    template __global__ void l2_step<T, X0>(const T*, const X0*, const T*, T*, const T*,   \
                                            int, T, const T*, int, T, T, T, long long,    \
                                            double);                                      \
    template __global__ void l2_project<T, X0>(const T*, const X0*, T*, const T*, int, T,  \
                                               T, T, long long, double);
TRADEOFF_ALL(float, float)
TRADEOFF_ALL(float, unsigned char)
TRADEOFF_ALL(double, double)
TRADEOFF_ALL(double, unsigned char)
template __global__ void stream3<float>(float*, const float*, const float*, long long);
template __global__ void stream3<double>(double*, const double*, const double*, long long);
#endif
