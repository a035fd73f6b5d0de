import Foundation

/// Kernels for the optimiser updates and `CheckNumerics`. Each update reads and writes
/// its variables through the session state, one variable at a time atomically; the plan
/// orders updates of one variable after its reads.
enum TrainingKernels {
    static let table: [String: CPUKernel] = [
        "ApplyGradientDescent": { ctx in
            try update(ctx, slots: 0) { (v: inout Double, _: inout [Double], s: [Double], g: Double) in v -= s[0] * g }
        },
        "ApplyMomentum": { ctx in
            // Inputs: var, accum, lr, grad, momentum.
            let nesterov = ctx.node.bool("use_nesterov") ?? false
            try update(ctx, slots: 1, scalarInputs: [2, 4], gradInput: 3) { (v: inout Double, a: inout [Double], s: [Double], g: Double) in
                let (lr, momentum) = (s[0], s[1])
                a[0] = a[0] * momentum + g
                v -= nesterov ? g * lr + a[0] * momentum * lr : lr * a[0]
            }
        },
        "ApplyAdam": { ctx in
            let nesterov = ctx.node.bool("use_nesterov") ?? false
            try update(ctx, slots: 2) { (v: inout Double, m: inout [Double], s: [Double], g: Double) in
                let (beta1Power, beta2Power, lr, beta1, beta2, epsilon) = (s[0], s[1], s[2], s[3], s[4], s[5])
                let alpha = lr * (1 - beta2Power).squareRoot() / (1 - beta1Power)
                m[0] += (g - m[0]) * (1 - beta1)
                m[1] += (g * g - m[1]) * (1 - beta2)
                let step = nesterov ? (m[0] * beta1 + (1 - beta1) * g) : m[0]
                v -= alpha * step / (m[1].squareRoot() + epsilon)
            }
        },
        "ApplyRMSProp": { ctx in
            try update(ctx, slots: 2) { (v: inout Double, a: inout [Double], s: [Double], g: Double) in
                let (lr, rho, momentum, epsilon) = (s[0], s[1], s[2], s[3])
                a[0] += (g * g - a[0]) * (1 - rho)
                a[1] = a[1] * momentum + lr * g / (a[0] + epsilon).squareRoot()
                v -= a[1]
            }
        },
        "ApplyAdagrad": { ctx in
            let updateSlots = ctx.node.bool("update_slots") ?? true
            try update(ctx, slots: 1) { (v: inout Double, a: inout [Double], s: [Double], g: Double) in
                if updateSlots { a[0] += g * g }
                v -= s[0] * g / a[0].squareRoot()
            }
        },
        "CheckNumerics": { ctx in
            let x = ctx.inputs[0]
            let values = x.doubleScalars()
            let nan = values.contains { $0.isNaN }, inf = values.contains { $0.isInfinite }
            if nan || inf {
                let what = nan && inf ? "Inf and NaN" : (nan ? "NaN" : "Inf")
                throw KernelError("\(ctx.node.string("message") ?? "") : Tensor had \(what) values")
            }
            ctx.setOutput(0, x)
        },
    ]

    /// Runs `step(var, slots, scalars, grad)` per element, in the variable's dtype's
    /// precision (float32 values go through Double and are rounded once per update).
    /// Input layout: `var`, `slots` slot refs, then scalars, then `grad` — unless
    /// `scalarInputs`/`gradInput` say otherwise.
    static func update(_ ctx: KernelContext, slots: Int, scalarInputs: [Int]? = nil, gradInput: Int? = nil,
                       _ step: (inout Double, inout [Double], [Double], Double) -> Void) throws {
        let gIndex = gradInput ?? ctx.inputs.count - 1
        let scalarIndices = scalarInputs ?? Array((1 + slots)..<gIndex)
        let grad = ctx.inputs[gIndex]
        let scalars = try scalarIndices.map { i -> Double in
            guard ctx.inputs[i].scalarCount == 1 else {
                throw KernelError("input \(i) must be a scalar, got shape \(shapeString(ctx.inputs[i].shape))")
            }
            return ctx.inputs[i].doubleScalars()[0]
        }
        let varKey = ctx.variableKey(ofInput: 0)
        let slotKeys = (1...Swift.max(slots, 1)).prefix(slots).map { ctx.variableKey(ofInput: $0) }
        // Slots first (read, updated below), then the variable, all under the state's lock per variable.
        var slotValues = try slotKeys.map { key -> [Double] in
            guard let t = ctx.state.value(of: key) else { throw KernelError("Attempting to use uninitialized value \(key)") }
            guard t.shape == grad.shape else {
                throw KernelError("var and \(key) do not have the same shape: \(shapeString(t.shape)) \(shapeString(grad.shape))")
            }
            return t.doubleScalars()
        }
        let g = grad.doubleScalars()
        let updated = try ctx.state.update(varKey) { old in
            guard old.shape == grad.shape else {
                throw KernelError("var and grad do not have the same shape\(shapeString(old.shape)) \(shapeString(grad.shape))")
            }
            var v = old.doubleScalars()
            var lane = [Double](repeating: 0, count: slots)
            for i in 0..<v.count {
                for k in 0..<slots { lane[k] = slotValues[k][i] }
                step(&v[i], &lane, scalars, g[i])
                for k in 0..<slots { slotValues[k][i] = lane[k] }
            }
            return Tensor.fromDoubles(v, dtype: old.dtype, shape: old.shape)
        }
        for (key, values) in zip(slotKeys, slotValues) {
            ctx.state.assign(key, Tensor.fromDoubles(values, dtype: grad.dtype, shape: grad.shape))
        }
        ctx.setOutput(0, updated)
    }
}

extension Tensor {
    /// A float tensor from Double values, rounded once to float32 when `dtype` is float32.
    static func fromDoubles(_ values: [Double], dtype: DType, shape: [Int]) -> Tensor {
        dtype == .float64 ? try! Tensor(values, shape: shape) : try! Tensor(values.map { Float($0) }, shape: shape)
    }
}
