/// Kernels for reductions and arg-max/min.
enum ReductionKernels {
    enum Reduction { case sum, mean, max, min, prod }

    static let table: [String: CPUKernel] = {
        var t: [String: CPUKernel] = [:]
        let reductions: [String: Reduction] = ["Sum": .sum, "Mean": .mean, "Max": .max, "Min": .min, "Prod": .prod]
        for (name, op) in reductions {
            t[name] = { ctx in
                let x = ctx.inputs[0], out = try ctx.allocateOutput(0, zeroed: false)
                let layout = try ctx.node.reductionLayout ?? ReductionLayout(shape: x.shape, runtimeAxes: ctx.inputs[1])
                if op == .sum || op == .mean, x.dtype == .float32, try columnSums(x, out, layout, mean: op == .mean, ctx) {
                    return ctx.setOutput(0, out)
                }
                switch x.dtype {
                case .float32: reduce(op, x, out, layout, Float.self)
                case .float64: reduce(op, x, out, layout, Double.self)
                case .int32: reduce(op, x, out, layout, Int32.self)
                case .int64: reduce(op, x, out, layout, Int64.self)
                case .uint8: reduce(op, x, out, layout, UInt8.self)
                case .bool, .string, .resource, .variant: throw KernelError("\(name) is not defined for \(x.dtype)")
                }
                ctx.setOutput(0, out)
            }
        }
        t["All"] = { ctx in
            let x = ctx.inputs[0], out = try ctx.allocateOutput(0, zeroed: false)
            let layout = try ReductionLayout(shape: x.shape, runtimeAxes: ctx.inputs[1])
            layout.reduce(x.pointer(as: Bool.self), out.mutablePointer(as: Bool.self), initial: true) { $0 && $1 }
            ctx.setOutput(0, out)
        }
        t["Any"] = { ctx in
            let x = ctx.inputs[0], out = try ctx.allocateOutput(0, zeroed: false)
            let layout = try ReductionLayout(shape: x.shape, runtimeAxes: ctx.inputs[1])
            layout.reduce(x.pointer(as: Bool.self), out.mutablePointer(as: Bool.self), initial: false) { $0 || $1 }
            ctx.setOutput(0, out)
        }
        t["ArgMax"] = { ctx in ctx.setOutput(0, try argReduce(ctx, max: true)) }
        t["ArgMin"] = { ctx in ctx.setOutput(0, try argReduce(ctx, max: false)) }
        return t
    }()

    static func reduce<T: NumericScalar>(_ op: Reduction, _ x: Tensor, _ out: Tensor, _ layout: ReductionLayout, _: T.Type) {
        let px = x.pointer(as: T.self), po = out.mutablePointer(as: T.self)
        // Floating-point sums are accurate (pairwise runs, double accumulators), as Eigen's
        // tree reductions are: a sequential float32 accumulator stalls at 2^24.
        if op == .sum || op == .mean, T.dtype.isFloatingPoint {
            if T.self == Float.self {
                layout.accurateSum(UnsafeRawPointer(px).assumingMemoryBound(to: Float.self),
                                   UnsafeMutableRawPointer(po).assumingMemoryBound(to: Float.self), mean: op == .mean)
            } else {
                layout.accurateSum(UnsafeRawPointer(px).assumingMemoryBound(to: Double.self),
                                   UnsafeMutableRawPointer(po).assumingMemoryBound(to: Double.self), mean: op == .mean)
            }
            return
        }
        switch op {
        case .sum: layout.reduce(px, po, initial: T.zero) { T.add($0, $1) }
        case .prod: layout.reduce(px, po, initial: T.one) { T.mul($0, $1) }
        case .max: layout.reduce(px, po, initial: T.lowest) { T.maxPropagatingNaN($0, $1) }
        case .min: layout.reduce(px, po, initial: T.highest) { T.minPropagatingNaN($0, $1) }
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

    /// Rows per chunk of a parallel column sum, and the most chunks.
    static let columnSumChunkRows = 256, maximumColumnSumChunks = 8

    /// A float32 sum (or mean) over the leading axes of an input, keeping the trailing ones
    /// (a bias gradient of an NHWC activation: `[N·H·W, C]` down to `[C]`; a squeeze-and-excite
    /// block's global average pool, `[H·W, C]`), on the pool: fixed chunks of rows — at most
    /// ``maximumColumnSumChunks``, at least ``columnSumChunkRows`` rows each, or one — sum in
    /// float64 into their own partial rows, then the partials are added in chunk order. The
    /// chunks depend on the shape alone, so the bits never depend on the thread count (one
    /// chunk is the sequential float64 sum ``ReductionLayout/accurateSum(_:_:mean:)`` makes).
    /// False, having written nothing, for other layouts or more columns than fit the partials
    /// (1 MiB). With chunks of at least 2,048 rows, and a scalar loop below two of them,
    /// EfficientNetB0's 56²×144 squeeze took 93 µs (now 35; ORT's global average pool 21).
    static func columnSums(_ x: Tensor, _ out: Tensor, _ layout: ReductionLayout, mean: Bool, _ ctx: KernelContext) throws -> Bool {
        guard layout.dims.count == 2, layout.reduced == [true, false] else { return false }
        let (rows, columns) = (layout.dims[0], layout.dims[1])
        let chunks = Swift.max(1, Swift.min(maximumColumnSumChunks, rows / columnSumChunkRows))
        let bytes = chunks * columns * MemoryLayout<Double>.stride
        guard rows > 0, columns > 0, bytes <= 1 << 20 else { return false }
        let px = x.pointer(as: Float.self), po = out.mutablePointer(as: Float.self)
        let scale = mean ? 1 / Double(layout.reducedCount) : 1
        try ctx.withScratchReserved(bytes, "a column sum's partial rows") {
            SharedScratch.withScratch(bytes: bytes) { raw in
                let partials = raw.bindMemory(to: Double.self, capacity: chunks * columns)
                ctx.parallelFor(chunks, blockSize: 1, sharing: (px, partials, rows, columns, chunks)) { s, lo, hi in
                    let (px, partials, rows, columns, chunks) = s
                    for chunk in lo..<hi {
                        let sum = partials + chunk * columns, first = chunk * rows / chunks, last = (chunk + 1) * rows / chunks
                        sum.initialize(repeating: 0, count: columns)
                        VectorKernels.addRows(px, n: columns, rows: first..<last, into: sum)
                    }
                }
                for j in 0..<columns {
                    var total = partials[j]
                    for chunk in 1..<chunks { total += partials[chunk * columns + j] }
                    po[j] = Float(total * scale)
                }
            }
        }
        return true
    }

    /// Index of the first extreme value along one axis: `[outer, n, inner] → [outer, inner]`.
    static func argReduce(_ ctx: KernelContext, max: Bool) throws -> Tensor {
        let x = ctx.inputs[0], out = try ctx.allocateOutput(0, zeroed: false)
        // The axis as the shape function checks a known one (a computed one is checked here).
        guard let axis = ctx.inputs[1].intScalars()?.first, axis >= -x.rank, axis < x.rank else {
            let given = ctx.inputs[1].intScalars().map { $0.map(String.init).joined(separator: ", ") } ?? "none"
            throw KernelError("Expected dimension in the range [\(-x.rank), \(x.rank)), but got \(given)")
        }
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
        case .string, .resource, .variant: throw KernelError("\(max ? "ArgMax" : "ArgMin") is not defined for \(x.dtype)")
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

    /// The layout for reducing the axes `axes` holds — a value computed at run time (a
    /// plan's known axes are checked by the shape function, in the same words): each in
    /// `-rank..<rank` (a scalar's 0 and −1), none twice.
    init(shape: [Int], runtimeAxes axes: Tensor) throws {
        let values = axes.intScalars() ?? [], rank = shape.count, bound = Swift.max(rank, 1)
        for (i, a) in values.enumerated() {
            guard a >= -bound && a < bound else {
                throw KernelError("Invalid reduction dimension \(a) for input with \(rank) dimensions.")
            }
            let k = a < 0 ? a + bound : a
            guard !values[..<i].contains(where: { ($0 < 0 ? $0 + bound : $0) == k }) else {
                throw KernelError("Invalid reduction arguments: Axes contains duplicate dimension: \(k)")
            }
        }
        self.init(shape: shape, axes: values)
    }

    /// The layout for reducing `axes` (each in `-rank..<rank`; a scalar's 0 and −1 reduce
    /// nothing) of `shape`.
    init(shape: [Int], axes: [Int]) {
        let rank = shape.count
        var isReduced = [Bool](repeating: false, count: rank)
        for a in axes where a >= -rank && a < rank { isReduced[a < 0 ? a + rank : a] = true }
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

    /// `BiasAddGrad`'s reduction of `shape`: every axis but the channels (`data_format`).
    init(biasGradientOf shape: [Int], attrs: [String: AttrValue]) {
        let nchw = attrs["data_format"] == .string("NCHW")
        self.init(shape: shape, axes: nchw ? [0] + Array(2..<shape.count) : Array(0..<(shape.count - 1)))
    }

    /// The number of output elements.
    var outputCount: Int { zip(dims, reduced).reduce(1) { $1.1 ? $0 : $0 * $1.0 } }

    /// `out = Σ x` over the reduced axes (÷ count for a mean), accurately: a contiguous
    /// reduced run is summed pairwise (``pairwiseSum(_:_:)``); when reduced axes also lie
    /// outside the innermost run, each output accumulates those run sums (or elements) in
    /// a float64 accumulator. Sequential and fixed in order: bitwise deterministic.
    func accurateSum<F: FloatScalar>(_ x: UnsafePointer<F>, _ out: UnsafeMutablePointer<F>, mean: Bool) {
        let outCount = outputCount
        let scale = mean ? 1 / Double(reducedCount) : 1  // an empty mean is 0 × ∞ = NaN, as in TF
        // Only the innermost run is reduced: each output is one pairwise sum.
        if reduced.last == true && reduced.dropLast().allSatisfy({ !$0 }) {
            let n = dims.last!
            for o in 0..<outCount { out[o] = F(Double(Self.pairwiseSum(x + o * n, n)) * scale) }
            return
        }
        ThreadScratch.withScratch(bytes: Swift.max(outCount, 1) * MemoryLayout<Double>.stride) { raw in
            let acc = raw.bindMemory(to: Double.self, capacity: Swift.max(outCount, 1))
            acc.initialize(repeating: 0, count: outCount)
            walkRuns { inOffset, outOffset, lastDim, innerReduced in
                if innerReduced {
                    acc[outOffset] += Double(Self.pairwiseSum(x + inOffset, lastDim))
                } else {
                    for j in 0..<lastDim { acc[outOffset &+ j] += Double(x[inOffset &+ j]) }
                }
            }
            for o in 0..<outCount { out[o] = F(acc[o] * scale) }
        }
    }

    /// Pairwise (tree) sum of `n` contiguous values: blocks of up to 256 summed into 8
    /// interleaved partial sums, longer spans split in half — rounding error grows as
    /// O(log n), not O(n). Recursion depth is log2(n / 256), at most 55.
    static func pairwiseSum<F: FloatScalar>(_ p: UnsafePointer<F>, _ n: Int) -> F {
        if n <= 256 {
            var s0: F = 0, s1: F = 0, s2: F = 0, s3: F = 0, s4: F = 0, s5: F = 0, s6: F = 0, s7: F = 0
            var i = 0
            while i &+ 8 <= n {
                s0 += p[i]; s1 += p[i &+ 1]; s2 += p[i &+ 2]; s3 += p[i &+ 3]
                s4 += p[i &+ 4]; s5 += p[i &+ 5]; s6 += p[i &+ 6]; s7 += p[i &+ 7]
                i &+= 8
            }
            var tail: F = 0
            while i < n { tail += p[i]; i &+= 1 }
            return (((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))) + tail
        }
        // Split on a multiple of 8 so blocks stay aligned with the lanes.
        let half = (n / 2) & ~7
        return pairwiseSum(p, half) + pairwiseSum(p + half, n - half)
    }

    /// Calls `body(inOffset, outOffset, lastDim, innerReduced)` for each innermost run of
    /// the input, in memory order, with the output offset the run maps to.
    @inline(__always)
    func walkRuns(_ body: (Int, Int, Int, Bool) -> Void) {
        let total = dims.reduce(1, *)
        guard total > 0 else { return }
        guard let lastDim = dims.last else {
            body(0, 0, 1, true)
            return
        }
        let innerReduced = reduced[dims.count - 1]
        let outer = total / lastDim
        withUnsafeTemporaryAllocation(of: Int.self, capacity: dims.count) { counter in
            counter.initialize(repeating: 0)
            var inOffset = 0, outOffset = 0
            for _ in 0..<outer {
                body(inOffset, outOffset, lastDim, innerReduced)
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
