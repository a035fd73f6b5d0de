/// Runs a ``Plan``'s steps in schedule order on the calling thread.
///
/// Intermediates live in an arena taken from the plan's pool for the run, with the run's
/// value table; fetched values have storage of their own unless the plan was compiled
/// with fetches in the arena (then they are copied out before the arena is released). Thread-safety: any number of runs of one plan at once (each
/// takes its own arena).
final class PlanExecutor: Sendable {
    let plan: Plan
    let arenas: ArenaPool
    /// Arenas in the parallel layout (values share bytes only where no order of the steps
    /// overlaps their lifetimes).
    let parallelArenas: ArenaPool
    /// Values set before the first step: (value, plan feed) and (value, constant).
    private let feedSlots: [(value: Int, feed: Int)]
    private let constantSlots: [(value: Int, tensor: Tensor)]

    init(plan: Plan) {
        self.plan = plan
        var feeds: [(Int, Int)] = [], constants: [(Int, Tensor)] = []
        for (i, value) in plan.values.enumerated() {
            switch value.storage {
            case .feed(let k): feeds.append((i, k))
            case .constant: if let t = value.constant { constants.append((i, t)) }
            default: break
            }
        }
        self.feedSlots = feeds
        self.constantSlots = constants
        /// Each step output's (offset, bytes) in one layout.
        func slots(_ offsets: (Plan.Step) -> [Int?]) -> [SIMD2<Int>] {
            Array(Set(plan.steps.flatMap { step in
                zip(offsets(step), zip(step.outputShapes, step.node.outputTypes)).compactMap { offset, output -> SIMD2<Int>? in
                    guard let offset, let shape = output.0 else { return nil }
                    return SIMD2(offset, shape.reduce(1, *) * output.1.byteSize)
                }
            }))
        }
        self.arenas = ArenaPool(byteCount: plan.arenaBytes, slots: slots(\.outputOffsets))
        self.parallelArenas = ArenaPool(byteCount: plan.parallelArenaBytes, slots: slots(\.parallelOutputOffsets))
    }

    /// Runs the plan and returns the fetched values (copies that own their storage).
    func run(feeds: [Tensor], state: SessionState, options: SessionOptions, observer: RunObserver? = nil) throws -> [Tensor] {
        try execute(feed: { feeds[$0] }, state: state, options: options, observer: observer) { read in
            try plan.fetches.map { try read($0).owned(budget: state.budget) }
        }
    }

    /// Runs the plan with plan feed `k` = `feed(k)`, then calls `finish` with a reader of
    /// the run's values while they are still valid (before the arena goes back to the pool).
    /// With an `observer`, each step is timed and/or checked for non-finite outputs; a run
    /// that checks numerics runs its steps in plan order, so the first bad step is well defined.
    /// `outputs`: the caller's tensors for the fetches, one per fetch, each of its fetch's
    /// dtype and static shape and sharing memory with no feed and no other output; kernels
    /// whose step allows it (``Plan/Step/fetchSlots``) write them directly.
    func execute<R>(feed: (Int) -> Tensor, state: SessionState, options: SessionOptions, observer: RunObserver? = nil,
                    supplying outputs: UnsafeBufferPointer<Tensor>? = nil,
                    finish: ((Int) throws -> Tensor) throws -> R) throws -> R {
        let parallel = plan.runsInParallel(options) && observer?.checkNumerics != true
        let pool = parallel ? parallelArenas : arenas
        let arena = try pool.take(budget: state.budget)
        defer { pool.give(arena) }
        if let outputs { arena.supply(outputs) }
        defer { arena.endSupply() }
        // The monitor samples whenever a run may use the pool, whether it adapts or not (the
        // pool's idle threads stop yielding under contention); under contention a run that
        // adapts goes on the calling thread alone (see `ContentionMonitor`).
        let contended = (parallel || options.resolvedIntraOpThreads > 1) && options.contentionMonitor?.isContended() == true
        let alone = contended && options.adaptsToContention
        if alone { options.contentionMonitor?.countRunAlone() }
        return try execute(in: arena, parallel: parallel, alone: alone, feed: feed, state: state, options: options,
                           observer: observer, finish: finish)
    }

    /// Runs the plan in `arena` — one of ``arenas`` (or, when `parallel`, of
    /// ``parallelArenas``) that the caller holds across runs, as a loop does for its
    /// iterations. Values the last run left in the arena are overwritten. `alone`: the
    /// calling thread runs every step, in plan order (which the parallel layout allows
    /// too: it holds for every order the dependencies allow), and kernels use one thread.
    func execute<R>(in arena: Arena, parallel: Bool = false, alone: Bool = false, feed: (Int) -> Tensor,
                    state: SessionState, options: SessionOptions, observer: RunObserver? = nil,
                    finish: ((Int) throws -> Tensor) throws -> R) throws -> R {
        let intra = alone ? 1 : options.resolvedIntraOpThreads
        let values = arena.valueTable(count: plan.values.count)
        defer {
            for i in 0..<plan.values.count { values[i] = nil }
            arena.endRun()
        }
        for slot in feedSlots { values[slot.value] = feed(slot.feed) }
        for slot in constantSlots { values[slot.value] = slot.tensor }
        if parallel && !alone {
            let runner = arena.parallelRun ?? ParallelPlanRun(plan: plan)
            arena.parallelRun = runner
            try runner.run(values: values, state: state, arena: arena, intraOpThreads: intra, observer: observer)
        } else {
            for step in plan.steps {
                try Self.runStep(step, plan: plan, values: values, state: state, arena: arena, intraOpThreads: intra,
                                 parallelLayout: parallel, observer: observer)
                for v in step.releases { values[v] = nil }
            }
        }
        let planValues = plan.values
        return try finish { try Self.read($0, plan: planValues, values: values, state: state, by: nil, ref: false) }
    }

    /// A value for a step: computed, fed, constant, or a variable read now.
    /// (`plan`: the plan's values — the array alone, so that closures capture one reference.)
    static func read(_ v: Int, plan: [Plan.Value], values: UnsafeMutablePointer<Tensor?>, state: SessionState,
                     by step: Plan.Step?, ref: Bool) throws -> Tensor {
        if let t = values[v] { return t }
        let value = plan[v]
        switch value.storage {
        case .variable(let key):
            return try state.read(key, dtype: value.dtype, shape: value.shape, ref: ref, reader: step?.name)
        case .alias(let of):
            return try read(of, plan: plan, values: values, state: state, by: step, ref: ref)
        default:
            throw SomaError(.internal, "plan value \(value.name) was read before it was computed")
        }
    }

    /// Whether plan value `v` is a variable (read at its consumer), through aliases.
    static func isVariable(_ v: Int, plan: [Plan.Value]) -> Bool {
        var v = v
        while true {
            switch plan[v].storage {
            case .variable: return true
            case .alias(let of): v = of
            default: return false
            }
        }
    }

    /// The input shapes a failure reports: a variable handed over by key shows its value's.
    static func inputShapes(_ inputs: UnsafeBufferPointer<Tensor>, _ step: Plan.Step, _ state: SessionState) -> [String] {
        inputs.indices.map { k in
            guard step.variableTargets[k], let key = step.node.inputVariableKeys[k] else { return shapeString(inputs[k].shape) }
            return state.value(of: key).map { shapeString($0.shape) } ?? "?"
        }
    }

    /// Runs one step: reads its inputs, runs its kernel with its planned outputs, and
    /// stores the outputs in `values`, reporting failures in TF's wording. Inputs and
    /// output slots live on the stack: a step allocates nothing of its own.
    static func runStep(_ step: Plan.Step, plan: Plan, values: UnsafeMutablePointer<Tensor?>, state: SessionState,
                        arena: Arena, intraOpThreads: Int, parallelLayout: Bool = false, observer: RunObserver? = nil) throws {
        let planValues = plan.values
        if let definition = step.dynamicDefinition {
            let inputs = try step.inputs.indices.map { k in
                try read(step.inputs[k], plan: planValues, values: values, state: state, by: step, ref: step.variableTargets[k])
            }
            let started = observer?.stepStarts() ?? 0
            let outputs = try Kernels.run(step.node, definition: definition, inputs: inputs, state: state)
            if let observer { try observer.stepFinished(step.node, started: started, inputs: inputs, outputs: outputs) }
            for (v, output) in zip(step.outputs, outputs) { values[v] = output }
            return
        }
        let offsets = parallelLayout ? step.parallelOutputOffsets : step.outputOffsets
        try KernelContext.withContext(node: step.node, inputCount: step.inputs.count, readInput: { k in
            if step.variableTargets[k], isVariable(step.inputs[k], plan: planValues) { return .variableTarget }
            return try read(step.inputs[k], plan: planValues, values: values, state: state, by: step, ref: false)
        }) { inputs, slots in
            let context = KernelContext(node: step.node, inputs: inputs, outputShapes: step.outputShapes, state: state,
                                        outputSlots: slots, arena: arena, outputOffsets: offsets, fetchSlots: step.fetchSlots,
                                        threads: intraOpThreads,
                                        observer: observer)
            let started = observer?.stepStarts() ?? 0
            do {
                try step.kernel(context)
            } catch let error as KernelError {
                throw SomaError.nodeFailure(error.message, node: step.name, op: step.op,
                                            inputShapes: inputShapes(inputs, step, state), location: step.node.location,
                                            code: error.code)
            } catch let error as ShapeError {
                throw SomaError.nodeFailure(error.message, node: step.name, op: step.op,
                                            inputShapes: inputShapes(inputs, step, state), location: step.node.location)
            }
            for (k, v) in step.outputs.enumerated() {
                guard let p = slots[k]?.rawPointer else {
                    throw SomaError(.internal, "kernel of '\(step.name)' (op: '\(step.op)') did not set output \(k)")
                }
                // A kernel must not return arena memory other than its planned slot (or, for
                // a forwarding op, its input): the planner may already have reused it.
                let inArena = arena.contains(p)
                let planned = offsets[k].map { arena.base + $0 == p } ?? false
                var forwarded = false
                if case .alias = planValues[v].storage { forwarded = true }
                if inArena && !planned && !forwarded {
                    throw SomaError(.internal, "kernel of '\(step.name)' (op: '\(step.op)') returned arena memory the plan did not give it")
                }
            }
            if let observer {
                try observer.stepFinished(name: step.name, op: step.op, node: step.node, started: started, inputs: inputs,
                                          outputs: UnsafeBufferPointer(start: slots, count: step.outputs.count))
            }
            // Each output moves from its slot into the value table (a copy counted two
            // references, and the slot's release two more).
            for (k, v) in step.outputs.enumerated() { values[v] = slots[k].take() }
        }
    }
}
