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
    /// The build of the loops for `level`, which must be one this CPU runs (tests pass
    /// lower ones to compare builds).
    static func loops(_ level: CPULevel) -> any CompiledLoopSet.Type {
        precondition(level <= CPULevel.detected, "the \(level) vector loops need a CPU with \(level)")
        switch level {
        #if canImport(SomaSIMDAVX512)
        case .avx512: return SomaSIMDAVX512.CompiledLoops.self
        case .avx2: return SomaSIMDAVX2.CompiledLoops.self
        #endif
        default: return SomaSIMDBaseline.CompiledLoops.self
        }
    }

    /// The build this process uses (``CPULevel/selected``).
    static let selected = loops(.selected)

    /// `dst[i] = f(src[i])` for `count` elements; `dst` may be `src`.
    static func map(_ f: UnaryFunction, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int,
                    level: CPULevel? = nil) {
        (level.map(loops) ?? selected).map(f, src, dst, count: count)
    }

    /// `dst[i] = a[i·sa] ⊕ b[i·sb]` for strides 0 (a broadcast scalar) or 1; `dst` may
    /// alias either operand.
    static func zip(_ f: BinaryFunction, _ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int,
                    _ dst: UnsafeMutablePointer<Float>, count: Int, level: CPULevel? = nil) {
        (level.map(loops) ?? selected).zip(f, a, sa, b, sb, dst, count: count)
    }

    /// `po[r, j] = f(po[r, j] + bias[j])` over `rows` rows of `n` (no `f`: the addition alone).
    static func biasActivation(_ f: UnaryFunction?, _ po: UnsafeMutablePointer<Float>, rows: Int, n: Int, _ bias: UnsafePointer<Float>,
                               level: CPULevel? = nil) {
        (level.map(loops) ?? selected).biasActivation(f, po, rows: rows, n: n, bias)
    }

    /// Output rows `rows` of one image's depthwise convolution with multiplier 1 (`output`:
    /// the first of them), then `f(row + bias)` (no `bias`: `f(row)`; no `f`: the addition
    /// alone).
    static func depthwiseForwardRows(_ g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>,
                                     output: UnsafeMutablePointer<Float>, rows: Range<Int>, bias: UnsafePointer<Float>? = nil,
                                     _ f: UnaryFunction? = nil, level: CPULevel? = nil) {
        (level.map(loops) ?? selected).depthwiseForwardRows(g, input: input, filter: filter, output: output, rows: rows, bias: bias, f)
    }

    /// Softmax or log-softmax of rows `rows` of a `[*, n]` matrix.
    static func softmaxRows(_ px: UnsafePointer<Float>, _ po: UnsafeMutablePointer<Float>, n: Int, rows: Range<Int>, log: Bool,
                            level: CPULevel? = nil) {
        (level.map(loops) ?? selected).softmaxRows(px, po, n: n, rows: rows, log: log)
    }

    /// Rows `rows` of a `[*, n]` matrix added into `n` float64 sums, row by row
    /// (``VectorLoops/addRows(_:n:rows:into:)``).
    static func addRows(_ px: UnsafePointer<Float>, n: Int, rows: Range<Int>, into sum: UnsafeMutablePointer<Double>,
                        level: CPULevel? = nil) {
        (level.map(loops) ?? selected).addRows(px, n: n, rows: rows, into: sum)
    }

    /// One output row of a convolution into a few output channels
    /// (``VectorLoops/narrowConvolutionRow(_:input:filter:output:row:)``).
    static func narrowConvolutionRow(_ g: NarrowConvolutionGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>,
                                     output: UnsafeMutablePointer<Float>, row: Int, level: CPULevel? = nil) {
        (level.map(loops) ?? selected).narrowConvolutionRow(g, input: input, filter: filter, output: output, row: row)
    }

    /// Winograd F(2×2, 3×3) or F(2×2, 5×5) input transforms of `count` tiles from tile row `firstRow`
    /// (``VectorLoops/winogradInputTiles(_:image:into:firstRow:count:)``).
    static func winogradInputTiles(_ g: WinogradGeometry, image: UnsafePointer<Float>, into v: UnsafeMutablePointer<Float>,
                                   firstRow: Int, count: Int, level: CPULevel? = nil) {
        (level.map(loops) ?? selected).winogradInputTiles(g, image: image, into: v, firstRow: firstRow, count: count)
    }

    /// Winograd F(2×2, 3×3) or F(2×2, 5×5) output transforms of `count` tiles from tile row `firstRow`
    /// (``VectorLoops/winogradOutputTiles(_:products:into:firstRow:count:)``).
    static func winogradOutputTiles(_ g: WinogradGeometry, products m: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>,
                                    firstRow: Int, count: Int, level: CPULevel? = nil) {
        (level.map(loops) ?? selected).winogradOutputTiles(g, products: m, into: output, firstRow: firstRow, count: count)
    }

    /// The output-gradient transforms of a Winograd filter gradient's `count` tiles from tile
    /// row `firstRow` (``VectorLoops/winogradGradientTiles(_:outBackprop:into:firstRow:count:)``).
    static func winogradGradientTiles(_ g: WinogradGeometry, outBackprop dy: UnsafePointer<Float>, into w: UnsafeMutablePointer<Float>,
                                      firstRow: Int, count: Int, level: CPULevel? = nil) {
        (level.map(loops) ?? selected).winogradGradientTiles(g, outBackprop: dy, into: w, firstRow: firstRow, count: count)
    }

    /// Output row `row` of a max pooling (``VectorLoops/maxPoolRow(_:input:output:row:)``).
    static func maxPoolRow(_ g: PoolGeometry, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, row: Int,
                           level: CPULevel? = nil) {
        (level.map(loops) ?? selected).maxPoolRow(g, input: input, output: output, row: row)
    }

    /// The max-pooling gradient of output row `row` of windows that tile the input
    /// (``VectorLoops/maxPoolGradTilingRow(_:input:gradient:output:row:reluGrad:)``).
    static func maxPoolGradTilingRow(_ g: PoolGeometry, input: UnsafePointer<Float>, gradient: UnsafePointer<Float>,
                                     output: UnsafeMutablePointer<Float>, row: Int, reluGrad: Bool, level: CPULevel? = nil) {
        (level.map(loops) ?? selected).maxPoolGradTilingRow(g, input: input, gradient: gradient, output: output, row: row, reluGrad: reluGrad)
    }

    /// `c[i·ldc + j] = Σ_p a[i·rowStride + p·depthStride] · b[p·ldb + j]` for `m` rows of
    /// `a`, streaming `b`'s `k` rows once (``VectorLoops/streamRows(m:n:k:a:rowStride:depthStride:b:ldb:c:ldc:)``).
    static func streamRows(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, rowStride: Int, depthStride: Int, b: UnsafePointer<Float>,
                           ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int, level: CPULevel? = nil) {
        (level.map(loops) ?? selected).streamRows(m: m, n: n, k: k, a: a, rowStride: rowStride, depthStride: depthStride, b: b,
                                                  ldb: ldb, c: c, ldc: ldc)
    }

    /// `dst[i] = x·sigmoid(β·x)` for `x = src[i]` (`beta` nil: `x·sigmoid(x)`); `dst` may be `src`.
    static func swish(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int, beta: Float?, level: CPULevel? = nil) {
        (level.map(loops) ?? selected).swish(src, dst, count: count, beta: beta)
    }

    /// One tile of an LSTM cell's gates and state (``LSTMCellTile``).
    static func lstmCell(_ tile: LSTMCellTile, level: CPULevel? = nil) {
        (level.map(loops) ?? selected).lstmCell(tile)
    }

    /// One tile of a GRU cell's gates and state (``GRUCellTile``).
    static func gruCell(_ tile: GRUCellTile, level: CPULevel? = nil) {
        (level.map(loops) ?? selected).gruCell(tile)
    }
}

/// The vector instruction set this process's elementwise loops use: `avx512`, `avx2` or
/// `baseline` (the best this CPU runs, capped by the `SOMA_CPU` environment variable).
public var vectorInstructionSet: String { CPULevel.selected.description }
