import SomaSIMD
import SomaSIMDBaseline
#if canImport(SomaSIMDAVX512)
import SomaSIMDAVX2
import SomaSIMDAVX512
#endif

/// The float32 vector loops (`VectorLoops`) in the build for this CPU: AVX-512, AVX2 or
/// baseline, as ``CPULevel/selected`` says. Every build computes the same bits, so a
/// result never depends on the machine's instruction set. Thread-safe: the loops touch only
/// the buffers they are given.
enum VectorKernels {
    /// `dst[i] = f(src[i])` for `count` elements; `dst` may be `src`.
    static func map(_ f: UnaryFunction, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int,
                    level: CPULevel = .selected) {
        switch checked(level) {
        #if canImport(SomaSIMDAVX512)
        case .avx512: SomaSIMDAVX512.CompiledLoops.map(f, src, dst, count: count)
        case .avx2: SomaSIMDAVX2.CompiledLoops.map(f, src, dst, count: count)
        #endif
        default: SomaSIMDBaseline.CompiledLoops.map(f, src, dst, count: count)
        }
    }

    /// `dst[i] = a[i·sa] ⊕ b[i·sb]` for strides 0 (a broadcast scalar) or 1; `dst` may
    /// alias either operand.
    static func zip(_ f: BinaryFunction, _ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int,
                    _ dst: UnsafeMutablePointer<Float>, count: Int, level: CPULevel = .selected) {
        switch checked(level) {
        #if canImport(SomaSIMDAVX512)
        case .avx512: SomaSIMDAVX512.CompiledLoops.zip(f, a, sa, b, sb, dst, count: count)
        case .avx2: SomaSIMDAVX2.CompiledLoops.zip(f, a, sa, b, sb, dst, count: count)
        #endif
        default: SomaSIMDBaseline.CompiledLoops.zip(f, a, sa, b, sb, dst, count: count)
        }
    }

    /// Softmax or log-softmax of rows `rows` of a `[*, n]` matrix.
    static func softmaxRows(_ px: UnsafePointer<Float>, _ po: UnsafeMutablePointer<Float>, n: Int, rows: Range<Int>, log: Bool,
                            level: CPULevel = .selected) {
        switch checked(level) {
        #if canImport(SomaSIMDAVX512)
        case .avx512: SomaSIMDAVX512.CompiledLoops.softmaxRows(px, po, n: n, rows: rows, log: log)
        case .avx2: SomaSIMDAVX2.CompiledLoops.softmaxRows(px, po, n: n, rows: rows, log: log)
        #endif
        default: SomaSIMDBaseline.CompiledLoops.softmaxRows(px, po, n: n, rows: rows, log: log)
        }
    }

    /// `po[r, j] = f(po[r, j] + bias[j])` over `rows` rows of `n` (no `f`: the addition alone).
    static func biasActivation(_ f: UnaryFunction?, _ po: UnsafeMutablePointer<Float>, rows: Int, n: Int, _ bias: UnsafePointer<Float>,
                               level: CPULevel = .selected) {
        switch checked(level) {
        #if canImport(SomaSIMDAVX512)
        case .avx512: SomaSIMDAVX512.CompiledLoops.biasActivation(f, po, rows: rows, n: n, bias)
        case .avx2: SomaSIMDAVX2.CompiledLoops.biasActivation(f, po, rows: rows, n: n, bias)
        #endif
        default: SomaSIMDBaseline.CompiledLoops.biasActivation(f, po, rows: rows, n: n, bias)
        }
    }

    /// One output row of a depthwise convolution with multiplier 1.
    static func depthwiseForwardRow(_ g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>,
                                    output: UnsafeMutablePointer<Float>, row: Int, level: CPULevel = .selected) {
        switch checked(level) {
        #if canImport(SomaSIMDAVX512)
        case .avx512: SomaSIMDAVX512.CompiledLoops.depthwiseForwardRow(g, input: input, filter: filter, output: output, row: row)
        case .avx2: SomaSIMDAVX2.CompiledLoops.depthwiseForwardRow(g, input: input, filter: filter, output: output, row: row)
        #endif
        default: SomaSIMDBaseline.CompiledLoops.depthwiseForwardRow(g, input: input, filter: filter, output: output, row: row)
        }
    }

    /// `level`, which must be one this CPU runs (tests pass lower ones to compare builds).
    @inline(__always) private static func checked(_ level: CPULevel) -> CPULevel {
        precondition(level <= CPULevel.detected, "the \(level) vector loops need a CPU with \(level)")
        return level
    }
}

/// The vector instruction set this process's elementwise loops use: `avx512`, `avx2` or
/// `baseline` (the best this CPU runs, capped by the `SOMA_CPU` environment variable).
public var vectorInstructionSet: String { CPULevel.selected.description }
