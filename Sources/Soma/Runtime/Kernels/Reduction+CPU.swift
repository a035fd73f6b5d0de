/// Kernels for reductions and arg-max/min.
enum ReductionKernels {
    enum Reduction { case sum, mean, max, min, prod }

    static let table: [String: CPUKernel] = {
        var t: [String: CPUKernel] = [:]
        let reductions: [String: Reduction] = ["Sum": .sum, "Mean": .mean, "Max": .max, "Min": .min, "Prod": .prod]
        for (name, op) in reductions {
            t[name] = { ctx in
                let x = ctx.inputs[0], out = try ctx.allocateOutput(0, zeroed: false)
                let layout = ctx.node.reductionLayout ?? ReductionLayout(shape: x.shape, axes: ctx.inputs[1].intScalars() ?? [])
                switch x.dtype {
                case .float32: reduce(op, x, out, layout, Float.self)
                case .float64: reduce(op, x, out, layout, Double.self)
                case .int32: reduce(op, x, out, layout, Int32.self)
                case .int64: reduce(op, x, out, layout, Int64.self)
                case .uint8: reduce(op, x, out, layout, UInt8.self)
                case .bool: throw KernelError("\(name) is not defined for bool")
                }
                ctx.setOutput(0, out)
            }
        }
        t["All"] = { ctx in
            let x = ctx.inputs[0], out = try ctx.allocateOutput(0, zeroed: false)
            let layout = ReductionLayout(shape: x.shape, axes: ctx.inputs[1].intScalars() ?? [])
            layout.reduce(x.pointer(as: Bool.self), out.mutablePointer(as: Bool.self), initial: true) { $0 && $1 }
            ctx.setOutput(0, out)
        }
        t["Any"] = { ctx in
            let x = ctx.inputs[0], out = try ctx.allocateOutput(0, zeroed: false)
            let layout = ReductionLayout(shape: x.shape, axes: ctx.inputs[1].intScalars() ?? [])
            layout.reduce(x.pointer(as: Bool.self), out.mutablePointer(as: Bool.self), initial: false) { $0 || $1 }
            ctx.setOutput(0, out)
        }
        t["ArgMax"] = { ctx in ctx.setOutput(0, try argReduce(ctx, max: true)) }
        t["ArgMin"] = { ctx in ctx.setOutput(0, try argReduce(ctx, max: false)) }
        return t
    }()

    static func reduce<T: NumericScalar>(_ op: Reduction, _ x: Tensor, _ out: Tensor, _ layout: ReductionLayout, _: T.Type) {
        let px = x.pointer(as: T.self), po = out.mutablePointer(as: T.self)
        switch op {
        case .sum: layout.reduce(px, po, initial: T.zero) { T.add($0, $1) }
        case .prod: layout.reduce(px, po, initial: T.one) { T.mul($0, $1) }
        case .max: layout.reduce(px, po, initial: T.lowest) { T.maxPropagatingNaN($0, $1) }
        case .min: layout.reduce(px, po, initial: T.highest) { T.minPropagatingNaN($0, $1) }
        case .mean where T.dtype.isFloatingPoint:
            layout.reduce(px, po, initial: T.zero) { T.add($0, $1) }
            let c = T(fromInt: layout.reducedCount)
            for i in 0..<out.scalarCount { po[i] = T.div(po[i], c) }
        case .mean:
            // Integer means accumulate in Int64 (no overflow for uint8/int32), then
            // divide truncating toward zero, as C++ integer division does.
            let wide = UnsafeMutablePointer<Int64>.allocate(capacity: Swift.max(x.scalarCount, 1))
            let sums = UnsafeMutablePointer<Int64>.allocate(capacity: Swift.max(out.scalarCount, 1))
            defer { wide.deallocate(); sums.deallocate() }
            for i in 0..<x.scalarCount { wide[i] = px[i].int64Value }
            layout.reduce(UnsafePointer(wide), sums, initial: 0) { $0 &+ $1 }
            let count = Int64(layout.reducedCount)
            for i in 0..<out.scalarCount { po[i] = T(fromInt: Int(count == 0 ? 0 : sums[i] / count)) }
        }
    }

    /// Index of the first extreme value along one axis: `[outer, n, inner] → [outer, inner]`.
    static func argReduce(_ ctx: KernelContext, max: Bool) throws -> Tensor {
        let x = ctx.inputs[0], out = try ctx.allocateOutput(0, zeroed: false)
        let axis = ctx.inputs[1].intScalars()![0]
        let a = axis < 0 ? axis + x.rank : axis
        let outer = x.shape[..<a].reduce(1, *), n = x.shape[a], inner = x.shape[(a + 1)...].reduce(1, *)
        func run<T: Comparable>(_: T.Type) {
            let px = x.pointer(as: T.self)
            var indices = [Int](repeating: 0, count: outer * inner)
            for o in 0..<outer {
                for i in 0..<inner {
                    var best = px[o * n * inner + i], bestIndex = 0
                    for j in 1..<Swift.max(n, 1) {
                        let v = px[(o * n + j) * inner + i]
                        if max ? v > best : v < best { best = v; bestIndex = j }
                    }
                    indices[o * inner + i] = bestIndex
                }
            }
            if out.dtype == .int32 {
                let po = out.mutablePointer(as: Int32.self)
                for (i, v) in indices.enumerated() { po[i] = Int32(v) }
            } else {
                let po = out.mutablePointer(as: Int64.self)
                for (i, v) in indices.enumerated() { po[i] = Int64(v) }
            }
        }
        switch x.dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        case .int32: run(Int32.self)
        case .int64: run(Int64.self)
        case .uint8: run(UInt8.self)
        case .bool: run(UInt8.self)
        }
        return out
    }
}

/// The input's dimensions grouped into alternating runs of kept and reduced axes, so a
/// reduction is a few nested loops over contiguous runs.
struct ReductionLayout: Sendable {
    /// Merged dimensions and whether each is reduced.
    let dims: [Int]
    let reduced: [Bool]
    /// Number of input elements folded into each output element.
    let reducedCount: Int
    /// Output strides per merged dimension (0 where reduced).
    let outStrides: [Int]

    init(shape: [Int], axes: [Int]) {
        let rank = shape.count
        var isReduced = [Bool](repeating: false, count: rank)
        for a in axes { isReduced[a < 0 ? a + rank : a] = true }
        var dims: [Int] = [], reduced: [Bool] = []
        var count = 1
        for (d, r) in zip(shape, isReduced) {
            if r { count *= d }
            if d == 1 { continue }  // Size-1 dimensions change nothing.
            if let last = reduced.last, last == r { dims[dims.count - 1] *= d } else { dims.append(d); reduced.append(r) }
        }
        self.dims = dims
        self.reduced = reduced
        self.reducedCount = count
        var outStrides = [Int](repeating: 0, count: dims.count)
        var s = 1
        for d in Swift.stride(from: dims.count - 1, through: 0, by: -1) where !reduced[d] {
            outStrides[d] = s
            s *= dims[d]
        }
        self.outStrides = outStrides
    }

    /// Folds `x` into `out` with `combine`, starting each output element at `initial`.
    @inline(__always)
    func reduce<T>(_ x: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>, initial: T, _ combine: (T, T) -> T) {
        let outCount = zip(dims, reduced).reduce(1) { $1.1 ? $0 : $0 * $1.0 }
        for i in 0..<outCount { out[i] = initial }
        let total = dims.reduce(1, *)
        guard total > 0 else { return }
        guard let lastDim = dims.last else {
            out[0] = combine(out[0], x[0])
            return
        }
        let innerReduced = reduced[dims.count - 1]
        let outer = total / lastDim
        // The odometer lives on the stack: no allocation per call.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: dims.count) { counter in
        counter.initialize(repeating: 0)
        var inOffset = 0, outOffset = 0
        for _ in 0..<outer {
            if innerReduced {
                var acc = out[outOffset]
                for j in 0..<lastDim { acc = combine(acc, x[inOffset &+ j]) }
                out[outOffset] = acc
            } else {
                for j in 0..<lastDim { out[outOffset &+ j] = combine(out[outOffset &+ j], x[inOffset &+ j]) }
            }
            inOffset &+= lastDim
            var d = dims.count - 2
            while d >= 0 {
                counter[d] &+= 1
                outOffset &+= outStrides[d]
                if counter[d] < dims[d] { break }
                outOffset &-= outStrides[d] &* dims[d]
                counter[d] = 0
                d -= 1
            }
        }
        }
    }
}
