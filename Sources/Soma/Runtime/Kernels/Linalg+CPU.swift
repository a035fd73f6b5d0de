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
            try gemm(a, 0, ta, b, 0, tb, out, 0, m: m, n: n, k: k, threads: ctx.threads)
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
        "Einsum": { ctx in
            let text = ctx.node.string("equation") ?? ""
            let out = try ctx.allocateOutput(0, zeroed: false)
            do {
                guard let equation = try EinsumEquation(text, ranks: ctx.inputs.map(\.rank)) else { throw ShapeError("unknown rank") }
                let known = try equation.labelSizes(ctx.inputs.map { $0.shape.map(Optional.some) })
                try einsum(equation, sizes: known.mapValues { $0 ?? 0 }, ctx, into: out)
            } catch let error as ShapeError {
                throw KernelError(error.message)
            }
            ctx.setOutput(0, out)
        },
    ]

    /// `out[i] = op(x[i]) × op(y[i])` over the broadcast batch dimensions.
    ///
    /// A `y` shared by every batch (a weight, as Keras' `Dense` on a sequence has it) makes
    /// one GEMM of all of `x`'s rows; a batch smaller than the thread count splits each
    /// product by rows; otherwise each batch matrix is one block. Nothing is allocated.
    static func batchMatMul(_ x: Tensor, _ ax: Bool, _ y: Tensor, _ ay: Bool, _ out: Tensor, k: Int, _ ctx: KernelContext) throws {
        let r = out.rank, m = out.shape[r - 2], n = out.shape[r - 1]
        let batches = out.shape.dropLast(2).reduce(1, *)
        guard batches > 0, m > 0, n > 0, k > 0 else { return }
        guard x.dtype == .float32 || x.dtype == .float64 || x.dtype == .int32 || x.dtype == .int64 else {
            throw KernelError("BatchMatMulV2 is not defined for \(x.dtype)")
        }
        guard batches * m < Int(Int32.max), n < Int(Int32.max), k < Int(Int32.max) else {
            throw KernelError("matrix dimensions \(m)x\(k)x\(n) exceed BLAS's 32-bit limit")
        }
        let xMatrix = x.shape.suffix(2).reduce(1, *), yMatrix = y.shape.suffix(2).reduce(1, *)
        if !ax && y.scalarCount == yMatrix && x.scalarCount == batches * xMatrix {
            return try gemm(x, 0, false, y, 0, ay, out, 0, m: batches * m, n: n, k: k, threads: ctx.threads)
        }
        /// Element offsets of output batch `i`'s operands (broadcast dimensions repeat).
        func operands(_ i: Int) -> (x: Int, y: Int) {
            var rest = i, bx = 0, by = 0, sx = xMatrix, sy = yMatrix
            for d in stride(from: r - 3, through: 0, by: -1) {
                let index = rest % out.shape[d]
                rest /= out.shape[d]
                let dx = d - (r - x.rank), dy = d - (r - y.rank)
                if dx >= 0 { if x.shape[dx] != 1 { bx += index * sx }; sx *= x.shape[dx] }
                if dy >= 0 { if y.shape[dy] != 1 { by += index * sy }; sy *= y.shape[dy] }
            }
            return (bx, by)
        }
        if batches < ctx.threads {
            for i in 0..<batches {
                let (bx, by) = operands(i)
                try gemm(x, bx, ax, y, by, ay, out, i * m * n, m: m, n: n, k: k, threads: ctx.threads)
            }
            return
        }
        // Batches are independent: one block per batch matrix (shapes and dtype checked above).
        ctx.parallelFor(batches, blockSize: 1) { lo, hi in
            for i in lo..<hi {
                let (bx, by) = operands(i)
                try? gemm(x, bx, ax, y, by, ay, out, i * m * n, m: m, n: n, k: k)
            }
        }
    }

    // MARK: Einsum

    /// Einsum as transposes, sums and one batched GEMM. With two operands the labels fall in
    /// five groups: batch (both operands and the output), contracted (both operands only),
    /// free in one operand (and the output), and summed within one operand. Each operand is
    /// arranged as `[batch, free, contracted]` (its own sums taken), the GEMMs give
    /// `[batch, freeA, freeB]`, and that is arranged in the output's order. Every step is a
    /// copy or a fixed-order loop, so results do not depend on the thread count.
    static func einsum(_ e: EinsumEquation, sizes: [Int: Int], _ ctx: KernelContext, into out: Tensor) throws {
        func count(_ labels: [Int]) -> Int { labels.reduce(1) { $0 * sizes[$1]! } }
        if e.operands.count == 1 {
            let labels = e.operands[0]
            _ = try arrange(ctx.inputs[0], labels, order: e.output, summing: labels.filter { !e.output.contains($0) }, ctx, into: out)
            return
        }
        let (a, b, o) = (e.operands[0], e.operands[1], e.output)
        let batch = o.filter { a.contains($0) && b.contains($0) }, contracted = a.filter { b.contains($0) && !o.contains($0) }
        let freeA = o.filter { a.contains($0) && !b.contains($0) }, freeB = o.filter { b.contains($0) && !a.contains($0) }
        let left = try arrange(ctx.inputs[0], a, order: batch + freeA + contracted, summing: a.filter { !b.contains($0) && !o.contains($0) }, ctx)
        let right = try arrange(ctx.inputs[1], b, order: batch + contracted + freeB, summing: b.filter { !a.contains($0) && !o.contains($0) }, ctx)
        let productOrder = batch + freeA + freeB
        let inPlace = productOrder == o
        let product = inPlace ? out : try temporary(out.dtype, productOrder.map { sizes[$0]! }, ctx)
        let (batches, m, n, k) = (count(batch), count(freeA), count(freeB), count(contracted))
        guard m < Int(Int32.max), n < Int(Int32.max), k < Int(Int32.max) else {
            throw KernelError("Einsum's matrix dimensions \(m)x\(k)x\(n) exceed BLAS's 32-bit limit")
        }
        if k == 0 || batches == 1 {
            if k == 0 { product.rawPointer.initializeMemory(as: UInt8.self, repeating: 0, count: product.byteCount) }
            else { try gemm(left, 0, false, right, 0, false, product, 0, m: m, n: n, k: k, threads: ctx.threads) }
        } else {
            ctx.parallelFor(batches, blockSize: 1) { lo, hi in
                for i in lo..<hi { try? gemm(left, i * m * k, false, right, i * k * n, false, product, i * m * n, m: m, n: n, k: k) }
            }
        }
        if !inPlace { _ = try arrange(product, productOrder, order: o, summing: [], ctx, into: out) }
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
    /// two never oversubscribe the cores.
    static let configureBLAS: Void = { openblas_set_num_threads(1) }()

    /// Rows of `op(a)` per parallel GEMM block. Fixed, so results do not depend on the
    /// thread count: each block is the same OpenBLAS call whatever runs it.
    static let rowBlock = 64

    /// `op(a) × op(b)` split into row blocks run on up to `threads` threads.
    static func gemm(_ a: Tensor, _ ao: Int, _ ta: Bool, _ b: Tensor, _ bo: Int, _ tb: Bool, _ out: Tensor, _ o: Int,
                     m: Int, n: Int, k: Int, threads: Int) throws {
        guard a.dtype.isFloatingPoint, m > rowBlock, m * n * k >= 1 << 18 else {
            return try gemm(a, ao, ta, b, bo, tb, out, o, m: m, n: n, k: k)
        }
        let blocks = (m + rowBlock - 1) / rowBlock
        let lda = ta ? m : k
        ParallelFor.run(blocks: blocks, threads: threads) { block in
            let r0 = block * rowBlock, rows = Swift.min(rowBlock, m - r0)
            // Rows r0… of op(a): row offset r0·lda, or column offset r0 when transposed.
            try? gemm(a, ao + (ta ? r0 : r0 * lda), ta, b, bo, tb, out, o + r0 * n, m: rows, n: n, k: k, lda: lda)
        }
    }

    /// `out[o…] = op(a[ao…]) × op(b[bo…])` for row-major `[m, k] × [k, n]` blocks at element
    /// offsets `ao`, `bo`, `o` (`lda` when `a`'s rows are longer than `op(a)` needs).
    static func gemm(_ a: Tensor, _ ao: Int, _ ta: Bool, _ b: Tensor, _ bo: Int, _ tb: Bool, _ out: Tensor, _ o: Int,
                     m: Int, n: Int, k: Int, lda leadingA: Int? = nil) throws {
        _ = configureBLAS
        guard m > 0 && n > 0 else { return }
        // The output is zero-filled, which is the right answer when k == 0.
        guard k > 0 else { return }
        guard m < Int(Int32.max), n < Int(Int32.max), k < Int(Int32.max) else {
            throw KernelError("matrix dimensions \(m)x\(k)x\(n) exceed BLAS's 32-bit limit")
        }
        let lda = Int32(leadingA ?? (ta ? m : k)), ldb = Int32(tb ? k : n)
        let transA = ta ? CblasTrans : CblasNoTrans, transB = tb ? CblasTrans : CblasNoTrans
        switch a.dtype {
        case .float32:
            cblas_sgemm(CblasRowMajor, transA, transB, Int32(m), Int32(n), Int32(k), 1,
                        a.pointer(as: Float.self) + ao, lda, b.pointer(as: Float.self) + bo, ldb, 0,
                        out.mutablePointer(as: Float.self) + o, Int32(n))
        case .float64:
            cblas_dgemm(CblasRowMajor, transA, transB, Int32(m), Int32(n), Int32(k), 1,
                        a.pointer(as: Double.self) + ao, lda, b.pointer(as: Double.self) + bo, ldb, 0,
                        out.mutablePointer(as: Double.self) + o, Int32(n))
        case .int32: naive(a, ao, ta, b, bo, tb, out, o, m: m, n: n, k: k, Int32.self)
        case .int64: naive(a, ao, ta, b, bo, tb, out, o, m: m, n: n, k: k, Int64.self)
        default: throw KernelError("MatMul is not defined for \(a.dtype)")
        }
    }

    /// The reference triple loop (wrapping integer arithmetic).
    static func naive<T: NumericScalar>(_ a: Tensor, _ ao: Int, _ ta: Bool, _ b: Tensor, _ bo: Int, _ tb: Bool,
                                        _ out: Tensor, _ o: Int, m: Int, n: Int, k: Int, _: T.Type) {
        let pa = a.pointer(as: T.self) + ao, pb = b.pointer(as: T.self) + bo, po = out.mutablePointer(as: T.self) + o
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
