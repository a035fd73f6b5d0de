// One source for three modules: Sources/SomaSIMDAVX2/ and Sources/SomaSIMDAVX512/ link to
// this file, and Package.swift compiles it with the baseline target, `-target-cpu haswell`
// and `-target-cpu skylake-avx512`.
import SomaSIMD

/// ``VectorLoops`` compiled for this module's instruction set.
///
/// Call the AVX2 and AVX-512 modules' loops only where `CPULevel.detected` includes them:
/// elsewhere they stop the process with an illegal instruction. They are never inlined, so
/// callers keep calling this module's code, and nothing else this module defines is shared
/// (`Tools/check-cpu-dispatch.sh` checks the object files): no code compiled for a newer CPU
/// can be merged into a baseline caller.
public enum CompiledLoops: CompiledLoopSet {
    /// `dst[i] = f(src[i])` for `count` elements; `dst` may be `src`.
    @inline(never)
    public static func map(_ f: UnaryFunction, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        VectorLoops.visit(f, MapLoop(src: src, dst: dst, count: count))
    }

    /// `dst[i] = a[i·sa] ⊕ b[i·sb]` for strides 0 (a broadcast scalar) or 1; `dst` may
    /// alias either operand.
    @inline(never)
    public static func zip(_ f: BinaryFunction, _ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int,
                           _ dst: UnsafeMutablePointer<Float>, count: Int) {
        VectorLoops.visit(f, ZipLoop(a: a, sa: sa, b: b, sb: sb, dst: dst, count: count))
    }

    /// `po[r, j] = f(po[r, j] + bias[j])` over `rows` rows of `n` (no `f`: the addition alone).
    @inline(never)
    public static func biasActivation(_ f: UnaryFunction?, _ po: UnsafeMutablePointer<Float>, rows: Int, n: Int,
                                      _ bias: UnsafePointer<Float>) {
        VectorLoops.visit(f, BiasActivationLoop(po: po, rows: rows, n: n, bias: bias))
    }

    /// Output rows `rows` of one image's depthwise convolution with multiplier 1 (`output`:
    /// the first of them), then `f(row + bias)` (no `bias`: `f(row)`; no `f`: the addition
    /// alone). A block of rows per call: the row loop's set-up — every path's invariants,
    /// which the compiler computes on entry — once for the block (α 0.35's 24²×48 a row at a
    /// time spent a tenth of its samples there: 0.0078 → 0.0069 ms). A three-wide block of
    /// one row (a large image's) takes a loop of its own: inside the loop over rows the
    /// interior loop reloads three offsets from the stack per group (56²×144 0.0927 → 0.0965
    /// ms, 14²×384 0.0174 → 0.0178).
    @inline(never)
    public static func depthwiseForwardRows(_ g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>,
                                            output: UnsafeMutablePointer<Float>, rows: Range<Int>, bias: UnsafePointer<Float>?,
                                            _ f: UnaryFunction?) {
        if VectorLoops.takesFewColumnsRows(g) {
            VectorLoops.visit(f, DepthwiseFewColumnsLoop(g: g, input: input, filter: filter, output: output, rows: rows, bias: bias))
        } else if VectorLoops.takesThreeWideRow(g) && rows.count == 1 {
            VectorLoops.visit(f, DepthwiseThreeWideRowLoop(g: g, input: input, filter: filter, output: output, row: rows.lowerBound, bias: bias))
        } else if VectorLoops.takesThreeWideRow(g) {
            // Strided rows too wide for the level-1 cache: each band of channels down the
            // rows first, then what remains row by row (a loop of its own: the optimiser
            // inlines one such loop into a caller, not two).
            if VectorLoops.takesChannelBands(g) {
                VectorLoops.visit(f, DepthwiseChannelBandsLoop(g: g, input: input, filter: filter, output: output, rows: rows, bias: bias))
                VectorLoops.visit(f, DepthwiseThreeWideRestLoop(g: g, input: input, filter: filter, output: output, rows: rows, bias: bias))
            } else {
                VectorLoops.visit(f, DepthwiseThreeWideLoop(g: g, input: input, filter: filter, output: output, rows: rows, bias: bias))
            }
        } else if VectorLoops.takesAnyWindowRow(g) {
            VectorLoops.visit(f, DepthwiseAnyWindowLoop(g: g, input: input, filter: filter, output: output, rows: rows, bias: bias))
        } else {
            VectorLoops.visit(f, DepthwiseThenEpilogueLoop(g: g, input: input, filter: filter, output: output, rows: rows, bias: bias))
        }
    }

    /// Softmax or log-softmax of rows `rows` of a `[*, n]` matrix; softmax as its three passes,
    /// the exponential this module's map loop over the whole block.
    @inline(never)
    public static func softmaxRows(_ px: UnsafePointer<Float>, _ po: UnsafeMutablePointer<Float>, n: Int, rows: Range<Int>, log: Bool) {
        guard !log else { return logSoftmaxRows(px, po, n: n, rows: rows) }
        softmaxShift(px, po, n: n, rows: rows)
        let block = po + rows.lowerBound * n
        MapLoop(src: block, dst: block, count: rows.count * n).visit(VectorFunctions.Exp.self)
        softmaxNormalize(po, n: n, rows: rows)
    }

    // Softmax's passes and log-softmax, each its own function here: inlined together into
    // `softmaxRows`, a row's maximum was left a call to SomaSIMD's baseline copy.
    @inline(never)
    static func logSoftmaxRows(_ px: UnsafePointer<Float>, _ po: UnsafeMutablePointer<Float>, n: Int, rows: Range<Int>) {
        VectorLoops.softmaxRows(px, po, n: n, rows: rows, log: true)
    }

    @inline(never)
    static func softmaxShift(_ px: UnsafePointer<Float>, _ po: UnsafeMutablePointer<Float>, n: Int, rows: Range<Int>) {
        VectorLoops.softmaxShift(px, po, n: n, rows: rows)
    }

    @inline(never)
    static func softmaxNormalize(_ po: UnsafeMutablePointer<Float>, n: Int, rows: Range<Int>) {
        VectorLoops.softmaxNormalize(po, n: n, rows: rows)
    }

    /// Rows `rows` of a `[*, n]` matrix added into `n` float64 sums, row by row.
    @inline(never)
    public static func addRows(_ px: UnsafePointer<Float>, n: Int, rows: Range<Int>, into sum: UnsafeMutablePointer<Double>) {
        VectorLoops.addRows(px, n: n, rows: rows, into: sum)
    }

    /// One output row of a convolution into a few output channels (filter `[OC, KH, KW, C]`).
    @inline(never)
    public static func narrowConvolutionRow(_ g: NarrowConvolutionGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>,
                                            output: UnsafeMutablePointer<Float>, row: Int) {
        VectorLoops.narrowConvolutionRow(g, input: input, filter: filter, output: output, row: row)
    }

    /// One output row of a max pooling.
    @inline(never)
    public static func maxPoolRow(_ g: PoolGeometry, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, row: Int) {
        VectorLoops.maxPoolRow(g, input: input, output: output, row: row)
    }

    /// The max-pooling gradient of one output row of windows that tile the input (with
    /// `reluGrad`, then `ReluGrad` against the input).
    @inline(never)
    public static func maxPoolGradTilingRow(_ g: PoolGeometry, input: UnsafePointer<Float>, gradient: UnsafePointer<Float>,
                                            output: UnsafeMutablePointer<Float>, row: Int, reluGrad: Bool) {
        VectorLoops.maxPoolGradTilingRow(g, input: input, gradient: gradient, output: output, row: row, reluGrad: reluGrad)
    }

    /// `c[i, j] = Σ_p a[i·rowStride + p·depthStride] · b[p·ldb + j]` for `m` rows, streaming `b` once.
    @inline(never)
    public static func streamRows(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, rowStride: Int, depthStride: Int,
                                  b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
        VectorLoops.streamRows(m: m, n: n, k: k, a: a, rowStride: rowStride, depthStride: depthStride, b: b, ldb: ldb, c: c, ldc: ldc)
    }

    /// The Winograd F(2×2, 3×3) or F(2×2, 5×5) input transforms of `count` tiles from tile row
    /// `firstRow` into `v` (`[16, count, C]`, or `[36, count, C]` for a 5×5 window).
    @inline(never)
    public static func winogradInputTiles(_ g: WinogradGeometry, image: UnsafePointer<Float>, into v: UnsafeMutablePointer<Float>,
                                          firstRow: Int, count: Int) {
        VectorLoops.winogradInputTiles(g, image: image, into: v, firstRow: firstRow, count: count)
    }

    /// The Winograd F(2×2, 3×3) or F(2×2, 5×5) output transforms of `count` tiles from tile
    /// row `firstRow`, from their products `m` (`[16, count, OC]`, or `[36, count, OC]`) into
    /// the image's output.
    @inline(never)
    public static func winogradOutputTiles(_ g: WinogradGeometry, products m: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>,
                                           firstRow: Int, count: Int) {
        VectorLoops.winogradOutputTiles(g, products: m, into: output, firstRow: firstRow, count: count)
    }

    /// The output-gradient transforms of a Winograd filter gradient's `count` tiles from tile
    /// row `firstRow` into `w` (`[16, count, OC]`, or `[36, count, OC]` for a 5×5 window).
    @inline(never)
    public static func winogradGradientTiles(_ g: WinogradGeometry, outBackprop dy: UnsafePointer<Float>, into w: UnsafeMutablePointer<Float>,
                                             firstRow: Int, count: Int) {
        VectorLoops.winogradGradientTiles(g, outBackprop: dy, into: w, firstRow: firstRow, count: count)
    }

    /// `dst[i] = x·sigmoid(β·x)` for `x = src[i]` (`beta` nil: `x·sigmoid(x)`).
    @inline(never)
    public static func swish(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int, beta: Float?) {
        VectorLoops.swish(src, dst, count: count, beta: beta)
    }

    /// One tile of an LSTM cell (``LSTMCellTile``): the gates' pre-activations, the three
    /// sigmoids in one pass and the cell gate's tanh in another, the new state, its tanh and
    /// the output. The activations run as this module's map loops, one call per tile (a
    /// loop calling sigmoid and tanh inline per vector grows past the size the inliner
    /// honours `@inline(__always)` in, and would call SomaSIMD's baseline copies).
    @inline(never)
    public static func lstmCell(_ tile: LSTMCellTile) {
        let block = tile.rows * tile.count
        VectorLoops.lstmPreActivations(tile)
        MapLoop(src: tile.block(0), dst: tile.block(0), count: 3 * block).visit(VectorFunctions.Sigmoid.self)
        MapLoop(src: tile.block(3), dst: tile.block(3), count: block).visit(VectorFunctions.Tanh.self)
        VectorLoops.lstmState(tile)
        MapLoop(src: tile.block(0), dst: tile.block(0), count: block).visit(VectorFunctions.Tanh.self)
        VectorLoops.lstmOutput(tile)
    }

    /// One tile of a GRU cell (``GRUCellTile``): the gates' pre-activations, the two sigmoids
    /// in one pass, the candidate, its tanh and the output (as ``lstmCell(_:)``, the
    /// activations as this module's map loops).
    @inline(never)
    public static func gruCell(_ tile: GRUCellTile) {
        let block = tile.rows * tile.count
        VectorLoops.gruPreActivations(tile)
        MapLoop(src: tile.block(0), dst: tile.block(0), count: 2 * block).visit(VectorFunctions.Sigmoid.self)
        VectorLoops.gruCandidate(tile)
        MapLoop(src: tile.block(2), dst: tile.block(2), count: block).visit(VectorFunctions.Tanh.self)
        VectorLoops.gruOutput(tile)
    }
}

/// One loop per function: each specialisation is this module's own symbol.
struct MapLoop: UnaryVisitor {
    let src: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>, count: Int
    @inline(never) func visit<F: VectorUnary>(_: F.Type) { VectorLoops.map(F.self, src, dst, count: count) }
}

struct ZipLoop: BinaryVisitor {
    let a: UnsafePointer<Float>, sa: Int, b: UnsafePointer<Float>, sb: Int, dst: UnsafeMutablePointer<Float>, count: Int
    @inline(never) func visit<F: VectorBinary>(_: F.Type) { VectorLoops.zip(F.self, a, sa, b, sb, dst, count: count) }
}

struct BiasActivationLoop: UnaryVisitor {
    let po: UnsafeMutablePointer<Float>, rows: Int, n: Int, bias: UnsafePointer<Float>
    @inline(never) func visit<F: VectorUnary>(_: F.Type) { VectorLoops.biasActivation(F.self, po, rows: rows, n: n, bias) }
}

struct DepthwiseAnyWindowLoop: UnaryVisitor {
    let g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
    let rows: Range<Int>, bias: UnsafePointer<Float>?
    @inline(never) func visit<F: VectorUnary>(_: F.Type) {
        var out = output
        for oy in rows {
            VectorLoops.depthwiseForwardRowAnyWindow(F.self, g, input: input, filter: filter, output: out, row: oy, bias: bias)
            out += g.ow &* g.c
        }
    }
}

struct DepthwiseThreeWideLoop: UnaryVisitor {
    let g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
    let rows: Range<Int>, bias: UnsafePointer<Float>?
    @inline(never) func visit<F: VectorUnary>(_: F.Type) {
        var out = output
        for oy in rows {
            VectorLoops.depthwiseForwardRowThreeWide(F.self, g, input: input, filter: filter, output: out, row: oy, bias: bias)
            out += g.ow &* g.c
        }
    }
}

/// The rows of ``DepthwiseThreeWideLoop`` after ``DepthwiseChannelBandsLoop`` has run their
/// interiors: a loop of its own, so that the other's code stays as it was (passing the flag
/// to one loop cost MobileNetV2's 56²×144 at stride 1 4 %).
struct DepthwiseThreeWideRestLoop: UnaryVisitor {
    let g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
    let rows: Range<Int>, bias: UnsafePointer<Float>?
    @inline(never) func visit<F: VectorUnary>(_: F.Type) {
        var out = output
        for oy in rows {
            VectorLoops.depthwiseForwardRowThreeWide(F.self, g, input: input, filter: filter, output: out, row: oy, bias: bias,
                                                     runDone: true)
            out += g.ow &* g.c
        }
    }
}

struct DepthwiseChannelBandsLoop: UnaryVisitor {
    let g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
    let rows: Range<Int>, bias: UnsafePointer<Float>?
    @inline(never) func visit<F: VectorUnary>(_: F.Type) {
        VectorLoops.depthwise3ChannelBands(F.self, g, input: input, filter: filter, output: output, rows: rows, bias: bias)
    }
}

struct DepthwiseFewColumnsLoop: UnaryVisitor {
    let g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
    let rows: Range<Int>, bias: UnsafePointer<Float>?
    @inline(never) func visit<F: VectorUnary>(_: F.Type) {
        VectorLoops.depthwise3FewColumns(F.self, g, input: input, filter: filter, output: output, rows: rows, bias: bias)
    }
}

struct DepthwiseThreeWideRowLoop: UnaryVisitor {
    let g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, row: Int
    let bias: UnsafePointer<Float>?
    @inline(never) func visit<F: VectorUnary>(_: F.Type) {
        VectorLoops.depthwiseForwardRowThreeWide(F.self, g, input: input, filter: filter, output: output, row: row, bias: bias)
    }
}

struct DepthwiseThenEpilogueLoop: UnaryVisitor {
    let g: DepthwiseGeometry, input: UnsafePointer<Float>, filter: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
    let rows: Range<Int>, bias: UnsafePointer<Float>?
    @inline(never) func visit<F: VectorUnary>(_: F.Type) {
        var out = output
        for oy in rows {
            VectorLoops.depthwiseForwardRowThenEpilogue(F.self, g, input: input, filter: filter, output: out, row: oy, bias: bias)
            out += g.ow &* g.c
        }
    }
}
