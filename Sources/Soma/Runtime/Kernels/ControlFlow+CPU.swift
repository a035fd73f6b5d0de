import Foundation

/// Kernels for functional control flow: each runs its branch, or its condition and body,
/// through ``FunctionCalls`` (compiled sub-plans).
enum ControlFlowKernels {
    static let table: [String: CPUKernel] = [
        "If": ifKernel, "StatelessIf": ifKernel,
        "Case": caseKernel, "StatelessCase": caseKernel,
        "While": whileKernel, "StatelessWhile": whileKernel,
        "PartitionedCall": callKernel, "StatefulPartitionedCall": callKernel,
    ]

    private static let callKernel: CPUKernel = { ctx in
        try finish(ctx, try call(try function(ctx, "f"), Array(ctx.inputs), ctx))
    }

    /// TF's `ToBool` for a predicate: a scalar is true when nonzero (a string: when not
    /// empty); any other tensor when it has elements.
    static func truth(_ t: Tensor) -> Bool {
        guard t.rank == 0 else { return t.scalarCount > 0 }
        switch t.dtype {
        case .bool: return t.scalar(as: Bool.self)
        case .float32: return t.scalar(as: Float.self) != 0
        case .float64: return t.scalar(as: Double.self) != 0
        case .int32: return t.scalar(as: Int32.self) != 0
        case .int64: return t.scalar(as: Int64.self) != 0
        case .uint8: return t.scalar(as: UInt8.self) != 0
        case .string: return !(t.byteStrings?.first?.isEmpty ?? true)
        case .resource, .variant: return true
        }
    }

    private static let ifKernel: CPUKernel = { ctx in
        let branch = try function(ctx, truth(ctx.inputs[0]) ? "then_branch" : "else_branch")
        try finish(ctx, try call(branch, Array(ctx.inputs.dropFirst()), ctx))
    }

    /// `branches[branch_index]`, or the last branch when the index is out of range (TF's rule).
    private static let caseKernel: CPUKernel = { ctx in
        guard case .functions(let branches)? = ctx.node.attrs["branches"], !branches.isEmpty else {
            throw KernelError("Attr 'branches' must list at least one function")
        }
        let index = Int(ctx.inputs[0].scalar(as: Int32.self))
        let branch = index >= 0 && index < branches.count ? branches[index] : branches[branches.count - 1]
        try finish(ctx, try call(branch, Array(ctx.inputs.dropFirst()), ctx))
    }

    /// A loop's variables, in an array the `While` step keeps from run to run (its kept
    /// object 0): a run refills it rather than making one.
    private final class LoopValues {
        var tensors: [Tensor] = []
        let bodyResults = FunctionCalls.LoopCalls.Turns()
    }

    private static let whileKernel: CPUKernel = { ctx in
        let cond = try function(ctx, "cond"), body = try function(ctx, "body")
        // The kept array, taken out of its object for the loop (a local, not a class
        // property checked for exclusive access at each use) and put back emptied.
        let kept = ctx.keptObject(0) { LoopValues() }
        var values: [Tensor] = []
        swap(&values, &kept.tensors)
        values.append(contentsOf: ctx.inputs)
        defer {
            values.removeAll(keepingCapacity: true)
            swap(&values, &kept.tensors)
        }
        var condCalls = FunctionCalls.LoopCalls(cond, resultsCarried: false, threads: ctx.threads)
        var bodyCalls = FunctionCalls.LoopCalls(body, resultsCarried: true, threads: ctx.threads, turns: kept.bodyResults)
        var finished = false
        // Observers for the bodies made once per loop, not per iteration.
        let condObserver = ctx.observer?.nested(in: cond.name), bodyObserver = ctx.observer?.nested(in: body.name)
        defer {
            condCalls.release(pooling: finished)
            bodyCalls.release(pooling: finished)
        }
        // A loop whose steps are one fused LSTM or GRU cell each runs them here
        // (``RecurrentLoop``); the plan runs go on from where it stops.
        if ctx.state.fusesRecurrentLoops && ctx.observer?.checkNumerics != true,
           let loop = RecurrentLoop.recognized(cond: cond, body: body, arguments: values) {
            try loop.run(&values, ctx)
        }
        while try condCalls.test(values, state: ctx.state, observer: condObserver) {
            let results = try bodyCalls.call(values, state: ctx.state, observer: bodyObserver)
            // Copied element by element: the values' array and the turns' stay apart, each
            // refilled in place (shared, the next call would copy one of them).
            if results.count == values.count {
                for k in results.indices { values[k] = results[k] }
            } else {
                values = results
            }
        }
        // The last results may view the body's arenas: finish copies them out before release.
        try finish(ctx, values)
        finished = true
    }

    private static func function(_ ctx: KernelContext, _ name: String) throws -> GraphFunction {
        guard let f = ctx.node.functionAttr(name) else { throw KernelError("Missing required function attr '\(name)'") }
        return f
    }

    private static func call(_ f: GraphFunction, _ arguments: [Tensor], _ ctx: KernelContext) throws -> [Tensor] {
        var compiled: FunctionCalls.Compiled? = nil
        return try FunctionCalls.call(f, arguments, compiled: &compiled, state: ctx.state, threads: ctx.threads,
                                      observer: ctx.observer)
    }

    /// Sets the outputs, which must have the dtypes and (where the plan fixed them) the
    /// shapes the node declares.
    private static func finish(_ ctx: KernelContext, _ values: [Tensor]) throws {
        guard values.count == ctx.node.outputCount else {
            throw KernelError("the function returned \(values.count) values for \(ctx.node.outputCount) outputs")
        }
        for (k, value) in values.enumerated() {
            guard value.dtype == ctx.node.outputTypes[k] else {
                throw KernelError("output \(k) is \(value.dtype) but the node declares \(ctx.node.outputTypes[k])")
            }
            if let planned = ctx.outputShapes[k], planned != value.shape {
                throw KernelError("output \(k) has shape \(shapeString(value.shape)), but its shape was inferred as "
                                  + "\(shapeString(planned)); declare a less specific shape (a shape invariant)")
            }
            // A value passed straight through may view the caller's arena, a result the body's:
            // give it storage of its own — the output's planned storage where it has one.
            if value.buffer.isView, value.dtype.isPlain, ctx.outputShapes[k] == value.shape {
                let out = try ctx.allocateOutput(k, zeroed: false)
                memmove(out.rawPointer, value.rawPointer, value.byteCount)
                ctx.setOutput(k, out)
            } else {
                ctx.setOutput(k, try ctx.owned(value))
            }
        }
    }
}
