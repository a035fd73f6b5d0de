import SomaSIMD
import Foundation

/// Kernels for the compiler's fused ops. Each reuses the loops of the ops it replaces, so
/// fused and unfused plans give bitwise-identical results.
enum FusedKernels {
    static let table: [String: CPUKernel] = [
        "_FusedMatMul": { ctx in
            let a = ctx.inputs[0], b = ctx.inputs[1], bias = ctx.inputs[2]
            let ta = ctx.node.bool("transpose_a") ?? false, tb = ctx.node.bool("transpose_b") ?? false
            let k = ta ? a.shape[0] : a.shape[1]
            let out = try ctx.allocateOutput(0, zeroed: k == 0)
            let m = out.shape[0], n = out.shape[1]
            try LinalgKernels.gemm(a, 0, ta, b, 0, tb, out, 0, m: m, n: n, k: k, panels: ctx.node.weightPanels, ctx)
            let activation = (ctx.node.strings("fused_ops") ?? []).dropFirst().first.flatMap { FusedOps.elementwiseActivations[$0] }
            let alpha = ctx.node.float("leakyrelu_alpha") ?? 0.2
            switch out.dtype {
            case .float32: biasActivation(out, bias, activation, alpha: alpha, Float.self)
            case .float64: biasActivation(out, bias, activation, alpha: Double(alpha), Double.self)
            default: throw KernelError("_FusedMatMul is not defined for \(out.dtype)")
            }
            ctx.setOutput(0, out)
        },
        "_SomaFusedElementwise": { ctx in
            let program = try ctx.node.program ?? ElementwiseProgram(attrs: ctx.node.attrs, inputCount: ctx.inputs.count)
            let out = try ctx.allocateOutput(0, zeroed: false), inputs = ctx.inputs
            guard out.dtype.isFloatingPoint else { throw KernelError("_SomaFusedElementwise is not defined for \(out.dtype)") }
            // The layouts `run` reads: the output's, one element, or one per channel (the
            // output's last dimension). A graph file may name this op with other broadcasts.
            let channels = out.shape.last ?? 1
            for (k, input) in inputs.enumerated() {
                let count = input.scalarCount
                guard input.dtype == out.dtype,
                      count == out.scalarCount || count == 1 || count == channels && input.shape.last == channels else {
                    throw KernelError("_SomaFusedElementwise input \(k) (\(input.dtype)\(shapeString(input.shape))) has neither the output's "
                                      + "shape \(out.dtype)\(shapeString(out.shape)), one element, nor one per channel")
                }
            }
            ctx.parallelFor(out.scalarCount, blockSize: MathKernels.splitBlock(cost: program.cost), sharing: (program, inputs, out)) { s, lo, hi in
                let (program, inputs, out) = s
                if out.dtype == .float32 { run(program, inputs, out, lo..<hi, Float.self) }
                else { run(program, inputs, out, lo..<hi, Double.self) }
            }
            ctx.setOutput(0, out)
        },
        "_SomaFusedLSTMCell": { ctx in
            switch ctx.inputs[0].dtype {
            case .float32: try lstmCell(ctx, Float.self)
            case .float64: try lstmCell(ctx, Double.self)
            default: throw KernelError("_SomaFusedLSTMCell is not defined for \(ctx.inputs[0].dtype)")
            }
        },
        "_SomaFusedGRUCell": { ctx in
            switch ctx.inputs[0].dtype {
            case .float32: try gruCell(ctx, Float.self)
            case .float64: try gruCell(ctx, Double.self)
            default: throw KernelError("_SomaFusedGRUCell is not defined for \(ctx.inputs[0].dtype)")
            }
        },
    ]

    /// How `_SomaFusedLSTMCell` and `_SomaFusedGRUCell` cut a step into tiles of rows and
    /// units, each its own GEMM and cell passes on one thread: from the shape alone, so a result's bits never depend on
    /// the thread count.
    ///
    /// Rows go in blocks of ``rows``: a tile's gates stay in the core that computes them, and
    /// the next step reads its rows of `h` there (splitting the whole step's GEMM by columns
    /// made its consumers read halves written by the other core). A batch of one block is
    /// cut into blocks of ``units`` units instead (each a product with four column strips of
    /// the kernel), so two threads share a small batch's step too.
    struct RecurrentTiling {
        static let rows = 16, units = 64
        let batch: Int, units: Int
        let unitBlock: Int, rowBlocks: Int, unitBlocks: Int
        var count: Int { rowBlocks * unitBlocks }

        init(batch: Int, units: Int) {
            (self.batch, self.units) = (batch, units)
            rowBlocks = (batch + Self.rows - 1) / Self.rows
            unitBlock = rowBlocks > 1 ? units : Swift.min(units, Self.units)
            unitBlocks = unitBlock == 0 ? 1 : (units + unitBlock - 1) / unitBlock
        }

        /// A tile's first row, rows, first unit and units.
        typealias Tile = (row: Int, rows: Int, unit: Int, units: Int)

        /// Tile `t`.
        func tile(_ t: Int) -> Tile {
            let r = t / unitBlocks, u = t % unitBlocks
            let row = r * Self.rows, unit = u * unitBlock
            return (row, Swift.min(Self.rows, batch - row), unit, Swift.min(unitBlock, units - unit))
        }

        /// Bytes of per-thread scratch for a tile of `parts` gate parts: the products, and for
        /// float32 the cell's working space as much again.
        func tileBytes<T>(parts: Int, _: T.Type) -> Int {
            (T.self == Float.self ? 2 : 1) * Swift.min(batch, Self.rows) * parts * unitBlock * MemoryLayout<T>.stride
        }

        /// The scratch of a step on up to `threads` threads (a tile's for each thread that
        /// runs one), which the cell's caller reserves from the session's budget.
        func scratchBytes<T>(parts: Int, threads: Int, _: T.Type) -> Int { Swift.min(threads, count) * tileBytes(parts: parts, T.self) }
    }

    /// `_SomaFusedLSTMCell`: per tile (``RecurrentTiling``), the recurrent product of its rows
    /// and units into per-thread scratch (one GEMM, or one per gate for a block of units), then
    /// the cell's passes over the tile (``VectorKernels/lstmCell(_:level:)``; float64 the same
    /// operations element by element). The scratch counts against the session's budget.
    /// Inputs: `input` [B, 4H], `h_prev` [B, K], `recurrent_kernel` [K, 4H], `bias` [4H],
    /// `c_prev` [B, H]; outputs `h` and `c` [B, H].
    static func lstmCell<T: FloatScalar>(_ ctx: KernelContext, _: T.Type) throws {
        let (input, hPrev, kernel, bias, cPrev) = (ctx.inputs[0], ctx.inputs[1], ctx.inputs[2], ctx.inputs[3], ctx.inputs[4])
        guard hPrev.shape.count == 2, cPrev.shape.count == 2, input.shape.count == 2, kernel.shape.count == 2, bias.shape.count == 1,
              case .ints(let order)? = ctx.node.attrs["gate_order"], FusedOps.isGateOrder(order) else {
            throw KernelError("_SomaFusedLSTMCell needs rank-2 input, h_prev, recurrent_kernel and c_prev, a rank-1 bias and a "
                              + "gate_order of the four gates")
        }
        let cell = LSTMShape(batch: hPrev.shape[0], depth: hPrev.shape[1], units: cPrev.shape[1],
                             order: (order[0], order[1], order[2], order[3]))
        guard cPrev.shape[0] == cell.batch, input.shape == [cell.batch, 4 * cell.units], kernel.shape == [cell.depth, 4 * cell.units],
              bias.shape == [4 * cell.units] else {
            throw KernelError("_SomaFusedLSTMCell: input \(shapeString(input.shape)), h_prev \(shapeString(hPrev.shape)), "
                              + "recurrent_kernel \(shapeString(kernel.shape)), bias \(shapeString(bias.shape)) and c_prev "
                              + "\(shapeString(cPrev.shape)) do not make one cell")
        }
        let h = try ctx.allocateOutput(0, zeroed: false), c = try ctx.allocateOutput(1, zeroed: false)
        defer { ctx.setOutput(0, h); ctx.setOutput(1, c) }
        try ctx.withScratchReserved(cell.scratchBytes(threads: ctx.threads, T.self), "an LSTM cell's gates") {
            lstmStep(cell, input: input.pointer(as: T.self), hPrev: hPrev.pointer(as: T.self), kernel: kernel.pointer(as: T.self),
                     bias: bias.pointer(as: T.self), cPrev: cPrev.pointer(as: T.self), h: h.mutablePointer(as: T.self),
                     c: c.mutablePointer(as: T.self), threads: ctx.threads)
        }
    }

    /// The shapes of an LSTM cell's step: `batch` rows, `h_prev` of `depth` columns, `units`
    /// units; `order` names the parts of the gates' `[B, 4H]` that are the input, forget, cell
    /// and output gates.
    struct LSTMShape {
        let batch: Int, depth: Int, units: Int
        let order: (Int, Int, Int, Int)

        /// The per-thread scratch a step on up to `threads` threads needs (``lstmStep``), which
        /// its caller reserves from the session's budget.
        func scratchBytes<T>(threads: Int, _: T.Type) -> Int {
            RecurrentTiling(batch: batch, units: units).scratchBytes(parts: 4, threads: threads, T.self)
        }
    }

    /// One step of an LSTM cell over memory its caller checked (`cell`'s shapes, rows packed:
    /// `input` [B, 4H], `h_prev` [B, K], `kernel` [K, 4H], `bias` [4H], `c_prev`, `h` and `c`
    /// [B, H]) on up to `threads` threads, with ``LSTMShape/scratchBytes(threads:_:)`` of
    /// scratch reserved by the caller. `h` and `c` must not overlap the inputs.
    static func lstmStep<T: FloatScalar>(_ cell: LSTMShape, input px: UnsafePointer<T>, hPrev ph: UnsafePointer<T>,
                                         kernel pk: UnsafePointer<T>, bias pb: UnsafePointer<T>, cPrev pcp: UnsafePointer<T>,
                                         h pho: UnsafeMutablePointer<T>, c pco: UnsafeMutablePointer<T>, threads: Int) {
        guard cell.batch > 0, cell.units > 0 else { return }
        forEachTile(batch: cell.batch, units: cell.units, parts: 4, depth: cell.depth, ph, pk, threads: threads,
                    sharing: (cell, px, pb, pcp, pho, pco)) { s, tile, products in
            lstmTile(s.0, tile, products, input: s.1, bias: s.2, cPrev: s.3, h: s.4, c: s.5)
        }
    }

    /// One step's operands in a loop's run of LSTM steps (``lstmSteps(_:_:kernel:bias:threads:)``).
    struct LSTMStepOperands<T> {
        let input: UnsafePointer<T>, hPrev: UnsafePointer<T>, cPrev: UnsafePointer<T>
        let h: UnsafeMutablePointer<T>, c: UnsafeMutablePointer<T>
    }

    /// Whether a loop's steps of `batch` rows of `units` units on `threads` threads run along
    /// the sequence (``lstmSteps(_:_:kernel:bias:threads:)``, ``gruSteps(_:units:order:_:kernel:bias:inputBias:threads:)``):
    /// where every tile holds all units of its rows (``RecurrentTiling``: more than one block
    /// of rows), a row's step reads only that row's `h` and `c`.
    static func runsAlongSequence(batch: Int, units: Int, threads: Int) -> Bool {
        let tiling = RecurrentTiling(batch: batch, units: units)
        return threads > 1 && tiling.unitBlocks == 1 && tiling.rowBlocks > 1
    }

    /// A loop's LSTM steps `steps`, in order, each as ``lstmStep(_:input:hPrev:kernel:bias:cPrev:h:c:threads:)``
    /// runs it — the same tiles, so the same bits — but each block of rows runs every step on
    /// one thread: the blocks meet once, after the last step, where step by step they met
    /// after each (a join per step: with two threads on two busy cores, at each join one of
    /// them has often been preempted). For shapes that ``runsAlongSequence(batch:units:threads:)``;
    /// scratch as ``lstmStep(_:input:hPrev:kernel:bias:cPrev:h:c:threads:)``'s.
    static func lstmSteps<T: FloatScalar>(_ cell: LSTMShape, _ steps: UnsafeBufferPointer<LSTMStepOperands<T>>,
                                          kernel pk: UnsafePointer<T>, bias pb: UnsafePointer<T>, threads: Int) {
        let tiling = RecurrentTiling(batch: cell.batch, units: cell.units)
        ParallelFor.run(count: tiling.rowBlocks, blockSize: 1, threads: threads, sharing: (cell, tiling, steps, pk, pb)) { s, lo, hi in
            let (cell, tiling, steps, pk, pb) = s
            ThreadScratch.withScratch(bytes: tiling.tileBytes(parts: 4, T.self)) { raw in
                let products = raw.assumingMemoryBound(to: T.self)
                for block in lo..<hi {
                    let tile = tiling.tile(block)
                    for step in steps {
                        tileProducts(tile, parts: 4, step.hPrev, depth: cell.depth, pk, units: cell.units, into: products)
                        lstmTile(cell, tile, products, input: step.input, bias: pb, cPrev: step.cPrev, h: step.h, c: step.c)
                    }
                }
            }
        }
    }

    /// Tile `tile` of an LSTM step whose recurrent product is in `products`
    /// (``forEachTile(batch:units:parts:depth:_:_:threads:sharing:_:)``): the cell's passes.
    private static func lstmTile<T: FloatScalar>(_ cell: LSTMShape, _ tile: RecurrentTiling.Tile, _ products: UnsafeMutablePointer<T>,
                                                 input px: UnsafePointer<T>, bias pb: UnsafePointer<T>, cPrev pcp: UnsafePointer<T>,
                                                 h pho: UnsafeMutablePointer<T>, c pco: UnsafeMutablePointer<T>) {
        let (units, width) = (cell.units, 4 * cell.units)
        let (gi, gf, gg, go) = cell.order
        let n = tile.units, state = tile.row * units + tile.unit
        if T.self == Float.self {
            return VectorKernels.lstmCell(LSTMCellTile(
                rows: tile.rows, count: n, order: (gi, gf, gg, go), products: floatRows(products, stride: 4 * n), productPart: n,
                inputs: floatRows(px + tile.row * width + tile.unit, stride: width), inputPart: units,
                bias: float(pb + tile.unit), biasPart: units, cPrev: floatRows(pcp + state, stride: units),
                c: floatRows(pco + state, stride: units), h: floatRows(pho + state, stride: units),
                scratch: float(products + tile.rows * 4 * n)))
        }
        for r in 0..<tile.rows {
            let row = tile.row + r, state = row * units + tile.unit
            // Gate part q of this row: its products, its input term and its bias.
            func part(_ q: Int) -> (UnsafePointer<T>, UnsafePointer<T>, UnsafePointer<T>) {
                (UnsafePointer(products + r * 4 * n + q * n), px + row * width + q * units + tile.unit, pb + q * units + tile.unit)
            }
            let (i, f, g, o) = (part(gi), part(gf), part(gg), part(go))
            for j in 0..<n {
                let si = RNNKernels.sigmoid(T.add(T.add(i.0[j], i.1[j]), i.2[j]))
                let sf = RNNKernels.sigmoid(T.add(T.add(f.0[j], f.1[j]), f.2[j]))
                let tg = T.tanh(T.add(T.add(g.0[j], g.1[j]), g.2[j]))
                let so = RNNKernels.sigmoid(T.add(T.add(o.0[j], o.1[j]), o.2[j]))
                let cell = T.add(T.mul(sf, pcp[state + j]), T.mul(si, tg))
                pco[state + j] = cell
                pho[state + j] = T.mul(so, T.tanh(cell))
            }
        }
    }

    /// `_SomaFusedGRUCell`, as ``lstmCell(_:_:)``: per tile, the recurrent product into
    /// per-thread scratch, then the cell's passes (``VectorKernels/gruCell(_:level:)``; float64
    /// the same operations element by element). Inputs: `input` [B, 3H], `h_prev` [B, H],
    /// `recurrent_kernel` [H, 3H], `bias` [3H]; output `h` [B, H].
    static func gruCell<T: FloatScalar>(_ ctx: KernelContext, _: T.Type) throws {
        let (input, hPrev, kernel, bias) = (ctx.inputs[0], ctx.inputs[1], ctx.inputs[2], ctx.inputs[3])
        guard hPrev.shape.count == 2, input.shape.count == 2, kernel.shape.count == 2, bias.shape.count == 1,
              case .ints(let order)? = ctx.node.attrs["gate_order"], FusedOps.isGateOrder(order, parts: 3) else {
            throw KernelError("_SomaFusedGRUCell needs rank-2 input, h_prev and recurrent_kernel, a rank-1 bias and a gate_order "
                              + "of the three gates")
        }
        let batch = hPrev.shape[0], units = hPrev.shape[1], width = 3 * units
        guard input.shape[0] == batch, input.shape[1] == width, kernel.shape[0] == units, kernel.shape[1] == width,
              bias.shape[0] == width else {
            throw KernelError("_SomaFusedGRUCell: input \(shapeString(input.shape)), h_prev \(shapeString(hPrev.shape)), "
                              + "recurrent_kernel \(shapeString(kernel.shape)) and bias \(shapeString(bias.shape)) do not make one cell")
        }
        let h = try ctx.allocateOutput(0, zeroed: false)
        defer { ctx.setOutput(0, h) }
        let scratch = RecurrentTiling(batch: batch, units: units).scratchBytes(parts: 3, threads: ctx.threads, T.self)
        try ctx.withScratchReserved(scratch, "a GRU cell's gates") {
            gruStep(batch: batch, units: units, order: (order[0], order[1], order[2]), input: input.pointer(as: T.self),
                    hPrev: hPrev.pointer(as: T.self), kernel: kernel.pointer(as: T.self), bias: bias.pointer(as: T.self),
                    h: h.mutablePointer(as: T.self), threads: ctx.threads)
        }
    }

    /// One step of a GRU cell over memory its caller checked (rows packed: `input` [B, 3H],
    /// `h_prev` and `h` [B, H], `kernel` [H, 3H], `bias` [3H]; `order` the parts that are the
    /// update, reset and candidate gates) on up to `threads` threads, with
    /// ``RecurrentTiling/scratchBytes(parts:threads:_:)`` (3 parts) of scratch reserved by the
    /// caller. `h` must not overlap the inputs.
    static func gruStep<T: FloatScalar>(batch: Int, units: Int, order: (Int, Int, Int), input px: UnsafePointer<T>,
                                        hPrev ph: UnsafePointer<T>, kernel pk: UnsafePointer<T>, bias pb: UnsafePointer<T>,
                                        h pho: UnsafeMutablePointer<T>, threads: Int) {
        guard batch > 0, units > 0 else { return }
        forEachTile(batch: batch, units: units, parts: 3, depth: units, ph, pk, threads: threads,
                    sharing: (units, order, px, ph, pb, pho)) { s, tile, products in
            gruTile(units: s.0, order: s.1, tile, products, input: s.2, hPrev: s.3, bias: s.4, h: s.5)
        }
    }

    /// One step's operands in a loop's run of GRU steps (``gruSteps(_:units:order:_:kernel:bias:inputBias:threads:)``).
    struct GRUStepOperands<T> {
        let input: UnsafePointer<T>, hPrev: UnsafePointer<T>, h: UnsafeMutablePointer<T>
    }

    /// A loop's GRU steps `steps` of `batch` rows, in order, as ``lstmSteps(_:_:kernel:bias:threads:)``
    /// runs LSTM steps: each block of rows every step on one thread, each step as
    /// ``gruStep(batch:units:order:input:hPrev:kernel:bias:h:threads:)`` runs it. With an
    /// `inputBias` (Keras' `BiasAdd` before the cell: `(buffer, b)`), each step's input rows
    /// plus `b` go into the same rows of `buffer` (`[B, 3H]`), which the cell then reads.
    static func gruSteps<T: FloatScalar>(_ batch: Int, units: Int, order: (Int, Int, Int), _ steps: UnsafeBufferPointer<GRUStepOperands<T>>,
                                         kernel pk: UnsafePointer<T>, bias pb: UnsafePointer<T>,
                                         inputBias: (UnsafeMutablePointer<T>, UnsafePointer<T>)?, threads: Int) {
        let tiling = RecurrentTiling(batch: batch, units: units)
        ParallelFor.run(count: tiling.rowBlocks, blockSize: 1, threads: threads,
                        sharing: (units, order, tiling, steps, pk, pb, inputBias)) { s, lo, hi in
            let (units, order, tiling, steps, pk, pb, inputBias) = s
            let width = 3 * units
            ThreadScratch.withScratch(bytes: tiling.tileBytes(parts: 3, T.self)) { raw in
                let products = raw.assumingMemoryBound(to: T.self)
                for block in lo..<hi {
                    let tile = tiling.tile(block)
                    for step in steps {
                        var input = step.input
                        if let (sum, b) = inputBias {
                            for r in tile.row..<(tile.row + tile.rows) {
                                for j in 0..<width { sum[r * width + j] = T.add(input[r * width + j], b[j]) }
                            }
                            input = UnsafePointer(sum)
                        }
                        tileProducts(tile, parts: 3, step.hPrev, depth: units, pk, units: units, into: products)
                        gruTile(units: units, order: order, tile, products, input: input, hPrev: step.hPrev, bias: pb, h: step.h)
                    }
                }
            }
        }
    }

    /// Tile `tile` of a GRU step whose recurrent product is in `products`
    /// (``forEachTile(batch:units:parts:depth:_:_:threads:sharing:_:)``): the cell's passes.
    private static func gruTile<T: FloatScalar>(units: Int, order: (Int, Int, Int), _ tile: RecurrentTiling.Tile,
                                                _ products: UnsafeMutablePointer<T>, input px: UnsafePointer<T>, hPrev ph: UnsafePointer<T>,
                                                bias pb: UnsafePointer<T>, h pho: UnsafeMutablePointer<T>) {
        let width = 3 * units, (gz, gr, gh) = order
        let n = tile.units, state = tile.row * units + tile.unit
        if T.self == Float.self {
            return VectorKernels.gruCell(GRUCellTile(
                rows: tile.rows, count: n, order: (gz, gr, gh), products: floatRows(products, stride: 3 * n), productPart: n,
                inputs: floatRows(px + tile.row * width + tile.unit, stride: width), inputPart: units,
                bias: float(pb + tile.unit), biasPart: units, hPrev: floatRows(ph + state, stride: units),
                h: floatRows(pho + state, stride: units), scratch: float(products + tile.rows * 3 * n)))
        }
        for r in 0..<tile.rows {
            let row = tile.row + r, state = row * units + tile.unit
            // Gate part q of this row: its products, its input term and its bias.
            func part(_ q: Int) -> (UnsafePointer<T>, UnsafePointer<T>, UnsafePointer<T>) {
                (UnsafePointer(products + r * 3 * n + q * n), px + row * width + q * units + tile.unit, pb + q * units + tile.unit)
            }
            let (z, rg, c) = (part(gz), part(gr), part(gh))
            for j in 0..<n {
                let sz = RNNKernels.sigmoid(T.add(z.1[j], T.add(z.0[j], z.2[j])))
                let sr = RNNKernels.sigmoid(T.add(rg.1[j], T.add(rg.0[j], rg.2[j])))
                let candidate = T.tanh(T.add(c.1[j], T.mul(sr, T.add(c.0[j], c.2[j]))))
                pho[state + j] = T.add(T.mul(sz, ph[state + j]), T.mul(T.sub(1, sz), candidate))
            }
        }
    }

    /// Runs `body(state, tile, products)` for every tile (``RecurrentTiling``) of a step of a
    /// cell of `parts` gate parts, on up to `threads` threads: `products` is per-thread scratch
    /// holding the tile's recurrent product (``tileProducts(_:parts:_:depth:_:units:into:)``)
    /// followed, for float32, by as much again of working space — `min(threads, tiles)` tiles'
    /// worth, which the caller reserves from the session's budget. `body` captures nothing, as
    /// ``ParallelFor``'s.
    private static func forEachTile<T: FloatScalar, State>(batch: Int, units: Int, parts: Int, depth: Int, _ ph: UnsafePointer<T>,
                                                           _ pk: UnsafePointer<T>, threads: Int, sharing state: State,
                                                           _ body: @escaping (State, RecurrentTiling.Tile, UnsafeMutablePointer<T>) -> Void) {
        let step = TileStep(tiling: RecurrentTiling(batch: batch, units: units), parts: parts, depth: depth, units: units,
                            ph: ph, pk: pk, state: state, body: body)
        ParallelFor.run(count: step.tiling.count, blockSize: 1, threads: threads, sharing: step) { step, lo, hi in
            for t in lo..<hi { step.run(t) }
        }
    }

    /// What ``forEachTile(batch:units:parts:depth:_:_:threads:sharing:_:)`` shares with its
    /// helpers: a struct, so `body` keeps its own abstraction inside ``ParallelFor``'s state.
    private struct TileStep<T: FloatScalar, State> {
        let tiling: RecurrentTiling, parts: Int, depth: Int, units: Int
        let ph: UnsafePointer<T>, pk: UnsafePointer<T>
        let state: State
        let body: (State, RecurrentTiling.Tile, UnsafeMutablePointer<T>) -> Void

        func run(_ t: Int) {
            let tile = tiling.tile(t)
            ThreadScratch.withScratch(bytes: tiling.tileBytes(parts: parts, T.self)) { raw in
                let products = raw.assumingMemoryBound(to: T.self)
                tileProducts(tile, parts: parts, ph, depth: depth, pk, units: units, into: products)
                body(state, tile, products)
            }
        }
    }

    /// Tile `tile`'s recurrent product `h_prev[rows] · U[:, the tile's units of each part]` into
    /// `products` `[rows, parts·n]` (part q's n columns at q·n): one GEMM for whole rows, one
    /// per part for a block of units.
    private static func tileProducts<T: FloatScalar>(_ tile: RecurrentTiling.Tile, parts: Int, _ ph: UnsafePointer<T>, depth: Int,
                                                     _ pk: UnsafePointer<T>, units: Int, into products: UnsafeMutablePointer<T>) {
        let n = tile.units, width = parts * units, a = ph + tile.row * depth
        if depth == 0 {
            products.update(repeating: .zero, count: tile.rows * parts * n)
        } else if n == units {
            ConvKernels.gemm(false, false, tile.rows, width, depth, a, depth, pk, width, beta: .zero, products, width)
        } else {
            for q in 0..<parts {
                ConvKernels.gemm(false, false, tile.rows, n, depth, a, depth, pk + q * units + tile.unit, width, beta: .zero,
                                 products + q * n, parts * n)
            }
        }
    }

    /// Rows `stride` apart from `p`, as the float32 loops read them.
    @inline(__always) private static func floatRows<T>(_ p: UnsafePointer<T>, stride: Int) -> FloatRows {
        FloatRows(float(UnsafeMutablePointer(mutating: p)), rowStride: stride)
    }

    @inline(__always) private static func floatRows<T>(_ p: UnsafeMutablePointer<T>, stride: Int) -> FloatRows {
        FloatRows(float(p), rowStride: stride)
    }

    @inline(__always) private static func float<T>(_ p: UnsafePointer<T>) -> UnsafePointer<Float> {
        UnsafeRawPointer(p).assumingMemoryBound(to: Float.self)
    }

    @inline(__always) private static func float<T>(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self)
    }

    /// `out[i, :] = act(out[i, :] + bias)`, row by row while the row is in cache.
    static func biasActivation<T: FloatScalar>(_ out: Tensor, _ bias: Tensor, _ activation: NNKernels.Activation?,
                                               alpha: T, _: T.Type) {
        biasActivation(out.mutablePointer(as: T.self), rows: out.shape[0], n: out.shape[1], bias.pointer(as: T.self), activation,
                       alpha: alpha)
    }

    /// `rows` rows of `n` at `po`: `po[r, j] = act(po[r, j] + bias[j])`.
    static func biasActivation<T: FloatScalar>(_ po: UnsafeMutablePointer<T>, rows: Int, n: Int, _ pb: UnsafePointer<T>,
                                               _ activation: NNKernels.Activation?, alpha: T) {
        // Float32 with no activation or one with a vector form: one pass in the CPU's build.
        let function = activation.flatMap(NNKernels.floatVectorActivation)
        if T.self == Float.self, activation == nil || function != nil {
            VectorKernels.biasActivation(function, UnsafeMutableRawPointer(po).assumingMemoryBound(to: Float.self), rows: rows, n: n,
                                         UnsafeRawPointer(pb).assumingMemoryBound(to: Float.self))
            return
        }
        for row in 0..<rows {
            let r = po + row * n
            switch activation {
            // The common activations in one pass (value changes, so the store vectorises).
            case .relu?: for j in 0..<n { r[j] = NNKernels.relu(T.add(r[j], pb[j])) }
            case .relu6?: for j in 0..<n { r[j] = NNKernels.relu6(T.add(r[j], pb[j])) }
            default:
                MathKernels.binaryLoop(.add, UnsafePointer(r), 1, pb, 1, r, count: n)
                if let activation { NNKernels.activate(activation, UnsafePointer(r), r, count: n, alpha: alpha) }
            }
        }
    }

    /// Elements per block: each instruction's block of results stays in L1.
    static let blockSize = 512

    /// Evaluates the program block by block: operands are input slices (or scalars) and
    /// earlier results in per-instruction scratch blocks; the last writes the output. An
    /// input with one value per channel (the output's last dimension; a batch norm's scale
    /// before DenseNet's ReLU) is copied out block by block, so every operation reads its
    /// operands element for element as the unfused broadcasting op does.
    static func run<T: FloatScalar>(_ program: ElementwiseProgram, _ inputs: UnsafeBufferPointer<Tensor>, _ out: Tensor, _ range: Range<Int>,
                                    _: T.Type) {
        let count = range.upperBound, n = inputs.count, steps = program.instructions.count
        let total = out.scalarCount, channels = out.shape.last ?? 1
        // Each input's stride: 1 (the output's layout), 0 (a broadcast scalar) or -1 (one per channel).
        func stride(_ input: Tensor) -> Int {
            input.scalarCount == total || total == 1 ? 1 : input.scalarCount == 1 ? 0 : -1
        }
        let perChannel = inputs.reduce(0) { $0 + (stride($1) < 0 ? 1 : 0) }
        let resultBlocks = Swift.max(program.scratchBlocks, 1)
        let blockBytes = (resultBlocks + perChannel) * blockSize * MemoryLayout<T>.stride
        // Scratch: the result blocks and the per-channel inputs' blocks, then each input's
        // base pointer and stride.
        ThreadScratch.withScratch(bytes: blockBytes + n * (MemoryLayout<UnsafePointer<T>>.stride + MemoryLayout<Int>.stride)) { raw in
            let scratch = raw.assumingMemoryBound(to: T.self)
            let sources = (raw + blockBytes).bindMemory(to: UnsafePointer<T>.self, capacity: n)
            let strides = (raw + blockBytes + n * MemoryLayout<UnsafePointer<T>>.stride).bindMemory(to: Int.self, capacity: n)
            var channelBlock = resultBlocks
            for k in 0..<n {
                strides[k] = stride(inputs[k])
                // A per-channel input reads its copy in the block after the last one taken.
                sources[k] = strides[k] < 0 ? UnsafePointer(scratch + channelBlock * blockSize) : inputs[k].pointer(as: T.self)
                if strides[k] < 0 { channelBlock += 1 }
            }
            var start = range.lowerBound
            while start < count {
                let length = Swift.min(blockSize, count - start)
                for k in 0..<n where strides[k] < 0 {
                    let values = inputs[k].pointer(as: T.self), copy = UnsafeMutablePointer(mutating: sources[k])
                    var j = 0, channel = start % channels
                    while j < length {
                        let run = Swift.min(channels - channel, length - j)
                        (copy + j).update(from: values + channel, count: run)
                        j += run
                        channel = 0
                    }
                }
                // Operand `ref`: a pointer to its first element in this block, and its stride.
                func operand(_ ref: Int) -> (UnsafePointer<T>, Int) {
                    if ref < n { return strides[ref] < 0 ? (sources[ref], 1) : (sources[ref] + strides[ref] * start, strides[ref]) }
                    return (UnsafePointer(scratch + program.scratchBlock[ref - n] * blockSize), 1)
                }
                for (k, instruction) in program.instructions.enumerated() {
                    let dst = k == steps - 1 ? out.mutablePointer(as: T.self) + start : scratch + program.scratchBlock[k] * blockSize
                    switch instruction {
                    case .unary(let op, let a):
                        MathKernels.floatUnary(op, operand(a).0, dst, count: length)
                    case .activation(let op, let a, let alpha):
                        NNKernels.activate(op, operand(a).0, dst, count: length, alpha: T(Double(alpha)))
                    case .binary(let op, let a, let b):
                        let (pa, sa) = operand(a), (pb, sb) = operand(b)
                        MathKernels.binaryLoop(op, pa, sa, pb, sb, dst, count: length)
                    case .swish(let x, let beta):
                        let (px, sx) = operand(x), scale = beta.map(operand)
                        if T.self == Float.self, sx == 1, scale?.1 ?? 0 == 0, length >= VectorMath.width {
                            // One pass: the operations of the three loops below, on whole vectors and
                            // the same scalar tail (the sigmoid map's), so the same bits.
                            VectorKernels.swish(UnsafeRawPointer(px).assumingMemoryBound(to: Float.self),
                                                UnsafeMutableRawPointer(dst).assumingMemoryBound(to: Float.self), count: length,
                                                beta: scale.map { Float(Double(UnsafeRawPointer($0.0).assumingMemoryBound(to: T.self)[0])) })
                        } else {
                            // The three loops it replaces, the first two in the spare block.
                            let spare = scratch + program.spareBlock * blockSize
                            if let (pb, sb) = scale { MathKernels.binaryLoop(.mul, pb, sb, px, sx, spare, count: length) }
                            NNKernels.activate(.sigmoid, scale == nil ? px : UnsafePointer(spare), spare, count: length, alpha: T(Double(0.2)))
                            MathKernels.binaryLoop(.mul, px, sx, UnsafePointer(spare), 1, dst, count: length)
                        }
                    case .skip:
                        continue
                    }
                }
                start += length
            }
        }
    }
}
