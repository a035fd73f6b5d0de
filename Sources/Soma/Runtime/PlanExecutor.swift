/// Runs a ``Plan``'s steps in schedule order on the calling thread.
///
/// Intermediates live in an arena taken from the plan's pool for the run; fetched values
/// have storage of their own. Thread-safety: any number of runs of one plan at once (each
/// takes its own arena).
struct PlanExecutor: Sendable {
    let plan: Plan
    let arenas: ArenaPool
    /// Arenas in the parallel layout (no sharing between values).
    let parallelArenas: ArenaPool

    init(plan: Plan) {
        self.plan = plan
        self.arenas = ArenaPool(byteCount: plan.arenaBytes)
        self.parallelArenas = ArenaPool(byteCount: plan.noReuseBytes)
    }

    func run(feeds: [Tensor], state: SessionState, options: SessionOptions) throws -> [Tensor] {
        let intra = options.resolvedIntraOpThreads
        if options.resolvedInterOpThreads > 1 && plan.hasParallelism {
            let arena = parallelArenas.take()
            defer { parallelArenas.give(arena) }
            return try ParallelPlanRun(plan: plan, feeds: feeds, state: state, arena: arena, intraOpThreads: intra).run()
        }
        let arena = arenas.take()
        defer { arenas.give(arena) }
        let values = UnsafeMutablePointer<Tensor?>.allocate(capacity: plan.values.count)
        values.initialize(repeating: nil, count: plan.values.count)
        defer {
            values.deinitialize(count: plan.values.count)
            values.deallocate()
        }
        for (i, value) in plan.values.enumerated() {
            switch value.storage {
            case .feed(let k): values[i] = feeds[k]
            case .constant: values[i] = value.constant
            default: break
            }
        }
        var inputs: [Tensor] = []  // reused by every step: no allocation per step
        for step in plan.steps {
            inputs.removeAll(keepingCapacity: true)
            for (k, v) in step.inputs.enumerated() {
                inputs.append(try Self.read(v, plan: plan, values: values, state: state, by: step, ref: step.refInputs[k]))
            }
            let outputs = try Self.runKernel(step, inputs: inputs, plan: plan, state: state, arena: arena, intraOpThreads: intra)
            for (k, v) in step.outputs.enumerated() { values[v] = outputs[k] }
        }
        return try plan.fetches.map { try Self.read($0, plan: plan, values: values, state: state, by: nil, ref: false).owned() }
    }

    /// A value for a step: computed, fed, constant, or a variable read now.
    static func read(_ v: Int, plan: Plan, values: UnsafeMutablePointer<Tensor?>, state: SessionState,
                     by step: Plan.Step?, ref: Bool) throws -> Tensor {
        if let t = values[v] { return t }
        let value = plan.values[v]
        switch value.storage {
        case .variable(let key):
            return try state.read(key, dtype: value.dtype, shape: value.shape, ref: ref, reader: step?.name)
        case .alias(let of):
            return try read(of, plan: plan, values: values, state: state, by: step, ref: ref)
        default:
            throw SomaError(.internal, "plan value \(value.name) was read before it was computed")
        }
    }

    /// Runs one step's kernel with its planned outputs, reporting failures in TF's wording.
    static func runKernel(_ step: Plan.Step, inputs: [Tensor], plan: Plan, state: SessionState, arena: Arena,
                          intraOpThreads: Int, parallelLayout: Bool = false) throws -> [Tensor] {
        let offsets = parallelLayout ? step.parallelOutputOffsets : step.outputOffsets
        let context = KernelContext(node: step.node, inputs: inputs, outputShapes: step.outputShapes, state: state,
                                    arena: arena, outputOffsets: offsets, threads: intraOpThreads)
        let outputs: [Tensor]
        do {
            outputs = try step.kernel(context)
        } catch let error as KernelError {
            throw SomaError.nodeFailure(error.message, node: step.name, op: step.op,
                                        inputShapes: inputs.map { shapeString($0.shape) }, location: step.node.location)
        } catch let error as ShapeError {
            throw SomaError.nodeFailure(error.message, node: step.name, op: step.op,
                                        inputShapes: inputs.map { shapeString($0.shape) }, location: step.node.location)
        }
        for (k, v) in step.outputs.enumerated() {
            // A kernel must not return arena memory other than its planned slot (or, for
            // a forwarding op, its input): the planner may already have reused it.
            let p = outputs[k].rawPointer
            let inArena = p >= arena.base && p < arena.base + arena.byteCount
            let planned = offsets[k].map { arena.base + $0 == p } ?? false
            var forwarded = false
            if case .alias = plan.values[v].storage { forwarded = true }
            if inArena && !planned && !forwarded {
                throw SomaError(.internal, "kernel of '\(step.name)' (op: '\(step.op)') returned arena memory the plan did not give it")
            }
        }
        return outputs
    }
}
