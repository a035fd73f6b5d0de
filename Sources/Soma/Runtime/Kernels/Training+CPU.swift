import Foundation

/// Kernels for the optimiser updates and `CheckNumerics`. Each update reads and writes
/// its variables through the session state, one variable at a time atomically; the plan
/// orders updates of one variable after its reads.
enum TrainingKernels {
    /// The `Apply*` kernels, each also registered as its `ResourceApply*` twin (which takes
    /// handles and has no output).
    static let table: [String: CPUKernel] = {
        var t = updates
        for (name, kernel) in updates where name.hasPrefix("Apply") { t["Resource" + name] = kernel }
        return t
    }()

    static let updates: [String: CPUKernel] = [
        "ApplyGradientDescent": { ctx in
            try apply(ctx, slots: 0) { (n, v, _, g, s: [Float]) in
                let alpha = s[0]
                for i in 0..<n { v[i] -= alpha * g[i] }
            } double: { (n, v, _, g, s: [Double]) in
                for i in 0..<n { v[i] -= s[0] * g[i] }
            }
        },
        "ApplyMomentum": { ctx in
            // Inputs: var, accum, lr, grad, momentum.
            let nesterov = ctx.node.bool("use_nesterov") ?? false
            func step<T: FloatScalar>(_ n: Int, _ v: UnsafeMutablePointer<T>, _ a: [UnsafeMutablePointer<T>], _ g: UnsafePointer<T>, _ s: [T]) {
                let (lr, momentum, accum) = (s[0], s[1], a[0])
                for i in 0..<n {
                    accum[i] = accum[i] * momentum + g[i]
                    v[i] -= nesterov ? g[i] * lr + accum[i] * momentum * lr : lr * accum[i]
                }
            }
            try apply(ctx, slots: 1, scalarInputs: [2, 4], gradInput: 3, step, double: step)
        },
        "ApplyAdam": { ctx in
            let nesterov = ctx.node.bool("use_nesterov") ?? false
            func step<T: FloatScalar>(_ n: Int, _ v: UnsafeMutablePointer<T>, _ mv: [UnsafeMutablePointer<T>], _ g: UnsafePointer<T>, _ s: [T]) {
                let (beta1Power, beta2Power, lr, beta1, beta2, epsilon) = (s[0], s[1], s[2], s[3], s[4], s[5])
                let alpha = lr * (1 - beta2Power).squareRoot() / (1 - beta1Power)
                let (m, u) = (mv[0], mv[1])
                for i in 0..<n {
                    m[i] += (g[i] - m[i]) * (1 - beta1)
                    u[i] += (g[i] * g[i] - u[i]) * (1 - beta2)
                    let direction = nesterov ? m[i] * beta1 + (1 - beta1) * g[i] : m[i]
                    v[i] -= alpha * direction / (u[i].squareRoot() + epsilon)
                }
            }
            try apply(ctx, slots: 2, step, double: step)
        },
        "ApplyRMSProp": { ctx in
            func step<T: FloatScalar>(_ n: Int, _ v: UnsafeMutablePointer<T>, _ a: [UnsafeMutablePointer<T>], _ g: UnsafePointer<T>, _ s: [T]) {
                let (lr, rho, momentum, epsilon) = (s[0], s[1], s[2], s[3])
                let (ms, mom) = (a[0], a[1])
                for i in 0..<n {
                    ms[i] += (g[i] * g[i] - ms[i]) * (1 - rho)
                    mom[i] = mom[i] * momentum + lr * g[i] / (ms[i] + epsilon).squareRoot()
                    v[i] -= mom[i]
                }
            }
            try apply(ctx, slots: 2, step, double: step)
        },
        "ApplyAdagrad": { ctx in
            let updateSlots = ctx.node.bool("update_slots") ?? true
            func step<T: FloatScalar>(_ n: Int, _ v: UnsafeMutablePointer<T>, _ a: [UnsafeMutablePointer<T>], _ g: UnsafePointer<T>, _ s: [T]) {
                let (lr, accum) = (s[0], a[0])
                for i in 0..<n {
                    if updateSlots { accum[i] += g[i] * g[i] }
                    v[i] -= lr * g[i] / accum[i].squareRoot()
                }
            }
            try apply(ctx, slots: 1, step, double: step)
        },
        "CheckNumerics": { ctx in
            let x = ctx.inputs[0]
            /// Whether `x` holds a NaN, and whether it holds an infinity.
            func scan<T: FloatScalar>(_: T.Type) -> (nan: Bool, inf: Bool) {
                let p = x.pointer(as: T.self)
                var nan = false, inf = false
                for i in 0..<x.scalarCount where !p[i].isFinite {
                    if p[i].isNaN { nan = true } else { inf = true }
                }
                return (nan, inf)
            }
            let (nan, inf) = x.dtype == .float32 ? scan(Float.self) : scan(Double.self)
            if nan || inf {
                let what = nan && inf ? "Inf and NaN" : (nan ? "NaN" : "Inf")
                throw KernelError("\(ctx.node.string("message") ?? "") : Tensor had \(what) values")
            }
            ctx.setOutput(0, x)
        },
    ]

    typealias Step<T> = (_ count: Int, _ variable: UnsafeMutablePointer<T>, _ slots: [UnsafeMutablePointer<T>],
                         _ grad: UnsafePointer<T>, _ scalars: [T]) -> Void

    /// Runs one update in the variable's dtype, as TF does, over typed buffers. The new
    /// values go into fresh tensors (a value fetched earlier never changes under its
    /// holder); the variable is replaced atomically, then its slots.
    /// Input layout: `var`, `slots` slot refs, scalars, `grad` — unless
    /// `scalarInputs`/`gradInput` say otherwise.
    static func apply(_ ctx: KernelContext, slots: Int, scalarInputs: [Int]? = nil, gradInput: Int? = nil,
                      _ float: Step<Float>, double: Step<Double>) throws {
        let gIndex = gradInput ?? ctx.inputs.count - 1
        let scalarIndices = scalarInputs ?? Array((1 + slots)..<gIndex)
        let grad = ctx.inputs[gIndex]
        for i in scalarIndices where ctx.inputs[i].scalarCount != 1 {
            throw KernelError("input \(i) must be a scalar, got shape \(shapeString(ctx.inputs[i].shape))")
        }
        let slotKeys = try (0..<slots).map { try ctx.variableKey(ofInput: 1 + $0) }
        let newSlots = try slotKeys.map { key -> Tensor in
            guard let t = ctx.state.value(of: key) else { throw KernelError("Attempting to use uninitialized value \(key)" + SessionState.initializerHint) }
            guard t.shape == grad.shape, t.dtype == grad.dtype else {
                throw KernelError("var and \(key) do not have the same shape\(shapeString(t.shape)) \(shapeString(grad.shape))")
            }
            let copy = Tensor(dtype: t.dtype, shape: t.shape, zeroed: false)
            copy.rawPointer.copyMemory(from: t.rawPointer, byteCount: t.byteCount)
            return copy
        }
        let updated = try ctx.state.update(try ctx.variableKey(ofInput: 0)) { old in
            guard old.shape == grad.shape else {
                throw KernelError("var and grad do not have the same shape\(shapeString(old.shape)) \(shapeString(grad.shape))")
            }
            let new = Tensor(dtype: old.dtype, shape: old.shape, zeroed: false)
            new.rawPointer.copyMemory(from: old.rawPointer, byteCount: old.byteCount)
            if old.dtype == .float32 {
                float(new.scalarCount, new.mutablePointer(as: Float.self), newSlots.map { $0.mutablePointer(as: Float.self) },
                      grad.pointer(as: Float.self), scalarIndices.map { ctx.inputs[$0].pointer(as: Float.self)[0] })
            } else {
                double(new.scalarCount, new.mutablePointer(as: Double.self), newSlots.map { $0.mutablePointer(as: Double.self) },
                       grad.pointer(as: Double.self), scalarIndices.map { ctx.inputs[$0].pointer(as: Double.self)[0] })
            }
            return new
        }
        for (key, value) in zip(slotKeys, newSlots) { ctx.state.assign(key, value) }
        if ctx.node.outputCount > 0 { ctx.setOutput(0, updated) }
    }
}
