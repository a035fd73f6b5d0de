/// Kernels for sources, state and plumbing.
enum StateKernels {
    static let table: [String: CPUKernel] = [
        "Const": { ctx in ctx.setOutput(0, ctx.node.tensor("value")!) },
        "Placeholder": { ctx in
            let dtype = ctx.node.type("dtype")!, shape = ctx.node.shape("shape") ?? .unknown
            throw SomaError.invalidArgument(
                "You must feed a value for placeholder tensor '\(ctx.node.name)' with dtype \(dtype) and shape \(shape)"
                + ctx.node.locationSuffix)
        },
        "PlaceholderWithDefault": { ctx in ctx.setOutput(0, ctx.inputs[0]) },
        // The executor resolves variable reads at their consumers; the node itself does nothing.
        "VariableV2": { _ in },
        "Assign": { ctx in
            let key = try ctx.variableKey(ofInput: 0)
            let value = ctx.inputs[1]
            if ctx.node.bool("validate_shape") ?? true, let old = ctx.state.value(of: key), old.shape != value.shape {
                throw KernelError("Assign requires shapes of both tensors to match. lhs shape= \(shapeString(old.shape)) "
                                  + "rhs shape= \(shapeString(value.shape))")
            }
            // The value may view a plan's arena, which the next run reuses: keep a copy.
            ctx.setOutput(0, try ctx.assignCopy(key, value))
        },
        "AssignAdd": { ctx in ctx.setOutput(0, try update(ctx, MathKernels.BinaryOp.add)) },
        "AssignSub": { ctx in ctx.setOutput(0, try update(ctx, MathKernels.BinaryOp.sub)) },
        "Identity": { ctx in ctx.setOutput(0, ctx.inputs[0]) },
        "StopGradient": { ctx in ctx.setOutput(0, ctx.inputs[0]) },
        "NoOp": { _ in },
        "IdentityN": { ctx in for (i, input) in ctx.inputs.enumerated() { ctx.setOutput(i, input) } },
    ]

    /// `variable ⊕= delta`, atomically and in place (copied first only when something else
    /// still holds the variable's value).
    static func update(_ ctx: KernelContext, _ op: MathKernels.BinaryOp) throws -> Tensor {
        let delta = ctx.inputs[1]
        return try ctx.state.update(1, key: { _ in try ctx.variableKey(ofInput: 0) }) { values in
            let v = values[0]
            guard v.shape == delta.shape else {
                throw KernelError("Shapes must be equal: variable \(shapeString(v.shape)) and value \(shapeString(delta.shape))")
            }
            try MathKernels.arithmetic(op, v, delta, v)
            return v
        }
    }
}
