import SomaSIMD

/// Kernels for activations, softmax and bias addition.
enum NNKernels {
    enum Activation {
        case relu, relu6, leakyRelu, elu, selu, softplus, softsign, sigmoid, tanh

        /// The work per element in simple operations (``MathKernels/UnaryOp/cost``).
        var cost: Int {
            switch self {
            case .elu, .selu, .softplus, .sigmoid, .tanh: 8
            default: 1
            }
        }
    }

    static let table: [String: CPUKernel] = {
        var t: [String: CPUKernel] = [:]
        let activations: [String: Activation] = [
            "Relu": .relu, "Relu6": .relu6, "LeakyRelu": .leakyRelu, "Elu": .elu, "Selu": .selu,
            "Softplus": .softplus, "Softsign": .softsign, "Sigmoid": .sigmoid, "Tanh": .tanh,
        ]
        for (name, op) in activations {
            t[name] = { ctx in
                let x = ctx.inputs[0], out = try ctx.allocateOutput(0, zeroed: false)
                // Only LeakyRelu has an attribute to read (a dictionary look-up per run).
                let alpha = op == .leakyRelu ? Double(ctx.node.float("alpha") ?? 0.2) : 0.2
                switch x.dtype {
                case .float32:
                    let (src, dst, a) = (x.pointer(as: Float.self), out.mutablePointer(as: Float.self), Float(alpha))
                    ctx.parallelFor(x.scalarCount, blockSize: MathKernels.splitBlock(cost: op.cost), sharing: (op, src, dst, a)) { s, lo, hi in
                        let (op, src, dst, a) = s
                        if op == .relu { reluFloat(src + lo, dst + lo, hi - lo) }
                        else { activate(op, src + lo, dst + lo, count: hi - lo, alpha: a) }
                    }
                case .float64:
                    let (src, dst) = (x.pointer(as: Double.self), out.mutablePointer(as: Double.self))
                    ctx.parallelFor(x.scalarCount, blockSize: MathKernels.splitBlock(cost: op.cost), sharing: (op, src, dst, alpha)) { s, lo, hi in
                        let (op, src, dst, alpha) = s
                        activate(op, src + lo, dst + lo, count: hi - lo, alpha: alpha)
                    }
                case .int32: try integerActivate(op, x, out, Int32.self)
                case .int64: try integerActivate(op, x, out, Int64.self)
                case .uint8: try integerActivate(op, x, out, UInt8.self)
                case .bool, .string, .resource, .variant: throw KernelError("\(name) is not defined for \(x.dtype)")
                }
                ctx.setOutput(0, out)
            }
        }
        let gradients: [String: GradientOp] = [
            "ReluGrad": .relu, "Relu6Grad": .relu6, "LeakyReluGrad": .leakyRelu, "EluGrad": .elu, "SeluGrad": .selu,
            "SoftplusGrad": .softplus, "SoftsignGrad": .softsign, "SigmoidGrad": .sigmoid, "TanhGrad": .tanh,
            "SqrtGrad": .sqrt, "RsqrtGrad": .rsqrt, "ReciprocalGrad": .reciprocal,
        ]
        for (name, op) in gradients {
            t[name] = { ctx in
                let out = try ctx.allocateOutput(0, zeroed: false), a = ctx.inputs[0], b = ctx.inputs[1]
                let alpha = op == .leakyRelu ? Double(ctx.node.float("alpha") ?? 0.2) : 0.2
                switch out.dtype {
                case .float32:
                    guard a.shape == b.shape, let f = floatVectorGradient(op) else {
                        gradient(op, a, b, out, alpha: Float(alpha))
                        break
                    }
                    // The vector loops, in fixed blocks on the pool.
                    let (pa, pb, po) = (a.pointer(as: Float.self), b.pointer(as: Float.self), out.mutablePointer(as: Float.self))
                    ctx.parallelFor(out.scalarCount, blockSize: MathKernels.splitBlock, sharing: (f, pa, pb, po)) { s, lo, hi in
                        let (f, pa, pb, po) = s
                        VectorKernels.zip(f, pa + lo, 1, pb + lo, 1, po + lo, count: hi - lo)
                    }
                case .float64: gradient(op, a, b, out, alpha: alpha)
                case .int32 where op == .relu || op == .relu6: integerReluGradient(op, a, b, out, Int32.self)
                case .int64 where op == .relu || op == .relu6: integerReluGradient(op, a, b, out, Int64.self)
                case .uint8 where op == .relu || op == .relu6: integerReluGradient(op, a, b, out, UInt8.self)
                default: throw KernelError("\(name) is not defined for \(out.dtype)")
                }
                ctx.setOutput(0, out)
            }
        }
        t["BiasAddGrad"] = { ctx in
            let g = ctx.inputs[0], out = try ctx.allocateOutput(0)
            let layout = ctx.node.reductionLayout ?? ReductionLayout(biasGradientOf: g.shape, attrs: ctx.node.attrs)
            if g.dtype == .float32, try ReductionKernels.columnSums(g, out, layout, mean: false, ctx) { return ctx.setOutput(0, out) }
            switch g.dtype {
            case .float32: ReductionKernels.reduce(.sum, g, out, layout, Float.self)
            case .float64: ReductionKernels.reduce(.sum, g, out, layout, Double.self)
            case .int32: ReductionKernels.reduce(.sum, g, out, layout, Int32.self)
            case .int64: ReductionKernels.reduce(.sum, g, out, layout, Int64.self)
            case .uint8: ReductionKernels.reduce(.sum, g, out, layout, UInt8.self)
            case .bool, .string, .resource, .variant: throw KernelError("BiasAddGrad is not defined for \(g.dtype)")
            }
            ctx.setOutput(0, out)
        }
        t["SoftmaxCrossEntropyWithLogits"] = { ctx in try crossEntropy(ctx, sparse: false) }
        t["SparseSoftmaxCrossEntropyWithLogits"] = { ctx in try crossEntropy(ctx, sparse: true) }
        t["Softmax"] = { ctx in ctx.setOutput(0, try softmax(ctx, log: false)) }
        t["LogSoftmax"] = { ctx in ctx.setOutput(0, try softmax(ctx, log: true)) }
        t["BiasAdd"] = { ctx in
            let value = ctx.inputs[0], bias = ctx.inputs[1], out = try ctx.allocateOutput(0, zeroed: false)
            let nchw = ctx.node.string("data_format") == "NCHW"
            // Broadcast bias [C] as [C] (NHWC) or [C, 1, …, 1] (NCHW).
            let biasShape = nchw ? [bias.scalarCount] + Array(repeating: 1, count: value.rank - 2) : bias.shape
            try MathKernels.arithmetic(.add, value, bias.reshaped(to: biasShape), out)
            ctx.setOutput(0, out)
        }
        return t
    }()

    static func activate<T: FloatScalar>(_ op: Activation, _ x: Tensor, _ out: Tensor, alpha: T) {
        activate(op, x.pointer(as: T.self), out.mutablePointer(as: T.self), count: x.scalarCount, alpha: alpha)
    }

    /// `dst[i] = f(src[i])` for `count` elements; `dst` may be `src`. Fused kernels call
    /// this same loop, so fused and unfused results are bitwise identical.
    @inline(__always)
    static func activate<T: FloatScalar>(_ op: Activation, _ src: UnsafePointer<T>, _ dst: UnsafeMutablePointer<T>,
                                         count: Int, alpha: T) {
        if T.self == Float.self, count >= VectorMath.width, let f = floatVectorActivation(op) {
            VectorKernels.map(f, UnsafeRawPointer(src).assumingMemoryBound(to: Float.self),
                              UnsafeMutableRawPointer(dst).assumingMemoryBound(to: Float.self), count: count)
            return
        }
        switch op {
        case .relu: forEach(src, dst, count, relu)
        case .relu6: forEach(src, dst, count, relu6)
        case .leakyRelu: forEach(src, dst, count) { (v: T) in v > 0 ? v : v * alpha }
        case .elu: forEach(src, dst, count) { (v: T) in v > 0 ? v : T.expm1(v) }
        case .selu:
            let scale = T(1.0507009873554804934193349852946), a = T(1.6732632423543772848170429916717)
            forEach(src, dst, count) { (v: T) in v > 0 ? scale * v : scale * a * T.expm1(v) }
        case .softplus:
            // ln(1 + eˣ) without overflow: x for large x, eˣ for very negative x.
            let threshold = T.log(T.ulpOfOne) + 2
            forEach(src, dst, count) { (v: T) in v > -threshold ? v : (v < threshold ? T.exp(v) : T.log1p(T.exp(v))) }
        case .softsign: forEach(src, dst, count) { (v: T) in v / (1 + Swift.abs(v)) }
        case .sigmoid:
            // From e = e^(−|x|), so nothing overflows (the same bits as VectorMath.sigmoid).
            forEach(src, dst, count) { (v: T) in
                let e = T.exp(-Swift.abs(v)), s = 1 / (1 + e)
                return v < 0 ? e * s : s
            }
        case .tanh: forEach(src, dst, count) { (v: T) in T.tanh(v) }
        }
    }

    /// The explicitly vectorised float32 form of an activation, where there is one.
    @inline(__always)
    static func floatVectorActivation(_ op: Activation) -> UnaryFunction? {
        switch op {
        case .sigmoid: .sigmoid
        case .tanh: .tanh
        case .relu: .relu
        case .relu6: .relu6
        default: nil
        }
    }

    /// The gradient ops with a float32 vector form (the same formulas as ``gradient(_:_:_:_:alpha:)``).
    static func floatVectorGradient(_ op: GradientOp) -> BinaryFunction? {
        switch op {
        case .relu: .reluGrad
        case .relu6: .relu6Grad
        case .sigmoid: .sigmoidGrad
        case .tanh: .tanhGrad
        default: nil
        }
    }

    /// Elementwise gradient ops: `(gradients, features/outputs)` for activations, `(y, dy)`
    /// for TF's math `*Grad` ops.
    enum GradientOp { case relu, relu6, leakyRelu, elu, selu, softplus, softsign, sigmoid, tanh, sqrt, rsqrt, reciprocal }

    static func gradient<T: FloatScalar>(_ op: GradientOp, _ a: Tensor, _ b: Tensor, _ out: Tensor, alpha: T) {
        let scale = T(1.0507009873554804934193349852946), seluAlpha = T(1.6732632423543772848170429916717)
        switch op {
        case .relu: broadcastMap(a, b, out) { (g: T, x: T) in x > 0 ? g : 0 }
        case .relu6: broadcastMap(a, b, out) { (g: T, x: T) in x > 0 && x < 6 ? g : 0 }
        case .leakyRelu: broadcastMap(a, b, out) { (g: T, x: T) in x > 0 ? g : alpha * g }
        case .elu: broadcastMap(a, b, out) { (g: T, y: T) in y > 0 ? g : g * (y + 1) }
        case .selu: broadcastMap(a, b, out) { (g: T, y: T) in y > 0 ? g * scale : g * (y + scale * seluAlpha) }
        case .softplus: broadcastMap(a, b, out) { (g: T, x: T) in g / (1 + T.exp(-x)) }
        case .softsign: broadcastMap(a, b, out) { (g: T, x: T) in g / ((1 + Swift.abs(x)) * (1 + Swift.abs(x))) }
        case .sigmoid: broadcastMap(a, b, out) { (y: T, dy: T) in dy * y * (1 - y) }
        case .tanh: broadcastMap(a, b, out) { (y: T, dy: T) in dy * (1 - y * y) }
        case .sqrt: broadcastMap(a, b, out) { (y: T, dy: T) in dy * T(0.5) / y }
        case .rsqrt: broadcastMap(a, b, out) { (y: T, dy: T) in dy * T(-0.5) * y * y * y }
        case .reciprocal: broadcastMap(a, b, out) { (y: T, dy: T) in -dy * y * y }
        }
    }

    static func integerReluGradient<T: NumericScalar>(_ op: GradientOp, _ a: Tensor, _ b: Tensor, _ out: Tensor, _: T.Type) {
        let six = T(fromInt: 6)
        if op == .relu { broadcastMap(a, b, out) { (g: T, x: T) in x > T.zero ? g : T.zero } }
        else { broadcastMap(a, b, out) { (g: T, x: T) in x > T.zero && x < six ? g : T.zero } }
    }

    /// Softmax cross-entropy per row, stabilised by the row max: loss `−Σ labels·log_softmax`,
    /// backprop `softmax − labels`. Sparse labels are class indices; one out of range is an
    /// error naming it (TF's wording).
    static func crossEntropy(_ ctx: KernelContext, sparse: Bool) throws {
        let logits = ctx.inputs[0], labels = ctx.inputs[1]
        let loss = try ctx.allocateOutput(0, zeroed: false), backprop = try ctx.allocateOutput(1, zeroed: false)
        let rows = logits.shape[0], classes = logits.shape[1]
        // Sparse labels are read where they are used (int32 or int64): no array per run.
        let labels32 = sparse && labels.dtype == .int32 ? labels.pointer(as: Int32.self) : nil
        let labels64 = sparse && labels.dtype == .int64 ? labels.pointer(as: Int64.self) : nil
        func label(_ r: Int) -> Int { labels32.map { Int($0[r]) } ?? Int(labels64![r]) }
        if sparse {
            for i in 0..<rows where label(i) < 0 || label(i) >= classes {
                throw KernelError("Received a label value of \(label(i)) which is outside the valid range of [0, \(classes)).  Label values: \((0..<rows).map { String(label($0)) }.joined(separator: " ")) (row \(i))")
            }
        }
        func run<T: FloatScalar>(_: T.Type) {
            let x = logits.pointer(as: T.self), l = loss.mutablePointer(as: T.self), bp = backprop.mutablePointer(as: T.self)
            let dense = sparse ? nil : labels.pointer(as: T.self)
            for r in 0..<rows {
                let row = x + r * classes, out = bp + r * classes
                var m = -T.infinity
                for j in 0..<classes { m = Swift.max(m, row[j]) }
                // A float64 accumulator: a float32 one stalls at 2^24 (TF sums in a tree).
                var sum = 0.0
                for j in 0..<classes { sum += Double(T.exp(row[j] - m)) }
                let logSum = T(Double.log(sum)) + m
                var total: T = 0
                let hot = dense == nil ? label(r) : -1
                for j in 0..<classes {
                    let p = T.exp(row[j] - logSum)
                    let target: T = dense.map { $0[r * classes + j] } ?? (hot == j ? 1 : 0)
                    if target != 0 { total -= target * (row[j] - logSum) }
                    out[j] = p - target
                }
                l[r] = total
            }
        }
        if logits.dtype == .float32 { run(Float.self) } else { run(Double.self) }
        ctx.setOutput(0, loss)
        ctx.setOutput(1, backprop)
    }

    /// Selects rather than branches, so loops vectorise; NaN fails both comparisons and
    /// passes through.
    @inline(__always) static func relu<T: FloatScalar>(_ v: T) -> T { v <= 0 ? 0 : v }
    @inline(__always) static func relu6<T: FloatScalar>(_ v: T) -> T { v <= 0 ? 0 : (v >= 6 ? 6 : v) }

    /// The float32 ReLU loop, concrete so that it vectorises (the generic one does not).
    @inline(never)
    static func reluFloat(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        for j in 0..<n { let v = src[j]; dst[j] = v <= 0 ? 0 : v }
    }

    static func integerActivate<T: NumericScalar>(_ op: Activation, _ x: Tensor, _ out: Tensor, _: T.Type) throws {
        switch op {
        case .relu: map(x, out) { (v: T) in Swift.max(v, T.zero) }
        case .relu6: map(x, out) { (v: T) in Swift.min(Swift.max(v, T.zero), T(fromInt: 6)) }
        default: throw KernelError("\(op) is not defined for \(T.dtype)")
        }
    }

    /// Softmax or log-softmax over the last axis, stabilised by subtracting the row max.
    static func softmax(_ ctx: KernelContext, log: Bool) throws -> Tensor {
        let x = ctx.inputs[0], out = try ctx.allocateOutput(0, zeroed: false)
        switch x.dtype {
        case .float32: softmax(x, out, log: log, ctx, Float.self)
        case .float64: softmax(x, out, log: log, ctx, Double.self)
        default: throw KernelError("softmax is not defined for \(x.dtype)")
        }
        return out
    }

    /// Row by row; blocks of rows run on several threads.
    static func softmax<T: FloatScalar>(_ x: Tensor, _ out: Tensor, log: Bool, _ ctx: KernelContext, _: T.Type) {
        let n = x.shape.last ?? 1
        guard n > 0 else { return }
        let rows = x.scalarCount / n
        let px = x.pointer(as: T.self), po = out.mutablePointer(as: T.self)
        ctx.parallelFor(rows, blockSize: Swift.max(1, softmaxBlock / n), sharing: (px, po, n, log)) { s, lo, hi in
            let (px, po, n, log) = s
            softmaxRows(px, po, n: n, rows: lo..<hi, log: log)
        }
    }

    /// Values per parallel block of a softmax: an exponential and three passes per value
    /// make a block of ``MathKernels/splitBlock`` (an attention block's `[8, 64, 64]` scores)
    /// 28 µs of one thread's time.
    static let softmaxBlock = MathKernels.splitBlock / 8

    static func softmaxRows<T: FloatScalar>(_ px: UnsafePointer<T>, _ po: UnsafeMutablePointer<T>, n: Int, rows: Range<Int>, log: Bool) {
        if T.self == Float.self {
            return softmaxRows(UnsafeRawPointer(px).assumingMemoryBound(to: Float.self),
                               UnsafeMutableRawPointer(po).assumingMemoryBound(to: Float.self), n: n, rows: rows, log: log)
        }
        for r in rows {
            let row = px + r * n, dst = po + r * n
            var m = -T.infinity
            for j in 0..<n where row[j] > m || row[j].isNaN { m = row[j] }
            // A float64 accumulator: a float32 one stalls at 2^24 (TF sums in a tree).
            var sum = 0.0
            for j in 0..<n {
                let e = T.exp(row[j] - m)
                dst[j] = e
                sum += Double(e)
            }
            if log {
                let lse = T(Double.log(sum))
                for j in 0..<n { dst[j] = row[j] - m - lse }
            } else {
                let inv = T(1 / sum)
                for j in 0..<n { dst[j] *= inv }
            }
        }
    }

    /// The float32 rows in vectors (``VectorLoops/softmaxRows(_:_:n:rows:log:)``).
    static func softmaxRows(_ px: UnsafePointer<Float>, _ po: UnsafeMutablePointer<Float>, n: Int, rows: Range<Int>, log: Bool) {
        VectorKernels.softmaxRows(px, po, n: n, rows: rows, log: log)
    }
}
