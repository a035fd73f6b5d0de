/// A `While` loop whose every step is one fused LSTM cell — a Keras LSTM layer once its
/// body is compiled (``LoopVariablePruning``, ``LoopInputProjectionHoisting`` and
/// ``RecurrentCellFusion`` leave it reading step `t` of a list, running the cell and
/// writing `h` into another list) — run as one kernel: the `While` kernel recognises the
/// body's and the condition's plans (plain data, ``recognize(cond:body:count:)``) and runs
/// the steps itself, with no sub-plan calls between them.
///
/// What it is for: a loop step's own work is small — a `[32, 64]·[64, 256]` product and the
/// cell's gates take ~8 µs on two threads — and running the body as a plan costs ~4.6 µs
/// more per step, serially (the condition's and the body's plan runs, their argument
/// checks, the list kernels' copies). TensorFlow Lite's converter fuses the same loop into
/// one LSTM op, and ONNX Runtime runs Keras' LSTM as one. Measured (frozen Keras LSTM,
/// two threads, A/B medians): see ARCHITECTURE.md, Control flow.
///
/// Contract: the loop variables after the fast steps are exactly those the plans would
/// have computed — each step runs the same cell kernel (``FusedKernels/lstmStep``) on the
/// same operands, reads the list element `GetItem` would, and sets the element `SetItem`
/// would (the new `h`, which is storage of its own). Where a step is one the fast path does
/// not take — an element missing or of another shape, an index out of range — it stops,
/// and the kernel's loop of plan runs goes on from there, failing (or growing a list) as
/// TF's kernels do. Recognised: a condition of one `Less(time, limit)`; a body of one
/// `TensorListGetItem(inputs, time)`, one `_SomaFusedLSTMCell(item, h, U, b, c)`, one
/// `TensorListSetItem(outputs, time or a constant, h')` and `AddV2(time, 1)` (and a second
/// `AddV2(counter, 1)`), every other variable passed through unchanged — in the order the
/// plans list them, nothing else but `Identity`s. A loop run with numerics checked, or in a session without
/// ``SessionOptions/fusesRecurrentLoops``, runs its plans; a traced run shows the loop as
/// its `While` step.
struct RecurrentLoop: Sendable {
    /// A loop variable, or a constant of the plans.
    enum Operand: Sendable {
        case variable(Int)
        case constant(Tensor)
    }

    /// The step counter the condition compares with `limit` and the lists are indexed by.
    let time: Int
    let limit: Operand
    /// While_v2's iteration counter, when the body still counts.
    let counter: Int?
    /// The list read at `time`, and the element shape `GetItem` asks for.
    let inputs: Int
    let requestedShape: TensorShape
    /// The list written, at `time` or (a Keras layer keeping only the last output) at a constant.
    let outputs: Int
    let writeIndex: Operand?
    let h: Int, c: Int
    let kernel: Operand, bias: Operand
    let gateOrder: (Int, Int, Int, Int)

    /// The loop `cond`/`body` compiled for these arguments runs as one fused cell per step
    /// (memoised on the body per argument signature); `nil` when it does not fit the pattern
    /// or does not compile (the plan runs then report why).
    static func recognized(cond: GraphFunction, body: GraphFunction, arguments: [Tensor]) -> RecurrentLoop? {
        let key = Key(cond: ObjectIdentifier(cond), shapes: arguments.map(\.shape), listShapes: arguments.map(FunctionCalls.listShape))
        if let hit = body.runtimeCache.withLock({ $0[key] }) as? Recognition { return hit.loop }
        let loop: RecurrentLoop?
        if let c = try? FunctionCalls.fitting(cond, arguments, nil), let b = try? FunctionCalls.fitting(body, arguments, nil) {
            loop = recognize(cond: c, body: b, count: arguments.count)
        } else {
            loop = nil
        }
        body.runtimeCache.withLock { cache in
            if cache.count >= FunctionCalls.cacheCapacity { cache.removeAll() }
            cache[key] = Recognition(loop: loop)
        }
        return loop
    }

    private struct Key: Hashable, Sendable {
        let cond: ObjectIdentifier
        let shapes: [[Int]]
        let listShapes: [TensorShape?]
    }

    struct Recognition: Sendable {
        let loop: RecurrentLoop?
    }

    /// Where a plan value comes from.
    private enum Source {
        case variable(Int)
        case constant(Tensor)
        /// Output `output` of step `step`.
        case step(Int, output: Int)
        case other
    }

    /// The loop `cond`/`body` (compiled for `count` loop variables) is, where it fits the pattern.
    static func recognize(cond: FunctionCalls.Compiled, body: FunctionCalls.Compiled, count: Int) -> RecurrentLoop? {
        let condPlan = cond.executor.plan, plan = body.executor.plan
        func sources(_ compiled: FunctionCalls.Compiled) -> (Int) -> Source {
            let plan = compiled.executor.plan
            var produced: [Int: (Int, Int)] = [:]
            for (s, step) in plan.steps.enumerated() { for (k, v) in step.outputs.enumerated() { produced[v] = (s, k) } }
            func source(_ v: Int) -> Source {
                if let (s, k) = produced[v] {
                    // An `Identity` passes its input on (tf.function writes one per result).
                    return plan.steps[s].op == "Identity" ? source(plan.steps[s].inputs[0]) : .step(s, output: k)
                }
                switch plan.values[v].storage {
                case .feed(let k): return .variable(compiled.feedArgument[k])
                case .constant: return plan.values[v].constant.map { .constant($0) } ?? .other
                default: return .other
                }
            }
            return source
        }
        func variable(_ source: Source) -> Int? { if case .variable(let k) = source { k } else { nil } }
        func operand(_ source: Source) -> Operand? {
            switch source {
            case .variable(let k): .variable(k)
            case .constant(let t): .constant(t)
            default: nil
            }
        }
        func isInt32Scalar(_ operand: Operand?) -> Bool {
            guard case .constant(let t)? = operand else { return operand != nil }
            return t.dtype == .int32 && t.rank == 0
        }
        // The condition: time < limit.
        let condSource = sources(cond)
        let condSteps = condPlan.steps.filter { $0.op != "Identity" }
        guard condSteps.count == 1, let less = condSteps.first, less.op == "Less", condPlan.fetches.count == 1,
              case .step(let s, output: 0) = condSource(condPlan.fetches[0]), condPlan.steps[s] === less,
              let time = variable(condSource(less.inputs[0])), let limit = operand(condSource(less.inputs[1])), isInt32Scalar(limit),
              condPlan.values[less.inputs[0]].dtype == .int32 else { return nil }
        // The body's steps, one of each.
        let source = sources(body)
        func only(_ op: String) -> [Int] { plan.steps.indices.filter { plan.steps[$0].op == op } }
        let gets = only("TensorListGetItem"), cells = only("_SomaFusedLSTMCell"), sets = only("TensorListSetItem"), adds = only("AddV2")
        guard gets.count == 1, cells.count == 1, sets.count == 1, adds.count == 1 || adds.count == 2,
              plan.steps.count(where: { $0.op != "Identity" }) == 3 + adds.count, plan.fetches.count == count else { return nil }
        let (get, cell, set) = (plan.steps[gets[0]], plan.steps[cells[0]], plan.steps[sets[0]])
        // Each `AddV2(variable, 1)` in int32: which variable it counts.
        func counted(_ s: Int) -> Int? {
            let add = plan.steps[s]
            guard add.inputs.count == 2, plan.values[add.outputs[0]].dtype == .int32 else { return nil }
            for (a, b) in [(add.inputs[0], add.inputs[1]), (add.inputs[1], add.inputs[0])] {
                if let k = variable(source(a)), case .constant(let one) = source(b), one.dtype == .int32, one.rank == 0,
                   one.scalar(as: Int32.self) == 1 { return k }
            }
            return nil
        }
        guard get.inputs.count == 3, let inputs = variable(source(get.inputs[0])), variable(source(get.inputs[1])) == time,
              case .constant(let shapeTensor) = source(get.inputs[2]), let requested = try? ListKernels.shape(shapeTensor),
              cell.inputs.count == 5, case .step(gets[0], output: 0) = source(cell.inputs[0]),
              let h = variable(source(cell.inputs[1])), let c = variable(source(cell.inputs[4])),
              let kernel = operand(source(cell.inputs[2])), let bias = operand(source(cell.inputs[3])),
              let order = cell.node.ints("gate_order"), FusedOps.isGateOrder(order),
              set.inputs.count == 3, let outputs = variable(source(set.inputs[0])), case .step(cells[0], output: 0) = source(set.inputs[2])
        else { return nil }
        let index = source(set.inputs[1])
        let writeIndex: Operand?
        switch index {
        case .variable(let k) where k == time: writeIndex = nil
        case .constant(let t) where t.dtype == .int32 && t.rank == 0: writeIndex = .constant(t)
        default: return nil
        }
        let countedVariables = adds.map(counted)
        guard countedVariables.allSatisfy({ $0 != nil }), countedVariables.contains(time) else { return nil }
        let counter = countedVariables.compactMap { $0 }.first { $0 != time }
        if adds.count == 2 && counter == nil { return nil }
        // Results: the step's new values where they belong, every other variable unchanged.
        var expected = Array(repeating: Source.other, count: count)
        for k in 0..<count { expected[k] = .variable(k) }
        expected[time] = .step(adds[countedVariables.firstIndex(of: time)!], output: 0)
        if let counter { expected[counter] = .step(adds[countedVariables.firstIndex(of: counter)!], output: 0) }
        expected[outputs] = .step(sets[0], output: 0)
        expected[h] = .step(cells[0], output: 0)
        expected[c] = .step(cells[0], output: 1)
        let roles = [time, inputs, outputs, h, c] + (counter.map { [$0] } ?? [])
        guard Set(roles).count == roles.count, roles.allSatisfy({ (0..<count).contains($0) }) else { return nil }
        for operand in [kernel, bias, limit] {
            if case .variable(let k) = operand, roles.contains(k) { return nil }
        }
        for k in 0..<count {
            switch (source(plan.fetches[k]), expected[k]) {
            case (.variable(let a), .variable(let b)) where a == b: continue
            case (.step(let s, let o), .step(let t, let p)) where s == t && o == p: continue
            default: return nil
            }
        }
        return RecurrentLoop(time: time, limit: limit, counter: counter, inputs: inputs, requestedShape: requested, outputs: outputs,
                             writeIndex: writeIndex, h: h, c: c, kernel: kernel, bias: bias,
                             gateOrder: (order[0], order[1], order[2], order[3]))
    }

    private func value(_ operand: Operand, _ values: [Tensor]) -> Tensor {
        switch operand {
        case .variable(let k): values[k]
        case .constant(let t): t
        }
    }

    /// Runs the loop's steps while its condition holds and each is one the fused cell can
    /// take, leaving the loop variables after the last step run in `values` (the caller's
    /// loop of plan runs goes on from there).
    func run(_ values: inout [Tensor], _ ctx: KernelContext) throws {
        switch values[h].dtype {
        case .float32: try run(&values, ctx, Float.self)
        case .float64: try run(&values, ctx, Double.self)
        default: return
        }
    }

    private func run<T: FloatScalar>(_ values: inout [Tensor], _ ctx: KernelContext, _: T.Type) throws {
        let (hInitial, cInitial, kernel, bias) = (values[h], values[c], value(kernel, values), value(bias, values))
        let limitTensor = value(limit, values), timeTensor = values[time]
        guard timeTensor.dtype == .int32, timeTensor.rank == 0, limitTensor.dtype == .int32, limitTensor.rank == 0,
              hInitial.rank == 2, let inputList = values[inputs].list, var outputList = values[outputs].list else { return }
        let (batch, units) = (hInitial.shape[0], hInitial.shape[1])
        let stateShape = [batch, units], gateShape = [batch, 4 * units]
        guard [cInitial, kernel, bias].allSatisfy({ $0.dtype == T.dtype }), cInitial.shape == stateShape,
              kernel.shape == [units, 4 * units], bias.shape == [4 * units],
              inputList.elementDType == T.dtype, requestedShape.isCompatible(with: gateShape),
              outputList.elementDType == T.dtype, outputList.elementShape.isCompatible(with: stateShape) else { return }
        let limitValue = limitTensor.scalar(as: Int32.self)
        var t = timeTensor.scalar(as: Int32.self)
        guard t < limitValue else { return }
        let fixedIndex = writeIndex.map { Int(value($0, values).scalar(as: Int32.self)) }  // an int32 scalar constant
        if let counter { guard values[counter].dtype == .int32, values[counter].rank == 0 else { return } }
        var count = counter.map { values[$0].scalar(as: Int32.self) }
        let cell = FusedKernels.LSTMShape(batch: batch, depth: units, units: units, order: gateOrder)
        let budget = ctx.state.budget
        // `c` takes turns between two buffers; each step's `h` is a new tensor, the list's element.
        let cells = try (0..<2).map { _ in
            try Tensor(dtype: T.dtype, shape: stateShape, zeroed: false, budget: budget, for: "an LSTM loop's cell state")
        }
        var (hPrev, cPrev, turn) = (hInitial, cInitial, 0)
        try ctx.withScratchReserved(cell.scratchBytes(threads: ctx.threads, T.self), "an LSTM cell's gates") {
            while t < limitValue {
                let step = Int(t), index = fixedIndex ?? step
                guard step >= 0, step < inputList.elements.count, let x = inputList.elements[step], x.dtype == T.dtype, x.shape == gateShape,
                      index >= 0, index < outputList.elements.count else { break }
                let hNext = try Tensor(dtype: T.dtype, shape: stateShape, zeroed: false, budget: budget,
                                       for: "a \(T.dtype) tensor of shape \(shapeString(stateShape))")
                let cNext = cells[turn]
                FusedKernels.lstmStep(cell, input: x.pointer(as: T.self), hPrev: hPrev.pointer(as: T.self),
                                      kernel: kernel.pointer(as: T.self), bias: bias.pointer(as: T.self), cPrev: cPrev.pointer(as: T.self),
                                      h: hNext.mutablePointer(as: T.self), c: cNext.mutablePointer(as: T.self), threads: ctx.threads)
                outputList.elements[index] = hNext
                (hPrev, cPrev, turn) = (hNext, cNext, 1 - turn)
                t += 1
                count = count.map { $0 &+ 1 }
            }
        }
        guard t != timeTensor.scalar(as: Int32.self) else { return }
        values[time] = Tensor(t)
        if let counter, let count { values[counter] = Tensor(count) }
        values[outputs] = Tensor(list: outputList)
        values[h] = hPrev
        values[c] = cPrev
    }
}
