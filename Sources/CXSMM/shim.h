#include <libxsmm.h>

#if defined(__x86_64__)
#include <immintrin.h>
/* VZEROUPPER: LIBXSMM's AVX kernels return with the upper halves of the vector registers in
 * use, and until they are cleared every SSE instruction after them (all of Soma's baseline
 * code) runs with a false dependency on them. Only on CPUs with AVX. */
__attribute__((target("avx"))) static inline void soma_xsmm_zero_upper(void) { _mm256_zeroupper(); }
#else
static inline void soma_xsmm_zero_upper(void) {}
#endif

/* Swift cannot call LIBXSMM's kernels directly (their pointer type is variadic): these
 * wrappers JIT-compile (or look up) and run a float32 batch-reduce GEMM
 * C = beta·C + Σ_t A_t·op(B_t) (column-major, m × n, k deep, over `count` address pairs;
 * op(B) = Bᵀ when trans_b, B being then n × k). */

/** The kernel, or NULL where LIBXSMM cannot JIT one. Thread-safe. */
static inline const void *soma_xsmm_reduce_batch_kernel(int m, int n, int k, int lda, int ldb, int ldc, int beta_zero, int trans_b) {
    libxsmm_blasint lm = m, ln = n, lk = k, la = lda, lb = ldb, lc = ldc;
    float alpha = 1, beta = beta_zero ? 0 : 1;
    int flags = (beta_zero ? LIBXSMM_GEMM_FLAG_BETA_0 : LIBXSMM_GEMM_FLAG_NONE) | (trans_b ? LIBXSMM_GEMM_FLAG_TRANS_B : 0);
    int prefetch = LIBXSMM_GEMM_PREFETCH_NONE;
    return (const void *)libxsmm_smmdispatch_reducebatch_addr(lm, ln, lk, &la, &lb, &lc, &alpha, &beta, &flags, &prefetch);
}

/* A plain float32 GEMM C = A·op(B) (β = 0; column-major, m × n, k deep; op(B) = Bᵀ when
 * trans_b): the kernel, or NULL where LIBXSMM cannot JIT one. Thread-safe. */
static inline const void *soma_xsmm_gemm_kernel(int m, int n, int k, int lda, int ldb, int ldc, int trans_b) {
    libxsmm_blasint lm = m, ln = n, lk = k, la = lda, lb = ldb, lc = ldc;
    float alpha = 1, beta = 0;
    int flags = LIBXSMM_GEMM_FLAG_BETA_0 | (trans_b ? LIBXSMM_GEMM_FLAG_TRANS_B : 0);
    int prefetch = LIBXSMM_GEMM_PREFETCH_NONE;
    return (const void *)libxsmm_smmdispatch(lm, ln, lk, &la, &lb, &lc, &alpha, &beta, &flags, &prefetch);
}

/* The batch-reduce GEMM of soma_xsmm_reduce_batch_kernel over operands a fixed number of bytes
 * apart (A_t = A + t·stride_a, B_t = B + t·stride_b): no address arrays. beta is 0 or 1. */
static inline const void *soma_xsmm_reduce_strided_kernel(int m, int n, int k, int stride_a, int stride_b, int lda, int ldb, int ldc,
                                                          int beta_zero, int trans_b) {
    libxsmm_blasint lm = m, ln = n, lk = k, la = lda, lb = ldb, lc = ldc;
    float alpha = 1, beta = beta_zero ? 0 : 1;
    int flags = (beta_zero ? LIBXSMM_GEMM_FLAG_BETA_0 : LIBXSMM_GEMM_FLAG_NONE) | (trans_b ? LIBXSMM_GEMM_FLAG_TRANS_B : 0);
    int prefetch = LIBXSMM_GEMM_PREFETCH_NONE;
    return (const void *)libxsmm_smmdispatch_reducebatch_strd(lm, ln, lk, stride_a, stride_b, &la, &lb, &lc, &alpha, &beta, &flags, &prefetch);
}

/** Runs a kernel from soma_xsmm_reduce_strided_kernel over `count` (A, B) pairs into `c`. */
static inline void soma_xsmm_reduce_strided(const void *kernel, const float *a, const float *b, float *c, unsigned long long count, int avx) {
    ((libxsmm_smmfunction_reducebatch_strd)kernel)(a, b, c, &count);
    if (avx) soma_xsmm_zero_upper();
}

/** Runs a kernel from soma_xsmm_reduce_batch_kernel over `count` (A, B) pairs into `c`; `avx`
 * says whether to clear the upper halves of the vector registers after it. */
static inline void soma_xsmm_reduce_batch(const void *kernel, const float **a, const float **b, float *c, unsigned long long count,
                                          int avx) {
    ((libxsmm_smmfunction_reducebatch_addr)kernel)(a, b, c, &count);
    if (avx) soma_xsmm_zero_upper();
}

/** Runs a kernel from soma_xsmm_gemm_kernel; `avx` as for soma_xsmm_reduce_batch. */
static inline void soma_xsmm_gemm(const void *kernel, const float *a, const float *b, float *c, int avx) {
    ((libxsmm_smmfunction)kernel)(a, b, c);
    if (avx) soma_xsmm_zero_upper();
}
