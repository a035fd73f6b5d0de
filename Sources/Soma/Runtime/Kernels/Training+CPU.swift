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
            try apply(ctx, slots: 0) { (n, v, _, g, s: (Int) -> Float) in
                let alpha = s(0)
                for i in 0..<n { v[i] -= alpha * g[i] }
            } double: { (n, v, _, g, s: (Int) -> Double) in
                let alpha = s(0)
                for i in 0..<n { v[i] -= alpha * g[i] }
            }
        },
        "ApplyMomentum": { ctx in
            // Inputs: var, accum, lr, grad, momentum.
            let nesterov = ctx.node.bool("use_nesterov") ?? false
            try apply(ctx, slots: 1, scalars: 2, scalarInput: { $0 == 0 ? 2 : 4 }, gradInput: 3) {
                momentum($0, $1, $2, $3, $4, nesterov: nesterov)
            } double: { momentum($0, $1, $2, $3, $4, nesterov: nesterov) }
        },
        "ApplyAdam": { ctx in
            let nesterov = ctx.node.bool("use_nesterov") ?? false
            try apply(ctx, slots: 2) { adam($0, $1, $2, $3, $4, nesterov: nesterov) } double: { adam($0, $1, $2, $3, $4, nesterov: nesterov) }
        },
        "ApplyRMSProp": { ctx in
            try apply(ctx, slots: 2) { rmsProp($0, $1, $2, $3, $4) } double: { rmsProp($0, $1, $2, $3, $4) }
        },
        "ApplyAdagrad": { ctx in
            let updateSlots = ctx.node.bool("update_slots") ?? true
            try apply(ctx, slots: 1) { adagrad($0, $1, $2, $3, $4, updateSlots: updateSlots) } double: {
                adagrad($0, $1, $2, $3, $4, updateSlots: updateSlots)
            }
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

    // The update rules, as TF's `training_ops.cc` writes them. (Called from closure literals
    // at each kernel: a closure made from a nested function that captures an attribute
    // would be allocated on every run.)

    static func momentum<T: FloatScalar>(_ n: Int, _ v: UnsafeMutablePointer<T>, _ a: (Int) -> UnsafeMutablePointer<T>,
                                         _ g: UnsafePointer<T>, _ s: (Int) -> T, nesterov: Bool) {
        let (lr, momentum, accum) = (s(0), s(1), a(0))
        for i in 0..<n {
            accum[i] = accum[i] * momentum + g[i]
            v[i] -= nesterov ? g[i] * lr + accum[i] * momentum * lr : lr * accum[i]
        }
    }

    static func adam<T: FloatScalar>(_ n: Int, _ v: UnsafeMutablePointer<T>, _ mv: (Int) -> UnsafeMutablePointer<T>,
                                     _ g: UnsafePointer<T>, _ s: (Int) -> T, nesterov: Bool) {
        let (beta1Power, beta2Power, lr, beta1, beta2, epsilon) = (s(0), s(1), s(2), s(3), s(4), s(5))
        let alpha = lr * (1 - beta2Power).squareRoot() / (1 - beta1Power)
        let (m, u) = (mv(0), mv(1))
        for i in 0..<n {
            m[i] += (g[i] - m[i]) * (1 - beta1)
            u[i] += (g[i] * g[i] - u[i]) * (1 - beta2)
            let direction = nesterov ? m[i] * beta1 + (1 - beta1) * g[i] : m[i]
            v[i] -= alpha * direction / (u[i].squareRoot() + epsilon)
        }
    }

    static func rmsProp<T: FloatScalar>(_ n: Int, _ v: UnsafeMutablePointer<T>, _ a: (Int) -> UnsafeMutablePointer<T>,
                                        _ g: UnsafePointer<T>, _ s: (Int) -> T) {
        let (lr, rho, momentum, epsilon) = (s(0), s(1), s(2), s(3))
        let (ms, mom) = (a(0), a(1))
        for i in 0..<n {
            ms[i] += (g[i] * g[i] - ms[i]) * (1 - rho)
            mom[i] = mom[i] * momentum + lr * g[i] / (ms[i] + epsilon).squareRoot()
            v[i] -= mom[i]
        }
    }

    static func adagrad<T: FloatScalar>(_ n: Int, _ v: UnsafeMutablePointer<T>, _ a: (Int) -> UnsafeMutablePointer<T>,
                                        _ g: UnsafePointer<T>, _ s: (Int) -> T, updateSlots: Bool) {
        let (lr, accum) = (s(0), a(0))
        for i in 0..<n {
            if updateSlots { accum[i] += g[i] * g[i] }
            v[i] -= lr * g[i] / accum[i].squareRoot()
        }
    }

    /// One update over `count` elements: the variable, its slots by index, the gradient, and
    /// the scalar inputs by index (closures, so that a step allocates no arrays).
    typealias Step<T> = (_ count: Int, _ variable: UnsafeMutablePointer<T>, _ slot: (Int) -> UnsafeMutablePointer<T>,
                         _ grad: UnsafePointer<T>, _ scalar: (Int) -> T) -> Void

    /// Runs one update in the variable's dtype, as TF does, over typed buffers, in place:
    /// the variable and its slots are updated together under the state's lock, each copied
    /// first only when something else still holds its value (a fetch keeps what it fetched).
    /// Input layout: `var`, `slots` slot refs, scalars, `grad` — unless `scalars` (how
    /// many), `scalarInput` (scalar j's input) and `gradInput` say otherwise.
    static func apply(_ ctx: KernelContext, slots: Int, scalars: Int? = nil, scalarInput: ((Int) -> Int)? = nil,
                      gradInput: Int? = nil, _ float: Step<Float>, double: Step<Double>) throws {
        let gIndex = gradInput ?? ctx.inputs.count - 1
        let scalarCount = scalars ?? gIndex - 1 - slots
        func input(_ j: Int) -> Int { scalarInput?(j) ?? 1 + slots + j }
        let grad = ctx.inputs[gIndex]
        for j in 0..<scalarCount where ctx.inputs[input(j)].scalarCount != 1 {
            throw KernelError("input \(input(j)) must be a scalar, got shape \(shapeString(ctx.inputs[input(j)].shape))")
        }
        let updated = try ctx.state.update(1 + slots, key: { try ctx.variableKey(ofInput: $0) }) { values in
            for (i, t) in values.enumerated() where t.shape != grad.shape || t.dtype != grad.dtype {
                let what = i == 0 ? "var and grad" : "var and \((try? ctx.variableKey(ofInput: i)) ?? "slot \(i)")"
                throw KernelError("\(what) do not have the same shape\(shapeString(t.shape)) \(shapeString(grad.shape))")
            }
            let v = values[0]
            if v.dtype == .float32 {
                float(v.scalarCount, v.mutablePointer(as: Float.self), { values[1 + $0].mutablePointer(as: Float.self) },
                      grad.pointer(as: Float.self), { ctx.inputs[input($0)].pointer(as: Float.self)[0] })
            } else {
                double(v.scalarCount, v.mutablePointer(as: Double.self), { values[1 + $0].mutablePointer(as: Double.self) },
                       grad.pointer(as: Double.self), { ctx.inputs[input($0)].pointer(as: Double.self)[0] })
            }
            return v
        }
        if ctx.node.outputCount > 0 { ctx.setOutput(0, updated) }
    }
}
