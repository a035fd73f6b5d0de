/// Kernels for resource variables. The executor hands a handle input to its consumer as
/// the variable's value (or, for writes, its session key), as for `VariableV2` refs.
enum ResourceKernels {
    static let table: [String: CPUKernel] = [
        "VarHandleOp": { _ in },
        "ReadVariableOp": { ctx in
            let value = ctx.inputs[0]
            guard value.dtype == ctx.node.outputTypes[0] else {
                throw KernelError("Trying to read variable with wrong dtype. Expected \(ctx.node.outputTypes[0]) got \(value.dtype)")
            }
            ctx.setOutput(0, value)
        },
        "AssignVariableOp": { ctx in
            let key = try ctx.variableKey(ofInput: 0)
            let value = ctx.inputs[1]
            if ctx.node.bool("validate_shape") ?? false, let old = ctx.state.value(of: key), old.shape != value.shape {
                throw KernelError("Trying to assign to variable with tensor with wrong shape. Expected \(shapeString(old.shape)) got \(shapeString(value.shape))")
            }
            if let old = ctx.state.value(of: key), old.dtype != value.dtype {
                throw KernelError("Trying to assign variable with wrong dtype. Expected \(old.dtype) got \(value.dtype)")
            }
            // The value may view a plan's arena, which the next run reuses: keep a copy.
            _ = try ctx.assignCopy(key, value)
        },
        "AssignAddVariableOp": { ctx in _ = try StateKernels.update(ctx, MathKernels.BinaryOp.add) },
        "AssignSubVariableOp": { ctx in _ = try StateKernels.update(ctx, MathKernels.BinaryOp.sub) },
        "VarIsInitializedOp": { ctx in ctx.setOutput(0, Tensor(ctx.state.value(of: try ctx.variableKey(ofInput: 0)) != nil)) },
        "IsVariableInitialized": { ctx in ctx.setOutput(0, Tensor(ctx.state.value(of: try ctx.variableKey(ofInput: 0)) != nil)) },
        "DisableCopyOnRead": { _ in },
        "ResourceGather": { ctx in
            let params = ctx.inputs[0], indices = ctx.inputs[1]
            guard params.rank >= 1 else { throw KernelError("params must be at least 1 dimensional") }
            let out = try ctx.allocateOutput(0, zeroed: false)
            try ArrayKernels.gather(params: params, indices: indices, axis: 0, batchDims: 0, into: out)
            ctx.setOutput(0, out)
        },
    ]
}
