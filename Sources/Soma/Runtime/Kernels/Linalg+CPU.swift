import CXSMM
import CBLAS
import Foundation

/// Kernels for matrix products: OpenBLAS `sgemm`/`dgemm` for floats, a plain loop for integers.
enum LinalgKernels {
    static let table: [String: CPUKernel] = [
        "MatMul": { ctx in
            let a = ctx.inputs[0], b = ctx.inputs[1]
            let ta = ctx.node.bool("transpose_a") ?? false, tb = ctx.node.bool("transpose_b") ?? false
            let k = ta ? a.shape[0] : a.shape[1]
            let out = try ctx.allocateOutput(0, zeroed: k == 0)  // gemm writes every element when k > 0
            let m = out.shape[0], n = out.shape[1]
            try gemm(a, 0, ta, b, 0, tb, out, 0, m: m, n: n, k: k, panels: ctx.node.weightPanels, ctx)
            ctx.setOutput(0, out)
        },
        "BatchMatMulV2": { ctx in
            let x = ctx.inputs[0], y = ctx.inputs[1]
            let ax = ctx.node.bool("adj_x") ?? false, ay = ctx.node.bool("adj_y") ?? false
            let k = ax ? x.shape[x.rank - 2] : x.shape[x.rank - 1]
            let out = try ctx.allocateOutput(0, zeroed: k == 0)
            try batchMatMul(x, ax, y, ay, out, k: k, ctx)
            ctx.setOutput(0, out)
        },
        "_SomaFusedBatchMatMul": { ctx in
            let x = ctx.inputs[0], y = ctx.inputs[1]
            let ax = ctx.node.bool("adj_x") ?? false, ay = ctx.node.bool("adj_y") ?? false
            let k = ax ? x.shape[x.rank - 2] : x.shape[x.rank - 1]
            let out = try ctx.allocateOutput(0, zeroed: k == 0)
            // Plans work the layout out once; the reference interpreter, per run.
            guard let layout = ctx.node.transposedProduct ?? TransposedProduct(outputShape: out.shape, perm: ctx.node.ints("perm") ?? []) else {
                throw KernelError("perm \(ctx.node.ints("perm") ?? []) does not order the product's \(out.rank) dimensions keeping the last last")
            }
            try batchMatMul(x, ax, y, ay, out, k: k, ctx, layout: layout)
            ctx.setOutput(0, out)
        },
        "_SomaFusedMatMulSum": { ctx in
            let out = try ctx.allocateOutput(0, zeroed: false)
            try matMulSum(ctx, transposeA: ctx.node.bool("transpose_a") ?? false, into: out)
            ctx.setOutput(0, out)
        },
        "Einsum": { ctx in
            let out = try ctx.allocateOutput(0, zeroed: false)
            do {
                // Plans work the layout out once; the reference interpreter, per run.
                let layout = try ctx.node.einsumLayout ?? EinsumLayout(ctx.node.string("equation") ?? "", shapes: ctx.inputs.map(\.shape))
                try einsum(layout, ctx, into: out)
            } catch let error as ShapeError {
                throw KernelError(error.message)
            }
            ctx.setOutput(0, out)
        },
    ]

    /// `out[i] = op(x[i]) × op(y[i])` over the broadcast batch dimensions.
    ///
    /// A `y` shared by every batch (a weight, as Keras' `Dense` on a sequence has it) makes
    /// one GEMM of all of `x`'s rows; fewer than ``batchBlocks`` batches of products large
    /// enough to split (``splits(_:tb:m:n:k:)``) are each split across the threads;
    /// otherwise each batch matrix is one block. The choice depends on the shape alone (it
    /// once depended on the thread count, and a split product can round differently from a
    /// whole one), so results never depend on the thread count. Nothing is allocated.
    /// With `layout` the products are written transposed (``TransposedProduct``), each as
    /// the same kernel calls would write it in place.
    static func batchMatMul(_ x: Tensor, _ ax: Bool, _ y: Tensor, _ ay: Bool, _ out: Tensor, k: Int, _ ctx: KernelContext,
                            layout: TransposedProduct? = nil) throws {
        let shape = layout?.productShape ?? out.shape
        let r = shape.count, m = shape[r - 2], n = shape[r - 1]
        let batches = shape.dropLast(2).reduce(1, *)
        /// The rows' stride of a batch's product in `out`.
        let ldc = layout?.rowStride ?? n
        guard batches > 0, m > 0, n > 0, k > 0 else { return }
        guard x.dtype == .float32 || x.dtype == .float64 || x.dtype == .int32 || x.dtype == .int64 else {
            throw KernelError("BatchMatMulV2 is not defined for \(x.dtype)")
        }
        guard m < Int(Int32.max), n < Int(Int32.max), k < Int(Int32.max), ldc < Int(Int32.max) else {
            throw KernelError("matrix dimensions \(m)x\(k)x\(n) (rows \(ldc) apart) exceed BLAS's 32-bit limit")
        }
        let xMatrix = x.shape.suffix(2).reduce(1, *), yMatrix = y.shape.suffix(2).reduce(1, *)
        if layout == nil && !ax && y.scalarCount == yMatrix && x.scalarCount == batches * xMatrix && batches * m < Int(Int32.max) {
            return try gemm(x, 0, false, y, 0, ay, out, 0, m: batches * m, n: n, k: k, ctx)
        }
        let offsets = BatchOffsets(shape: shape, xShape: x.shape, yShape: y.shape, xMatrix: xMatrix, yMatrix: yMatrix, layout: layout)
        if batches < batchBlocks && splits(x.dtype, tb: ay, m: m, n: n, k: k) {
            for i in 0..<batches {
                let (bx, by) = offsets.operands(i)
                try gemm(x, bx, ax, y, by, ay, out, offsets.start(i), m: m, n: n, k: k, ldc: layout.map { _ in ldc }, ctx)
            }
            return
        }
        // Batches are independent: one block per batch matrix (shapes and dtype checked above).
        // The offsets' arrays by address: counted references in every block's state contend.
        withUnsafePointer(to: offsets) { offsets in
            ctx.parallelFor(batches, blockSize: 1, sharing: (Operands(x, y, out), ax, ay, offsets, m, n, k, layout.map { _ in ldc })) { s, lo, hi in
                let (operands, ax, ay, offsets, m, n, k, ldc) = s
                for i in lo..<hi {
                    let (bx, by) = offsets.pointee.operands(i)
                    try? gemm(operands, bx, ax, by, ay, offsets.pointee.start(i), m: m, n: n, k: k, ldc: ldc)
                }
            }
        }
    }

    /// Where each batch matrix of a ``batchMatMul(_:_:_:_:_:k:_:layout:)`` reads its operands
    /// and writes its product, as element offsets (broadcast dimensions repeat).
    private struct BatchOffsets {
        /// The product's shape, `[…, m, n]`, and the operands'.
        let shape: [Int], xShape: [Int], yShape: [Int]
        let xMatrix: Int, yMatrix: Int
        let layout: TransposedProduct?
        var m: Int { shape[shape.count - 2] }
        var n: Int { shape[shape.count - 1] }

        /// Element offsets of output batch `i`'s operands.
        func operands(_ i: Int) -> (x: Int, y: Int) {
            let r = shape.count
            var rest = i, bx = 0, by = 0, sx = xMatrix, sy = yMatrix
            for d in stride(from: r - 3, through: 0, by: -1) {
                let index = rest % shape[d]
                rest /= shape[d]
                let dx = d - (r - xShape.count), dy = d - (r - yShape.count)
                if dx >= 0 { if xShape[dx] != 1 { bx += index * sx }; sx *= xShape[dx] }
                if dy >= 0 { if yShape[dy] != 1 { by += index * sy }; sy *= yShape[dy] }
            }
            return (bx, by)
        }

        /// Where batch `i`'s product starts in `out`.
        func start(_ i: Int) -> Int { layout?.start(i) ?? i * m * n }
    }

    /// Output rows per block of ``matMulSum(_:transposeA:into:)``: blocks fixed by the shape.
    static let matMulSumRows = 16

    /// `out = Σᵢ op(aᵢ)·bᵢ` over the `N` float32 pairs of `_SomaFusedMatMulSum` (inputs `a₀…`,
    /// then `b₀…`; `op(a) = aᵀ` where `transposeA`), `[M, K]·[K, N]` each: in blocks of
    /// ``matMulSumRows`` output rows, each one LIBXSMM batch-reduce GEMM over the pairs — the
    /// sum stays in registers, no product is stored and read back (an AddN of 32 products
    /// `[192, 512]` wrote and read 24 MiB). Without LIBXSMM, OpenBLAS accumulates the pairs in
    /// order (β = 1). Blocks are fixed by the shape, so results never depend on the thread
    /// count; they differ from the unfused sum in rounding (each product is no longer rounded
    /// on its own).
    static func matMulSum(_ ctx: KernelContext, transposeA: Bool, into out: Tensor) throws {
        let pairs = ctx.inputs.count / 2
        guard pairs > 0, ctx.inputs.count == 2 * pairs, out.dtype == .float32, out.rank == 2,
              ctx.inputs.allSatisfy({ $0.dtype == .float32 && $0.rank == 2 }) else {
            throw KernelError("_SomaFusedMatMulSum takes N pairs of float32 matrices")
        }
        let a0 = ctx.inputs[0], m = out.shape[0], n = out.shape[1], k = transposeA ? a0.shape[0] : a0.shape[1]
        for i in 0..<pairs {
            let a = ctx.inputs[i], b = ctx.inputs[pairs + i]
            guard a.shape == a0.shape, (transposeA ? a.shape[1] : a.shape[0]) == m, b.shape[0] == k, b.shape[1] == n else {
                throw KernelError("_SomaFusedMatMulSum's pair \(i) is \(a.shape)·\(b.shape), not the shapes of pair 0 (\(a0.shape)·[\(k), \(n)])")
            }
        }
        _ = configureBLAS
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            out.rawPointer.initializeMemory(as: UInt8.self, repeating: 0, count: out.byteCount)
            return
        }
        guard m < Int(Int32.max), n < Int(Int32.max), k < Int(Int32.max) else {
            throw KernelError("matrix dimensions \(m)x\(k)x\(n) exceed BLAS's 32-bit limit")
        }
        let rows = matMulSumRows, blocks = (m + rows - 1) / rows, lastRows = m - (blocks - 1) * rows
        let lda = transposeA ? m : k, po = out.rawPointer.assumingMemoryBound(to: Float.self)
        // LIBXSMM is column-major: the block's Cᵀ [n, rows] = Σ bᵢᵀ·op(aᵢ)ᵀ, bᵢ its "A" (n × k),
        // aᵢ its "B" (k × rows, or rows × k read transposed where transposeA).
        let kernels = LIBXSMM.available
            ? (soma_xsmm_reduce_batch_kernel(Int32(n), Int32(rows), Int32(k), Int32(n), Int32(lda), Int32(n), 1, transposeA ? 1 : 0),
               soma_xsmm_reduce_batch_kernel(Int32(n), Int32(lastRows), Int32(k), Int32(n), Int32(lda), Int32(n), 1, transposeA ? 1 : 0))
            : (nil, nil)
        guard let pointerBytes = checkedProduct(2, pairs, MemoryLayout<UnsafePointer<Float>>.stride, 1),
              let reserved = checkedProduct(pointerBytes, Swift.max(1, ctx.threads), 1, 1) else {
            throw KernelError("_SomaFusedMatMulSum's \(pairs) pairs are too many")
        }
        try ctx.withScratchReserved(reserved, "a summed product's operand addresses") {
            ctx.parallelFor(blocks, blockSize: 1, sharing: (ctx.inputs, transposeA, kernels, pointerBytes, pairs, po, m, n, k, lda)) { s, lo, hi in
                let (inputs, transposeA, kernels, pointerBytes, pairs, po, m, n, k, lda) = s, rows = matMulSumRows
                @inline(__always) func operand(_ i: Int) -> UnsafePointer<Float> { UnsafePointer(inputs[i].rawPointer.assumingMemoryBound(to: Float.self)) }
                ThreadScratch.withScratch(bytes: pointerBytes) { raw in
                    let bs = raw.bindMemory(to: UnsafePointer<Float>?.self, capacity: 2 * pairs), as_ = bs + pairs
                    for block in lo..<hi {
                        let first = block * rows, count = Swift.min(rows, m - first), target = po + first * n
                        // Row `first` of op(aᵢ): a column offset of a transposed aᵢ, a row offset otherwise.
                        let offset = transposeA ? first : first * k
                        if let kernel = count == rows ? kernels.0 : kernels.1 {
                            for i in 0..<pairs { bs[i] = operand(pairs + i); as_[i] = operand(i) + offset }
                            soma_xsmm_reduce_batch(kernel, bs, as_, target, UInt64(pairs), LIBXSMM.clearsUpperHalves)
                        } else {
                            for i in 0..<pairs {
                                cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, CblasNoTrans, Int32(count), Int32(n), Int32(k), 1,
                                            operand(i) + offset, Int32(lda), operand(pairs + i), Int32(n), i == 0 ? 0 : 1, target, Int32(n))
                            }
                        }
                    }
                }
            }
        }
    }

    /// The fewest batches ``batchMatMul(_:_:_:_:_:k:_:layout:)`` runs one block each (fewer
    /// are each split across the threads where they split): enough blocks for the threads of
    /// most machines.
    static let batchBlocks = 8

    /// Whether the parallel ``gemm(_:_:_:_:_:_:_:_:m:n:k:ldc:panels:_:)`` splits an
    /// `m × n × k` product (with no packed panels) across threads rather than making one
    /// call of the serial one.
    static func splits(_ dtype: DType, tb: Bool, m: Int, n: Int, k: Int) -> Bool {
        if dtype == .float32, StreamingGEMM.Partition(ta: false, tb: tb, m: m, n: n, k: k, lda: k, ldb: n, ldc: n) != nil { return true }
        return dtype.isFloatingPoint && m * n * k >= 1 << 18 && (m > rowBlock || n >= 2 * columnBlock(n: n))
    }

    /// The layout of `_SomaFusedBatchMatMul`'s output: the batched product `[..., M, N]`
    /// (``productShape``) transposed by `perm`, whose last entry keeps `N` last. Each batch's
    /// `M × N` product is then a strided matrix of the output — rows ``rowStride`` apart,
    /// starting at ``start(_:)`` — which the GEMM kernels write in place.
    struct TransposedProduct: Sendable {
        let productShape: [Int]
        /// The output's element stride along each of the product's dimensions.
        let strides: [Int]
        var rowStride: Int { strides[strides.count - 2] }

        /// `perm` must be a permutation of the product's dimensions ending with the last
        /// (the op's shape function checks it).
        init(productShape: [Int], perm: [Int]) {
            self.productShape = productShape
            let outputShape = perm.map { productShape[$0] }
            var outputStrides = [Int](repeating: 1, count: perm.count)
            for j in stride(from: perm.count - 2, through: 0, by: -1) { outputStrides[j] = outputStrides[j + 1] * outputShape[j + 1] }
            var strides = [Int](repeating: 0, count: perm.count)
            for (j, axis) in perm.enumerated() { strides[axis] = outputStrides[j] }
            self.strides = strides
        }

        /// The layout of an output of shape `outputShape` (the product transposed by `perm`),
        /// or `nil` where `perm` does not order its dimensions keeping the last last.
        init?(outputShape: [Int], perm: [Int]) {
            guard Self.ordersKeepingLast(perm, rank: outputShape.count) else { return nil }
            var product = outputShape
            for (j, axis) in perm.enumerated() { product[axis] = outputShape[j] }
            self.init(productShape: product, perm: perm)
        }

        /// Whether `perm` orders `rank` dimensions and keeps the last one last (the only
        /// transposes the fused product writes).
        static func ordersKeepingLast(_ perm: [Int], rank: Int) -> Bool {
            guard perm.count == rank, perm.last == rank - 1 else { return false }
            for (j, axis) in perm.enumerated() {
                guard axis >= 0, axis < rank, !perm[..<j].contains(axis) else { return false }
            }
            return true
        }

        /// Where batch `i` (row-major over the product's batch dimensions) starts.
        func start(_ i: Int) -> Int {
            var rest = i, offset = 0
            for d in stride(from: productShape.count - 3, through: 0, by: -1) {
                offset += rest % productShape[d] * strides[d]
                rest /= productShape[d]
            }
            return offset
        }
    }

    // MARK: Einsum

    /// Einsum by its layout: one operand arranged (and summed), or two arranged as
    /// `[batch, free, contracted]` and `[batch, contracted, free]`, one GEMM per batch into
    /// `[batch, freeA, freeB]`, then the output's order. Every step is a copy or a
    /// fixed-order loop, so results do not depend on the thread count.
    static func einsum(_ e: EinsumLayout, _ ctx: KernelContext, into out: Tensor) throws {
        if let view = e.gemm?.strided, out.dtype == .float32 || out.dtype == .float64 {
            return einsumInPlace(view, e.gemm!, ctx, into: out)
        }
        guard let gemm = e.gemm else {
            _ = try arrange(ctx.inputs[0], e.operands[0], order: e.output, summing: e.summed[0], ctx, into: out)
            return
        }
        let (a, b) = gemm.swapped ? (1, 0) : (0, 1)
        let left = try arrange(ctx.inputs[a], e.operands[a], order: gemm.leftOrder, summing: e.summed[a], ctx)
        let right = try arrange(ctx.inputs[b], e.operands[b], order: gemm.rightOrder, summing: e.summed[b], ctx)
        let inPlace = gemm.productOrder == e.output
        let product = inPlace ? out : try temporary(out.dtype, gemm.productShape, ctx)
        let (batches, m, n, k) = (gemm.batches, gemm.m, gemm.n, gemm.k)
        if k == 0 || batches == 1 {
            if k == 0 { product.rawPointer.initializeMemory(as: UInt8.self, repeating: 0, count: product.byteCount) }
            else { try Self.gemm(left, 0, false, right, 0, false, product, 0, m: m, n: n, k: k, ctx) }
        } else {
            ctx.parallelFor(batches, blockSize: 1, sharing: (Operands(left, right, product), m, n, k)) { s, lo, hi in
                let (operands, m, n, k) = s
                for i in lo..<hi { try? Self.gemm(operands, i * m * k, false, i * k * n, false, i * m * n, m: m, n: n, k: k) }
            }
        }
        if !inPlace { _ = try arrange(product, gemm.productOrder, order: e.output, summing: [], ctx, into: out) }
    }

    /// Einsum's GEMMs straight on the operands and the output: each batch's matrices are
    /// strided views (``EinsumLayout/StridedView``), so nothing is copied or allocated.
    /// Blocks — a batch, or a band of a batch's rows — are fixed, so results do not depend
    /// on the thread count.
    static func einsumInPlace(_ v: EinsumLayout.StridedView, _ g: EinsumLayout.Product, _ ctx: KernelContext, into out: Tensor) {
        _ = configureBLAS
        let (a, b) = g.swapped ? (ctx.inputs[1], ctx.inputs[0]) : (ctx.inputs[0], ctx.inputs[1])
        let (m, n, k) = (g.m, g.n, g.k)
        guard m > 0, n > 0, g.batches > 0 else { return }
        guard k > 0 else {
            out.rawPointer.initializeMemory(as: UInt8.self, repeating: 0, count: out.byteCount)
            return
        }
        let bands = m * n * k >= 1 << 18 ? (m + rowBlock - 1) / rowBlock : 1
        let rows = (m + bands - 1) / bands
        // The view's arrays by address: counted references in every block's state contend.
        withUnsafePointer(to: v) { v in
            ctx.parallelFor(g.batches * bands, blockSize: 1, sharing: (v, Operands(a, b, out), m, n, k, bands, rows)) { s, lo, hi in
                let (v, operands, m, n, k, bands, rows) = s
                for block in lo..<hi {
                    let (batch, band) = block.quotientAndRemainder(dividingBy: bands)
                    var rest = batch, ao = 0, bo = 0, o = 0
                    for d in v.pointee.batchSizes.indices.reversed() {
                        let index = rest % v.pointee.batchSizes[d]
                        rest /= v.pointee.batchSizes[d]
                        ao += index * v.pointee.batchStrides[d].a
                        bo += index * v.pointee.batchStrides[d].b
                        o += index * v.pointee.batchStrides[d].out
                    }
                    let r0 = band * rows, count = Swift.min(rows, m - r0)
                    guard count > 0 else { continue }
                    ao += r0 * (v.pointee.transposeA ? 1 : v.pointee.lda)
                    o += r0 * v.pointee.ldc
                    let ta = v.pointee.transposeA ? CblasTrans : CblasNoTrans, tb = v.pointee.transposeB ? CblasTrans : CblasNoTrans
                    if operands.dtype == .float32 {
                        cblas_sgemm(CblasRowMajor, ta, tb, Int32(count), Int32(n), Int32(k), 1, operands.a(Float.self) + ao, Int32(v.pointee.lda),
                                    operands.b(Float.self) + bo, Int32(v.pointee.ldb), 0, operands.out(Float.self) + o, Int32(v.pointee.ldc))
                    } else {
                        cblas_dgemm(CblasRowMajor, ta, tb, Int32(count), Int32(n), Int32(k), 1, operands.a(Double.self) + ao, Int32(v.pointee.lda),
                                    operands.b(Double.self) + bo, Int32(v.pointee.ldb), 0, operands.out(Double.self) + o, Int32(v.pointee.ldc))
                    }
                }
            }
        }
    }

    /// `x` (dimensions `labels`) with its dimensions in `order`, summed over `summing`: `x`
    /// itself when nothing moves, else written to `into` (or a budgeted temporary).
    static func arrange(_ x: Tensor, _ labels: [Int], order: [Int], summing: [Int], _ ctx: KernelContext, into target: Tensor? = nil) throws -> Tensor {
        if summing.isEmpty && order == labels {
            guard let target else { return x }
            target.rawPointer.copyMemory(from: UnsafeRawPointer(x.rawPointer), byteCount: x.byteCount)
            return target
        }
        let position = { (label: Int) in labels.firstIndex(of: label)! }
        let arranged = order + summing, shape = arranged.map { x.shape[position($0)] }
        // Already in order (only the trailing sums to take): sum straight from `x`.
        let transposed = arranged == labels ? x : summing.isEmpty && target != nil ? target! : try temporary(x.dtype, shape, ctx)
        if arranged != labels {
            if x.dtype == .float32 {
                ArrayKernels.transpose(x, transposed, arranged.map(position), UInt32.self)
            } else {
                ArrayKernels.transpose(x, transposed, arranged.map(position), UInt64.self)
            }
        }
        guard !summing.isEmpty else { return transposed }
        let result = try target ?? temporary(x.dtype, Array(shape.prefix(order.count)), ctx)
        let rows = result.scalarCount, span = rows == 0 ? 0 : transposed.scalarCount / rows
        func sum<T: FloatScalar>(_: T.Type) {
            let source = transposed.pointer(as: T.self), destination = result.mutablePointer(as: T.self)
            for r in 0..<rows {
                var total = T.zero
                for j in 0..<span { total += source[r * span + j] }
                destination[r] = total
            }
        }
        if x.dtype == .float32 { sum(Float.self) } else { sum(Double.self) }
        return result
    }

    private static func temporary(_ dtype: DType, _ shape: [Int], _ ctx: KernelContext) throws -> Tensor {
        do { return try Tensor(dtype: dtype, shape: shape, zeroed: false, budget: ctx.state.budget, for: "Einsum's intermediate") }
        catch { throw KernelError(error) }
    }

    /// OpenBLAS runs single-threaded: Soma's pool parallelises GEMM by row blocks, so the
    /// two never oversubscribe the cores. Its own pool, which it starts as the library
    /// loads, is shut down (`blas_thread_shutdown_`, where the build has one): each of its
    /// threads spins on `sched_yield` for 2²⁸ cycles before it sleeps. Measured: for the
    /// first 80–100 ms of a process that thread took half a core from Soma's two, the
    /// ``ContentionMonitor`` rightly saw a competitor, and a 2,000-run `graphtool bench` of
    /// a 0.09 ms layer ran 1,440–1,640 of its runs alone (median 0.15 ms against 0.09).
    /// A ``Session`` does this as it is made.
    static let configureBLAS: Void = {
        openblas_set_num_threads(1)
        // RTLD_DEFAULT: the symbol wherever the process has it; absent in serial builds.
        if let shutdown = dlsym(nil, "blas_thread_shutdown_") {
            _ = unsafeBitCast(shutdown, to: (@convention(c) () -> Int32).self)()
        }
    }()

    /// Rows of `op(a)` per parallel GEMM block. Fixed, so results do not depend on the
    /// thread count: each block is the same kernel call whatever runs it.
    static let rowBlock = 64

    /// Columns of `op(b)` per parallel block of a product with one row block (an RNN's
    /// gates, a small batch through a wide layer): 128, or 64 for fewer than 256 columns
    /// (a transformer's 128-wide projections over 64 positions: two blocks where one thread
    /// ran them all) — from the shape alone, for the same reason.
    static func columnBlock(n: Int) -> Int { n >= 256 ? 128 : 64 }

    /// `op(a) × op(b)` on up to `ctx.threads` threads: a few rows through a large `B`
    /// streamed (``StreamingGEMM``), others split into row blocks — or, with a single row
    /// block, column blocks. A `B` in panels (`panels`: the compiler packed it,
    /// ``WeightPanelPacking``) always runs as ``BlockedGEMM`` tiles, one panel wide.
    /// Rows of the output are `ldc` apart (default `n`).
    static func gemm(_ a: Tensor, _ ao: Int, _ ta: Bool, _ b: Tensor, _ bo: Int, _ tb: Bool, _ out: Tensor, _ o: Int,
                     m: Int, n: Int, k: Int, ldc leadingC: Int? = nil, panels: Bool = false, _ ctx: KernelContext) throws {
        let threads = ctx.threads, lda = ta ? m : k, ldc = leadingC ?? n
        if panels {
            guard m > 0 else { return }
            guard a.dtype == .float32, b.dtype == .float32,
                  let tiling = BlockedGEMM.Tiling(ta: ta, tb: tb, m: m, n: n, k: k, lda: lda, ldb: n, ldc: ldc, panels: true) else {
                throw KernelError("weights packed in panels need a float32 product LIBXSMM takes, not \(m)×\(k)·\(k)×\(n) \(a.dtype)")
            }
            let pa = a.pointer(as: Float.self) + ao, pb = b.pointer(as: Float.self) + bo, pc = out.mutablePointer(as: Float.self) + o
            ParallelFor.forEachBlock(tiling.count, threads: threads, sharing: (tiling, pa, pb, pc)) { s, t in s.0.run(t, s.1, s.2, s.3) }
            return
        }
        if a.dtype == .float32, let partition = StreamingGEMM.Partition(ta: ta, tb: tb, m: m, n: n, k: k, lda: lda, ldb: n, ldc: ldc) {
            let pa = a.pointer(as: Float.self) + ao, pb = b.pointer(as: Float.self) + bo, pc = out.mutablePointer(as: Float.self) + o
            try ctx.withScratchReserved(partition.partialBytes, "a streamed product's partial sums") {
                SharedScratch.withScratch(bytes: partition.partialBytes) { raw in
                    partition.run(pa, pb, pc, partials: raw.assumingMemoryBound(to: Float.self), threads: threads)
                }
            }
            return
        }
        if tb, a.dtype == .float32,
           try gemmTransposingB(a.pointer(as: Float.self) + ao, ta, b.pointer(as: Float.self) + bo, out.mutablePointer(as: Float.self) + o,
                                m: m, n: n, k: k, lda: lda, ldc: ldc, ctx) { return }
        guard splits(a.dtype, tb: tb, m: m, n: n, k: k) else {
            return try gemm(a, ao, ta, b, bo, tb, out, o, m: m, n: n, k: k, ldc: leadingC)
        }
        if a.dtype == .float32, let tiling = BlockedGEMM.Tiling(ta: ta, tb: tb, m: m, n: n, k: k, lda: lda, ldb: n, ldc: ldc) {
            _ = configureBLAS  // for a tile LIBXSMM has no kernel for
            let pa = a.pointer(as: Float.self) + ao, pb = b.pointer(as: Float.self) + bo, pc = out.mutablePointer(as: Float.self) + o
            ParallelFor.forEachBlock(tiling.count, threads: threads, sharing: (tiling, pa, pb, pc)) { s, t in s.0.run(t, s.1, s.2, s.3) }
            return
        }
        if m <= rowBlock {
            let ldb = tb ? k : n
            let width = columnBlock(n: n)
            let shared = (Operands(a, b, out), ao, ta, bo, tb, o, m, n, k, ldb, ldc, width)
            ParallelFor.forEachBlock((n + width - 1) / width, threads: threads, sharing: shared) { s, block in
                let (operands, ao, ta, bo, tb, o, m, n, k, ldb, ldc, width) = s
                let c0 = block * width, columns = Swift.min(width, n - c0)
                // Columns c0… of op(b): column offset c0, or row offset c0·ldb when transposed.
                try? gemm(operands, ao, ta, bo + (tb ? c0 * ldb : c0), tb, o + c0, m: m, n: columns, k: k, ldb: ldb, ldc: ldc)
            }
            return
        }
        let shared = (Operands(a, b, out), ao, ta, bo, tb, o, m, n, k, lda, ldc)
        ParallelFor.forEachBlock((m + rowBlock - 1) / rowBlock, threads: threads, sharing: shared) { s, block in
            let (operands, ao, ta, bo, tb, o, m, n, k, lda, ldc) = s
            let r0 = block * rowBlock, rows = Swift.min(rowBlock, m - r0)
            // Rows r0… of op(a): row offset r0·lda, or column offset r0 when transposed.
            try? gemm(operands, ao + (ta ? r0 : r0 * lda), ta, bo, tb, o + r0 * ldc, m: rows, n: n, k: k, lda: lda, ldc: ldc)
        }
    }

    /// Rows of `op(a)` from which a float32 product with a transposed `B` copies `B` to its
    /// `[K, N]` layout first (``gemmTransposingB(_:_:_:_:m:n:k:lda:ldc:_:)``).
    static let transposingRows = 16

    /// `C = op(A)·Bᵀ` (`B` stored `[N, K]`, contiguous) as ``BlockedGEMM`` tiles or
    /// ``SmallGEMM`` row blocks over a copy of `B` transposed to `[K, N]` in shared scratch:
    /// LIBXSMM compiles no kernel whose `B` is transposed (its first operand, in column-major
    /// terms), and OpenBLAS's own kernels depend on recognising the CPU — Debian's 0.3.21 runs
    /// its Prescott (SSE3) kernel on a CPU it does not know: a dense layer's input gradient
    /// `dY·Wᵀ`, `[128, 512]·[512, 512]ᵀ`, took 1.62 ms there (41 GFLOP/s). The copy costs
    /// `N·K` moves against `M·N·K` multiply-adds, so from ``transposingRows`` rows. Tiles are
    /// fixed by the shape: the bits never depend on the thread count. False, having written
    /// nothing, where LIBXSMM is unavailable or takes neither product.
    static func gemmTransposingB(_ pa: UnsafePointer<Float>, _ ta: Bool, _ pb: UnsafePointer<Float>, _ pc: UnsafeMutablePointer<Float>,
                                 m: Int, n: Int, k: Int, lda: Int, ldc: Int, _ ctx: KernelContext) throws -> Bool {
        guard LIBXSMM.available, m >= transposingRows, n > 0, k > 0, let bytes = checkedProduct(k, n, MemoryLayout<Float>.stride, 1)
        else { return false }
        let tiling = BlockedGEMM.Tiling(ta: ta, tb: false, m: m, n: n, k: k, lda: lda, ldb: n, ldc: ldc)
        let blockRows = Swift.min(rowBlock, m), blocks = (m + rowBlock - 1) / rowBlock, lastRows = m - (blocks - 1) * rowBlock
        let kernels = tiling != nil ? nil : SmallGEMM.kernel(ta: ta, m: blockRows, n: n, k: k, lda: lda, ldb: n, ldc: ldc).flatMap { first in
            SmallGEMM.kernel(ta: ta, m: lastRows, n: n, k: k, lda: lda, ldb: n, ldc: ldc).map { (first, $0) }
        }
        guard tiling != nil || kernels != nil else { return false }
        try ctx.withScratchReserved(bytes, "a product's transposed right operand") {
            SharedScratch.withScratch(bytes: bytes) { raw in
                let bt = raw.bindMemory(to: Float.self, capacity: k * n)
                ParallelFor.forEachBlock((n + 63) / 64, threads: ctx.threads, sharing: (pb, bt, n, k)) { s, block in
                    let (pb, bt, n, k) = s
                    transpose(pb, rows: (block * 64)..<Swift.min(n, block * 64 + 64), columns: k, stride: k, into: bt, leading: n)
                }
                let b = UnsafePointer(bt)
                if let tiling {
                    ParallelFor.forEachBlock(tiling.count, threads: ctx.threads, sharing: (tiling, pa, b, pc)) { s, t in s.0.run(t, s.1, s.2, s.3) }
                } else if let (kernel, last) = kernels {
                    ParallelFor.forEachBlock(blocks, threads: ctx.threads, sharing: (kernel, last, b, pa, pc, ta, lda, ldc, blocks)) { s, block in
                        let (kernel, last, b, pa, pc, ta, lda, ldc, blocks) = s, r0 = block * rowBlock
                        soma_xsmm_gemm(block == blocks - 1 ? last : kernel, b, pa + (ta ? r0 : r0 * lda), pc + r0 * ldc,
                                       LIBXSMM.clearsUpperHalves)
                    }
                }
            }
        }
        return true
    }

    /// Rows `rows` of the row-major matrix `source` (`columns` wide, rows `stride` apart)
    /// written as columns of `target` (`target[c·leading + r] = source[r·stride + c]`): 4×4
    /// tiles transposed in registers, in strips of 16 columns down the rows, so the target's
    /// lines for a strip (`rows` long, a few per column) stay in L1 while the rows pass. Along
    /// whole rows, or element by element, a 512×512 matrix took 0.3–1 ms: its lines are 2 KiB
    /// apart, and lines a power of two apart share a few cache sets.
    static func transpose(_ source: UnsafePointer<Float>, rows: Range<Int>, columns: Int, stride rowStride: Int,
                          into target: UnsafeMutablePointer<Float>, leading: Int) {
        @inline(__always) func load(_ r: Int, _ c: Int) -> SIMD4<Float> {
            UnsafeRawPointer(source + r * rowStride + c).loadUnaligned(as: SIMD4<Float>.self)
        }
        @inline(__always) func store(_ v: SIMD4<Float>, _ c: Int, _ r: Int) {
            UnsafeMutableRawPointer(target + c * leading + r).storeBytes(of: v, as: SIMD4<Float>.self)
        }
        let tiledRows = rows.lowerBound + (rows.count / 4) * 4, tiledColumns = columns / 4 * 4
        for c0 in stride(from: 0, to: tiledColumns, by: 16) {
            let strip = c0..<Swift.min(tiledColumns, c0 + 16)
            for r in stride(from: rows.lowerBound, to: tiledRows, by: 4) {
                for c in stride(from: strip.lowerBound, to: strip.upperBound, by: 4) {
                    let (a, b, d, e) = (load(r, c), load(r + 1, c), load(r + 2, c), load(r + 3, c))
                    store(SIMD4(a[0], b[0], d[0], e[0]), c, r)
                    store(SIMD4(a[1], b[1], d[1], e[1]), c + 1, r)
                    store(SIMD4(a[2], b[2], d[2], e[2]), c + 2, r)
                    store(SIMD4(a[3], b[3], d[3], e[3]), c + 3, r)
                }
            }
        }
        // The last columns of the tiled rows, then the last rows.
        for r in stride(from: rows.lowerBound, to: tiledRows, by: 4) {
            for column in tiledColumns..<columns { for row in r..<(r + 4) { target[column * leading + row] = source[row * rowStride + column] } }
        }
        for row in tiledRows..<rows.upperBound { for column in 0..<columns { target[column * leading + row] = source[row * rowStride + column] } }
    }

    /// `out[o…] = op(a[ao…]) × op(b[bo…])` for row-major `[m, k] × [k, n]` blocks at element
    /// offsets `ao`, `bo`, `o`; `lda`, `ldb`, `ldc` when rows are longer than the block
    /// (floats only). A transposed float32 `B` is copied into this thread's ``ThreadScratch``:
    /// callers must not be holding it.
    static func gemm(_ a: Tensor, _ ao: Int, _ ta: Bool, _ b: Tensor, _ bo: Int, _ tb: Bool, _ out: Tensor, _ o: Int,
                     m: Int, n: Int, k: Int, lda leadingA: Int? = nil, ldb leadingB: Int? = nil, ldc leadingC: Int? = nil) throws {
        try gemm(Operands(a, b, out), ao, ta, bo, tb, o, m: m, n: n, k: k, lda: leadingA, ldb: leadingB, ldc: leadingC)
    }

    /// A product's three operands as plain data — their dtype and addresses —, which a
    /// kernel shares with its helper threads without reference counting: copying tensors
    /// into every block's state took an attention block's two threads a few percent in
    /// contended retains and releases.
    struct Operands {
        let dtype: DType
        let a: UnsafeRawPointer, b: UnsafeRawPointer, out: UnsafeMutableRawPointer

        init(_ a: Tensor, _ b: Tensor, _ out: Tensor) {
            (dtype, self.a, self.b, self.out) = (a.dtype, UnsafeRawPointer(a.rawPointer), UnsafeRawPointer(b.rawPointer), out.rawPointer)
        }

        func a<T>(_: T.Type) -> UnsafePointer<T> { a.assumingMemoryBound(to: T.self) }
        func b<T>(_: T.Type) -> UnsafePointer<T> { b.assumingMemoryBound(to: T.self) }
        func out<T>(_: T.Type) -> UnsafeMutablePointer<T> { out.assumingMemoryBound(to: T.self) }
    }

    /// ``gemm(_:_:_:_:_:_:_:_:m:n:k:lda:ldb:ldc:)`` on ``Operands``.
    static func gemm(_ operands: Operands, _ ao: Int, _ ta: Bool, _ bo: Int, _ tb: Bool, _ o: Int,
                     m: Int, n: Int, k: Int, lda leadingA: Int? = nil, ldb leadingB: Int? = nil, ldc leadingC: Int? = nil) throws {
        _ = configureBLAS
        guard m > 0 && n > 0 else { return }
        // The output is zero-filled, which is the right answer when k == 0.
        guard k > 0 else { return }
        guard m < Int(Int32.max), n < Int(Int32.max), k < Int(Int32.max) else {
            throw KernelError("matrix dimensions \(m)x\(k)x\(n) exceed BLAS's 32-bit limit")
        }
        let lda = leadingA ?? (ta ? m : k), ldb = leadingB ?? (tb ? k : n), ldc = leadingC ?? n
        let transA = ta ? CblasTrans : CblasNoTrans, transB = tb ? CblasTrans : CblasNoTrans
        switch operands.dtype {
        case .float32:
            let pa = operands.a(Float.self) + ao, pb = operands.b(Float.self) + bo, pc = operands.out(Float.self) + o
            if !tb, let kernel = SmallGEMM.kernel(ta: ta, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc) {
                soma_xsmm_gemm(kernel, pb, pa, pc, LIBXSMM.clearsUpperHalves)
                return
            }
            // A transposed B (attention's q·kᵀ, one batch): copied to [K, N] in this thread's
            // scratch for LIBXSMM, as in gemmTransposingB.
            if tb, m >= transposingRows, let kernel = SmallGEMM.kernel(ta: ta, m: m, n: n, k: k, lda: lda, ldb: n, ldc: ldc) {
                ThreadScratch.withScratch(bytes: k * n * MemoryLayout<Float>.stride) { raw in
                    let bt = raw.bindMemory(to: Float.self, capacity: k * n)
                    transpose(pb, rows: 0..<n, columns: k, stride: ldb, into: bt, leading: n)
                    soma_xsmm_gemm(kernel, bt, pa, pc, LIBXSMM.clearsUpperHalves)
                }
                return
            }
            if let tiling = BlockedGEMM.Tiling(ta: ta, tb: tb, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc) {
                return tiling.run(pa, pb, pc)
            }
            cblas_sgemm(CblasRowMajor, transA, transB, Int32(m), Int32(n), Int32(k), 1, pa, Int32(lda), pb, Int32(ldb), 0, pc, Int32(ldc))
        case .float64:
            cblas_dgemm(CblasRowMajor, transA, transB, Int32(m), Int32(n), Int32(k), 1,
                        operands.a(Double.self) + ao, Int32(lda), operands.b(Double.self) + bo, Int32(ldb), 0,
                        operands.out(Double.self) + o, Int32(ldc))
        case .int32 where leadingB == nil && leadingC == nil: naive(operands, ao, ta, bo, tb, o, m: m, n: n, k: k, Int32.self)
        case .int64 where leadingB == nil && leadingC == nil: naive(operands, ao, ta, bo, tb, o, m: m, n: n, k: k, Int64.self)
        default: throw KernelError("MatMul is not defined for \(operands.dtype)")
        }
    }

    /// The reference triple loop (wrapping integer arithmetic).
    static func naive<T: NumericScalar>(_ operands: Operands, _ ao: Int, _ ta: Bool, _ bo: Int, _ tb: Bool, _ o: Int,
                                        m: Int, n: Int, k: Int, _: T.Type) {
        let pa = operands.a(T.self) + ao, pb = operands.b(T.self) + bo, po = operands.out(T.self) + o
        for i in 0..<m {
            for j in 0..<n {
                var acc = T.zero
                for p in 0..<k {
                    let x = ta ? pa[p * m + i] : pa[i * k + p]
                    let y = tb ? pb[j * k + p] : pb[p * n + j]
                    acc = T.add(acc, T.mul(x, y))
                }
                po[i * n + j] = acc
            }
        }
    }
}

/// An Einsum's work, from its equation and its operands' shapes: which labels each operand
/// sums alone and, for two operands, the GEMM — operand orders, batch count and `m, n, k`.
/// Plans build it once per node (``KernelNode/einsumLayout``); the interpreter per run.
struct EinsumLayout: Sendable {
    /// The batched GEMM of two operands: `left` (`[batch, m-labels, k-labels]`) times
    /// `right` (`[batch, k-labels, n-labels]`) into `productOrder`.
    struct Product: Sendable {
        /// Whether the second operand is the left one (so the product is already in the
        /// output's order where the written order would need a transpose).
        let swapped: Bool
        let leftOrder: [Int], rightOrder: [Int], productOrder: [Int]
        let productShape: [Int]
        let batches: Int, m: Int, n: Int, k: Int
        /// The product read and written in place, where the operands' and output's layouts allow.
        let strided: StridedView?
    }

    /// Each batch's GEMM as views of the operands and the output: leading dimensions,
    /// transpose flags, and the element strides of the batch labels (in the output's order).
    struct StridedView: Sendable {
        let transposeA: Bool, lda: Int
        let transposeB: Bool, ldb: Int
        let ldc: Int
        let batchSizes: [Int]
        let batchStrides: [(a: Int, b: Int, out: Int)]
    }

    /// Each operand's labels, and the output's.
    let operands: [[Int]]
    let output: [Int]
    /// Per operand, the labels only it has and the output lacks (summed before the product).
    let summed: [[Int]]
    /// With two operands, their product; `nil` with one.
    let gemm: Product?

    init(_ text: String, shapes: [[Int]]) throws {
        guard let equation = try EinsumEquation(text, ranks: shapes.map(\.count)) else { throw ShapeError("unknown rank") }
        let sizes = try equation.labelSizes(shapes.map { $0.map(Optional.some) }).mapValues { $0 ?? 0 }
        func count(_ labels: [Int]) -> Int { labels.reduce(1) { $0 * sizes[$1]! } }
        operands = equation.operands
        output = equation.output
        let o = output
        guard operands.count == 2 else {
            summed = [operands[0].filter { !o.contains($0) }]
            gemm = nil
            return
        }
        let (a, b) = (operands[0], operands[1])
        summed = [a.filter { !b.contains($0) && !o.contains($0) }, b.filter { !a.contains($0) && !o.contains($0) }]
        let batch = o.filter { a.contains($0) && b.contains($0) }, contracted = a.filter { b.contains($0) && !o.contains($0) }
        let freeA = o.filter { a.contains($0) && !b.contains($0) }, freeB = o.filter { b.contains($0) && !a.contains($0) }
        let swapped = batch + freeA + freeB != o && batch + freeB + freeA == o
        let (left, right) = swapped ? (freeB, freeA) : (freeA, freeB)
        let productOrder = batch + left + right
        let (m, n, k) = (count(left), count(right), count(contracted))
        guard m < Int(Int32.max), n < Int(Int32.max), k < Int(Int32.max) else {
            throw ShapeError("Einsum's matrix dimensions \(m)x\(k)x\(n) exceed BLAS's 32-bit limit")
        }
        let noSums = summed.allSatisfy(\.isEmpty)
        let (l, r) = swapped ? (1, 0) : (0, 1)
        gemm = Product(swapped: swapped, leftOrder: batch + left + contracted, rightOrder: batch + contracted + right,
                       productOrder: productOrder, productShape: productOrder.map { sizes[$0]! },
                       batches: count(batch), m: m, n: n, k: k,
                       strided: !noSums ? nil : Self.stridedView(left: (operands[l], shapes[l]), right: (operands[r], shapes[r]),
                                                                 output: (output, output.map { sizes[$0]! }),
                                                                 batch: batch, m: left, n: right, k: contracted, sizes: sizes))
    }

    /// The strided view of `[batch] left[m, k] × right[k, n] → output[m, n]`, when every
    /// matrix is one: its row and column labels each merge into one dimension, one of the
    /// two with unit stride (the other then the leading dimension, at least as long as a
    /// row, as BLAS needs). Labels of size 1 are left out (any stride does).
    static func stridedView(left: ([Int], [Int]), right: ([Int], [Int]), output: ([Int], [Int]),
                            batch: [Int], m: [Int], n: [Int], k: [Int], sizes: [Int: Int]) -> StridedView? {
        func strides(_ labels: [Int], _ shape: [Int]) -> [Int: Int] {
            var result: [Int: Int] = [:], stride = 1
            for (label, size) in zip(labels, shape).reversed() { result[label] = stride; stride *= size }
            return result
        }
        /// The stride of `group` merged into one dimension (1 for an empty one), if it merges.
        func merged(_ group: [Int], _ strides: [Int: Int]) -> Int? {
            let kept = group.filter { sizes[$0]! != 1 }
            guard let last = kept.last else { return 1 }
            for (outer, inner) in zip(kept, kept.dropFirst()) where strides[outer]! != strides[inner]! * sizes[inner]! { return nil }
            return strides[last]!
        }
        func count(_ labels: [Int]) -> Int { labels.reduce(1) { $0 * sizes[$1]! } }
        /// `(transposed, leading dimension)` of a `rows × columns` view.
        func matrix(_ rows: [Int], _ columns: [Int], _ strides: [Int: Int]) -> (Bool, Int)? {
            guard let rowStride = merged(rows, strides), let columnStride = merged(columns, strides) else { return nil }
            let (r, c) = (count(rows), count(columns))
            if columnStride == 1 || c == 1 { return r == 1 ? (false, Swift.max(c, 1)) : rowStride >= c ? (false, rowStride) : nil }
            if rowStride == 1 || r == 1 { return columnStride >= r ? (true, columnStride) : nil }
            return nil
        }
        let (sa, sb, so) = (strides(left.0, left.1), strides(right.0, right.1), strides(output.0, output.1))
        guard let (ta, lda) = matrix(m, k, sa), let (tb, ldb) = matrix(k, n, sb), let (tc, ldc) = matrix(m, n, so), !tc,
              [lda, ldb, ldc].allSatisfy({ $0 < Int(Int32.max) }) else { return nil }
        return StridedView(transposeA: ta, lda: lda, transposeB: tb, ldb: ldb, ldc: ldc, batchSizes: batch.map { sizes[$0]! },
                           batchStrides: batch.map { (sa[$0]!, sb[$0]!, so[$0]!) })
    }
}

/// Float32 GEMMs small enough to run as one LIBXSMM kernel, JIT-compiled for this CPU's
/// vector width: no packing of either operand (OpenBLAS packs both on every call, 12 % of an
/// unrolled LSTM's time), and the AVX-512 code whatever `OPENBLAS_CORETYPE` says.
///
/// Row-major `C[m×n] = op(A)[m×k] · B[k×n]` is LIBXSMM's column-major `Cᵀ = Bᵀ·op(A)ᵀ`
/// (`m′ = n`, `n′ = m`; `op(A) = Aᵀ` becomes its transposed-B flag). Taken where `B` (read
/// once per column block of the kernel) stays in L2 — at most ``maximumBBytes`` — and `B`
/// is not transposed (LIBXSMM 1.17 JITs no transposed A). Measured against single-threaded
/// OpenBLAS (AVX-512 kernels) here: 32×192·192×512 (the harness LSTM's gates) 112 against
/// 78 GFLOP/s, 8×784·784×512 86 against 44, 64×512·512×512 109 against 90.
/// Thread-safety: kernels are looked up in LIBXSMM's thread-safe registry.
enum SmallGEMM {
    /// The largest `B` the kernels take: half of this machine's 1 MiB L2, as for the direct
    /// convolutions' filters.
    static let maximumBBytes = 512 << 10

    /// The kernel for `op(A)[m×k] · B[k×n]` into `C` with rows `lda`, `ldb`, `ldc` apart, or
    /// `nil` where the shape is not taken or LIBXSMM has no kernel.
    static func kernel(ta: Bool, m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int) -> UnsafeRawPointer? {
        guard LIBXSMM.available, k * n * MemoryLayout<Float>.stride <= maximumBBytes, let m32 = Int32(exactly: m),
              let n32 = Int32(exactly: n), let k32 = Int32(exactly: k), let lda32 = Int32(exactly: lda),
              let ldb32 = Int32(exactly: ldb), let ldc32 = Int32(exactly: ldc) else { return nil }
        return soma_xsmm_gemm_kernel(n32, m32, k32, ldb32, lda32, ldc32, ta ? 1 : 0)
    }
}

/// Float32 GEMMs whose `B` is beyond ``SmallGEMM`` (a large filter or weight), cut into tiles
/// of `C` that each run as one LIBXSMM batch-reduce over `k` in slices of ``depth``: no
/// operand is packed (OpenBLAS packs `B` on every call, and again for every row block a
/// parallel caller gives it), and a tile's slices of `B` (256 × 128 floats, 128 KiB) stay
/// in L2 while its rows stream past them.
///
/// Tiles are at most ``rows`` × ``columns``; row blocks are balanced (49 rows are one block,
/// 196 four of 49), and `k` is summed slice by slice in order, so a tile's bits depend on the
/// shape alone — never on which thread runs it or how many there are. Measured against
/// OpenBLAS here (one thread, GFLOP/s, OpenBLAS whole → OpenBLAS in 64-row blocks → tiles):
/// 49×4608·4608×512 (ResNet50's last 3×3 convolutions, batch 1) 68 → 66 → 79–100;
/// 49×512·512×2048 69 → 70 → 89; 196×256·256×1024 93 → 69 → 86; 256×784·784×512 (the
/// harness MLP) 103 → 95 → 111. LIBXSMM 1.17 JITs slices of 512 for no 128-wide tile.
///
/// A constant `B` that the compiler stored in panels (``WeightPanelPacking``) is read one
/// contiguous panel of ``panelColumns`` columns per tile instead: see ``packPanels(_:k:n:into:)``.
/// Thread-safety: kernels come from LIBXSMM's thread-safe registry; tiles write disjoint `C`.
enum BlockedGEMM {
    static let rows = 64, columns = 128, depth = 256

    /// Columns per panel of a packed `B`: each tile then reads `k × 32` floats in one
    /// contiguous run, which the prefetchers serve at the memory's full speed, where a strip of
    /// 128 columns jumps a row's length every 512 bytes (and LIBXSMM's kernel walks a
    /// 128-wide tile's `k` twice, 64 columns at a time). Measured from DRAM, two threads,
    /// strips of 128 → panels of 32 (ms): 4×4608·4608×512 (ResNet50's last 3×3 layers at
    /// 64²) 0.46 → 0.20–0.32, 16×2304·2304×256 0.16 → 0.11, 49×4608·4608×512 1.38 → 1.04,
    /// 64×2304·2304×512 0.84 → 0.67. Panels of 16 measured slower for many rows (1.63 on the
    /// 49-row product), 48 and 64 about the same as 32, 128 no faster than strips.
    static let panelColumns = 32

    /// `b` (`[k, n]`, row-major) rearranged into panels of ``panelColumns`` columns, the last
    /// narrower: panel `j` holds columns `c0 = 32j…` as a row-major `[k, w]` block at `c0·k`.
    /// Same size as `b`. Thread-safety: writes `out` only.
    static func packPanels(_ b: UnsafePointer<Float>, k: Int, n: Int, into out: UnsafeMutablePointer<Float>) {
        for c0 in stride(from: 0, to: n, by: panelColumns) {
            let width = Swift.min(panelColumns, n - c0), panel = out + c0 * k
            for p in 0..<k { (panel + p * width).update(from: b + p * n + c0, count: width) }
        }
    }

    /// The tiling of an `m × n` product, or `nil` where the tiles are not taken (`B`
    /// transposed, or within ``SmallGEMM`` and not in panels, `beta` other than 0 or 1, byte
    /// strides beyond LIBXSMM's 32-bit integers, or LIBXSMM unavailable). With `panels`, `B`
    /// is packed (``packPanels(_:k:n:into:)``; `ldb` is then unused) and each tile is one
    /// panel wide.
    struct Tiling {
        let ta: Bool, m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int, accumulate: Bool, panels: Bool
        let rowBlocks: Int, columnBlocks: Int
        var count: Int { rowBlocks * columnBlocks }
        private var tileColumns: Int { panels ? BlockedGEMM.panelColumns : BlockedGEMM.columns }

        init?(ta: Bool, tb: Bool, m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int, beta: Float = 0, panels: Bool = false) {
            let bytes = MemoryLayout<Float>.stride, ldb = panels ? BlockedGEMM.panelColumns : ldb
            guard LIBXSMM.available, !tb, beta == 0 || beta == 1, m > 0, n > 0, k > 0,
                  panels || k.multipliedReportingOverflow(by: n).partialValue > SmallGEMM.maximumBBytes / bytes,
                  Int32(exactly: depth * bytes * Swift.max(lda, ldb)) != nil, Int32(exactly: Swift.max(lda, ldb, ldc, m, n, k)) != nil
            else { return nil }
            (self.ta, self.m, self.n, self.k, self.lda, self.ldb, self.ldc) = (ta, m, n, k, lda, ldb, ldc)
            (accumulate, self.panels) = (beta == 1, panels)
            rowBlocks = (m + BlockedGEMM.rows - 1) / BlockedGEMM.rows
            let width = panels ? BlockedGEMM.panelColumns : BlockedGEMM.columns
            columnBlocks = (n + width - 1) / width
        }

        /// Tile `t`'s product: `C[r0…, c0…] (+)= op(A)[r0…, :] · B[:, c0…]`.
        func run(_ t: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>) {
            let (i, j) = t.quotientAndRemainder(dividingBy: columnBlocks)
            let r0 = i * m / rowBlocks, rowCount = (i + 1) * m / rowBlocks - r0
            let c0 = j * tileColumns, columnCount = Swift.min(tileColumns, n - c0)
            let bytes = MemoryLayout<Float>.stride
            // op(A)'s rows r0…: a row offset, or a column offset when A is stored transposed.
            // B's columns c0…: in place, or their own panel (rows `columnCount` long) when packed.
            let aTile = a + (ta ? r0 : r0 * lda), bTile = panels ? b + c0 * k : b + c0, cTile = c + r0 * ldc + c0
            let ldb = panels ? columnCount : self.ldb
            // One slice deeper: k steps down B's rows and along op(A)'s rows.
            let aStep = ta ? BlockedGEMM.depth * lda : BlockedGEMM.depth, bStep = BlockedGEMM.depth * ldb
            let slices = k / BlockedGEMM.depth, rest = k % BlockedGEMM.depth
            func kernel(depth: Int, first: Bool) -> UnsafeRawPointer? {
                soma_xsmm_reduce_strided_kernel(Int32(columnCount), Int32(rowCount), Int32(depth), Int32(bStep * bytes),
                                                Int32(aStep * bytes), Int32(ldb), Int32(lda), Int32(ldc),
                                                first && !accumulate ? 1 : 0, ta ? 1 : 0)
            }
            let whole = slices > 0 ? kernel(depth: BlockedGEMM.depth, first: true) : nil
            let tail = rest > 0 ? kernel(depth: rest, first: slices == 0) : nil
            guard (slices == 0 || whole != nil) && (rest == 0 || tail != nil) else {
                // No kernel from LIBXSMM for this tile: OpenBLAS computes it.
                cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, CblasNoTrans, Int32(rowCount), Int32(columnCount),
                            Int32(k), 1, aTile, Int32(lda), bTile, Int32(ldb), accumulate ? 1 : 0, cTile, Int32(ldc))
                return
            }
            if let whole { soma_xsmm_reduce_strided(whole, bTile, aTile, cTile, UInt64(slices), LIBXSMM.clearsUpperHalves) }
            if let tail {
                soma_xsmm_reduce_strided(tail, bTile + slices * bStep, aTile + slices * aStep, cTile, 1, LIBXSMM.clearsUpperHalves)
            }
        }

        /// Every tile, in order, on the calling thread.
        func run(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>) {
            for t in 0..<count { run(t, a, b, c) }
        }
    }
}

/// Float32 products of a few rows with a large `B` — a batch of one through a dense layer,
/// a convolution with a few output positions — streamed row by row through `B`
/// (``VectorLoops/streamRows(m:n:k:a:rowStride:depthStride:b:ldb:c:ldc:)``).
///
/// Such a product reads each weight once for `2m` flops, so it runs at the memory's speed,
/// and `B` larger than L2 comes from L3 or DRAM. ``BlockedGEMM``'s tiles walk `B` in
/// 128-column strips, a row's length apart every 512 bytes, which the prefetchers serve at
/// 17–20 GB/s here; whole rows in order, `k` cut into fixed chunks for the threads, reach
/// the rate ONNX Runtime does (measured on chains of 1×2048·2048×2048 products, 201 MB of
/// weights: see ARCHITECTURE.md). Each chunk sums into its own partial rows, which are then
/// added in chunk order; a wide `n` is also cut into panels. The partition depends on the
/// shape alone, so results never depend on the thread count.
/// Thread-safety: tasks write disjoint partials, then disjoint columns of `C`.
enum StreamingGEMM {
    /// The most rows of `op(A)` taken: each row adds two flops per weight read, and without
    /// fused multiply-adds (every build gives the same bits) more rows make the loop
    /// compute-bound — on chains of 2048² products, 8 rows took 14–16 ms streamed against 14
    /// in tiles, 4 rows 8.6–9.6 against 10.0, 2 rows 7.0 against 12.3 (ONNX Runtime 6–8);
    /// ResNet50 at 64² (its last stage has 4 positions) ran 8.2–8.3 ms with 4 rows streamed,
    /// 7.9–8.1 without.
    static let maximumRows = 2
    /// The fewest rows of `B` per chunk, and the most chunks.
    static let minimumChunkDepth = 64, maximumChunks = 8
    /// Columns per panel where `n` is cut, and the most bytes of partial sums.
    static let panelColumns = 1024, maximumPartialBytes = 1 << 20

    /// The partition of an `m × n` product, or `nil` where it is not taken: `B` transposed or
    /// within ``SmallGEMM`` (it stays in cache; LIBXSMM's kernels are faster there), more
    /// than ``maximumRows`` rows, `beta` other than 0.
    struct Partition {
        let ta: Bool, m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int
        /// Fixed chunks of `k` and panels of `n`: task `t` is chunk `t / panels`, panel `t % panels`.
        let chunks: Int, panels: Int, panelWidth: Int
        var tasks: Int { chunks * panels }
        /// Bytes of partial sums (none with one chunk: it writes `C` itself).
        var partialBytes: Int { chunks > 1 ? chunks * m * n * MemoryLayout<Float>.stride : 0 }

        init?(ta: Bool, tb: Bool, m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int, beta: Float = 0) {
            guard !tb, beta == 0, m > 0, m <= StreamingGEMM.maximumRows, n > 0, k > 0,
                  let weights = checkedProduct(k, n, MemoryLayout<Float>.stride), weights > SmallGEMM.maximumBBytes else { return nil }
            (self.ta, self.m, self.n, self.k, self.lda, self.ldb, self.ldc) = (ta, m, n, k, lda, ldb, ldc)
            let fitting = StreamingGEMM.maximumPartialBytes / (m * n * MemoryLayout<Float>.stride)
            chunks = Swift.max(1, Swift.min(StreamingGEMM.maximumChunks, (k + StreamingGEMM.minimumChunkDepth - 1) / StreamingGEMM.minimumChunkDepth,
                                            fitting))
            panelWidth = chunks >= StreamingGEMM.maximumChunks / 2 ? n : Swift.min(n, StreamingGEMM.panelColumns)
            panels = (n + panelWidth - 1) / panelWidth
        }

        /// Task `t`: chunk `t / panels`'s rows of `B` times panel `t % panels`'s columns,
        /// into `C` (one chunk) or that chunk's partial rows.
        func run(_ t: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                 partials: UnsafeMutablePointer<Float>) {
            let (chunk, panel) = t.quotientAndRemainder(dividingBy: panels)
            let p0 = chunk * k / chunks, depth = (chunk + 1) * k / chunks - p0
            let c0 = panel * panelWidth, columns = Swift.min(panelWidth, n - c0)
            // op(A)[i, p] is a[i·lda + p], or a[p·lda + i] when A is stored transposed.
            let (rowStride, depthStride) = ta ? (1, lda) : (lda, 1)
            let (target, ld) = chunks > 1 ? (partials + chunk * m * n, n) : (c, ldc)
            VectorKernels.streamRows(m: m, n: columns, k: depth, a: a + p0 * depthStride, rowStride: rowStride, depthStride: depthStride,
                                     b: b + p0 * ldb + c0, ldb: ldb, c: target + c0, ldc: ld)
        }

        /// Columns `q·panelColumns…` of `C` as the partials' sum in chunk order (after every task has run).
        func reduce(_ q: Int, _ partials: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>) {
            let c0 = q * StreamingGEMM.panelColumns, columns = Swift.min(StreamingGEMM.panelColumns, n - c0), stride = m * n
            for i in 0..<m {
                let row = c + i * ldc + c0, first = partials + i * n + c0
                row.update(from: first, count: columns)
                for chunk in 1..<chunks {
                    VectorKernels.zip(.add, UnsafePointer(row), 1, first + chunk * stride, 1, row, count: columns)
                }
            }
        }

        /// The whole product on `threads` threads, with `partials` (``partialBytes``) as scratch.
        func run(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                 partials: UnsafeMutablePointer<Float>, threads: Int) {
            ParallelFor.forEachBlock(tasks, threads: threads, sharing: (self, a, b, c, partials)) { s, t in s.0.run(t, s.1, s.2, s.3, partials: s.4) }
            guard chunks > 1 else { return }
            let blocks = (n + StreamingGEMM.panelColumns - 1) / StreamingGEMM.panelColumns
            ParallelFor.forEachBlock(blocks, threads: threads, sharing: (self, partials, c)) { s, q in s.0.reduce(q, s.1, s.2) }
        }
    }
}
