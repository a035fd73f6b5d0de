import CXSMM
import Foundation
import SomaSIMD

/// LIBXSMM (libxsmm-dev): GEMM kernels JIT-compiled for this CPU's vector width, behind the
/// direct convolutions (`ConvKernels.directKernel`) and small matrix products (``SmallGEMM``).
enum LIBXSMM {
    /// LIBXSMM initialised — or false under ThreadSanitizer, whose runtime and LIBXSMM's JIT
    /// do not mix: the suite crashed inside the sanitizer's allocator (a null block) as soon
    /// as JIT-compiled kernels ran beside other tests. There the callers take their OpenBLAS
    /// paths.
    static let available: Bool = {
        guard dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_init") == nil else { return false }
        libxsmm_init()
        return true
    }()

    /// Whether to clear the vector registers' upper halves after each kernel (`VZEROUPPER`,
    /// on CPUs with AVX): LIBXSMM's kernels leave them in use, and every SSE instruction of
    /// Soma's baseline code then waits on them — an unrolled LSTM ran 4.3 ms instead of 3.1
    /// with its GEMMs in LIBXSMM and its activations in SSE.
    static let clearsUpperHalves: Int32 = CPULevel.detected >= .avx2 ? 1 : 0

    /// Whether this CPU runs LIBXSMM's AVX-512 kernels, whose 32 vector registers hold a
    /// large block of `C` while `B` streams past: its AVX2 kernels (16 registers) reload `B`
    /// so often that a deep `B` beyond the level-1 cache, read in place with rows a row's
    /// length apart, runs at 50–70 % of what it does in contiguous panels
    /// (``WeightPanelPacking/smallestPackedBytes(_:)``).
    static let hasAVX512Kernels = CPULevel.detected >= .avx512
}
