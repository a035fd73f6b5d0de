import Foundation

/// A `While` loop whose every step is one fused recurrent cell — a Keras LSTM or GRU layer
/// once its body is compiled (``LoopVariablePruning``, ``LoopInputProjectionHoisting`` and
/// ``RecurrentCellFusion`` leave it reading step `t` of a list, running the cell and
/// writing `h` into another list) — run as one kernel: the `While` kernel recognises the
/// body's and the condition's plans (plain data, ``recognize(cond:body:count:)``) and runs
/// the steps itself, with no sub-plan calls between them.
///
/// What it is for: a loop step's own work is small — a `[32, 64]·[64, 256]` product and the
/// cell's gates take ~8 µs on two threads — and running the body as a plan costs ~4.6 µs
/// more per step, serially (the condition's and the body's plan runs, their argument
/// checks, the list kernels' copies). TensorFlow Lite's converter fuses the same loop into
/// one LSTM op, and ONNX Runtime runs Keras' LSTM and GRU as one op each. Measured (frozen
/// Keras layers, two threads, A/B medians): see ARCHITECTURE.md, Control flow.
///
/// Contract: the loop variables after the fast steps are exactly those the plans would
/// have computed — each step runs the same cell kernel (``FusedKernels/lstmStep`` or
/// ``FusedKernels/gruStep``) on the same operands, reads the list element `GetItem` would,
/// and sets the element `SetItem` would (the new `h`, in storage of its own: a row of one
/// tensor the output list adopts, or the last of two buffers taking turns). Where a
/// step is one the fast path does not take — an element missing or of another shape, an
/// index out of range — it stops, and the kernel's loop of plan runs goes on from there,
/// failing (or growing a list) as TF's kernels do. Recognised: a condition of one
/// `Less(time, limit)`; a body of one `TensorListGetItem(inputs, time)`, one
/// `_SomaFusedLSTMCell(item, h, U, b, c)` or `_SomaFusedGRUCell(x, h, U, b)` — `x` the item,
/// or Keras' `BiasAdd(item, b_input)` — where a bias may be a row of an `Unpack`ed loop
/// invariant (Keras' GRU keeps both biases in one `[2, 3H]` variable), one
/// `TensorListSetItem(outputs, time or a constant, h')` and `AddV2(time, 1)` (and a second
/// `AddV2(counter, 1)`), every other variable passed through unchanged — in the order the
/// plans list them, nothing else but `Identity`s. A loop run with numerics checked, or in a
/// session without ``SessionOptions/fusesRecurrentLoops``, runs its plans; a traced run
/// shows the loop as its `While` step.
struct RecurrentLoop: Sendable {
    /// A loop variable, a constant of the plans, or row `k` of one (an `Unpack` along axis 0).
    indirect enum Operand: Sendable {
        case variable(Int)
        case constant(Tensor)
        case row(Operand, Int)
    }

    /// The cell each step runs.
    enum Cell: Sendable {
        /// `c`: the cell state's loop variable; `order`: the input, forget, cell and output gates' parts.
        case lstm(c: Int, order: (Int, Int, Int, Int))
        /// `order`: the update, reset and candidate gates' parts; `inputBias`: what Keras adds
        /// to the item before the cell, if anything.
        case gru(order: (Int, Int, Int), inputBias: Operand?)
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
    let h: Int
    let kernel: Operand, bias: Operand
    let cell: Cell

    /// The loop `cond`/`body` compiled for these arguments runs as one fused cell per step
    /// (memoised on the body per argument signature); `nil` when it does not fit the pattern
    /// or does not compile (the plan runs then report why).
    static func recognized(cond: GraphFunction, body: GraphFunction, arguments: [Tensor]) -> RecurrentLoop? {
        // The last call's arguments again (every run of a plan): no key to build.
        if let last = body.runtimeRecent.withLock({ $0[FunctionCalls.recentRecurrentLoop] }) as? Recognition,
           last.key.cond == ObjectIdentifier(cond), FunctionCalls.signature(last.key.shapes, last.key.listShapes, fits: arguments) {
            return last.loop
        }
        let key = Key(cond: ObjectIdentifier(cond), shapes: arguments.map(\.shape), listShapes: arguments.map(FunctionCalls.listShape))
        if let hit = body.runtimeCache.withLock({ $0[key] }) as? Recognition {
            body.runtimeRecent.withLock { $0[FunctionCalls.recentRecurrentLoop] = hit }
            return hit.loop
        }
        let loop: RecurrentLoop?
        if let c = try? FunctionCalls.fitting(cond, arguments, nil), let b = try? FunctionCalls.fitting(body, arguments, nil) {
            loop = recognize(cond: c, body: b, count: arguments.count)
        } else {
            loop = nil
        }
        let recognition = Recognition(key: key, loop: loop)
        body.runtimeCache.withLock { cache in
            if cache.count >= FunctionCalls.cacheCapacity { cache.removeAll() }
            cache[key] = recognition
        }
        body.runtimeRecent.withLock { $0[FunctionCalls.recentRecurrentLoop] = recognition }
        return loop
    }

    struct Key: Hashable, Sendable {
        let cond: ObjectIdentifier
        let shapes: [[Int]]
        let listShapes: [TensorShape?]
    }

    struct Recognition: Sendable {
        let key: Key
        let loop: RecurrentLoop?
    }

    /// Where a plan value comes from.
    private enum Source {
        case variable(Int)
        case constant(Tensor)
        /// Output `output` of step `step`.
        case step(Int, output: Int)
        /// Row `k` of an `Unpack`ed loop invariant.
        case row(Operand, Int)
        case other
    }

    /// `source` as an operand of the loop: a variable, a constant, or a row of one.
    private static func operand(_ source: Source) -> Operand? {
        switch source {
        case .variable(let k): .variable(k)
        case .constant(let t): .constant(t)
        case .row(let base, let k): .row(base, k)
        default: nil
        }
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
                    let step = plan.steps[s]
                    // An `Identity` passes its input on (tf.function writes one per result).
                    if step.op == "Identity" { return source(step.inputs[0]) }
                    // A row of a loop invariant.
                    if step.op == "Unpack", (step.node.int("axis") ?? 0) == 0, let base = RecurrentLoop.operand(source(step.inputs[0])) {
                        return .row(base, k)
                    }
                    return .step(s, output: k)
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
        func isInt32Scalar(_ operand: Operand?) -> Bool {
            guard case .constant(let t)? = operand else { return operand != nil }
            return t.dtype == .int32 && t.rank == 0
        }
        // The condition: time < limit.
        let condSource = sources(cond)
        let condSteps = condPlan.steps.filter { $0.op != "Identity" }
        guard condSteps.count == 1, let less = condSteps.first, less.op == "Less", condPlan.fetches.count == 1,
              case .step(let s, output: 0) = condSource(condPlan.fetches[0]), condPlan.steps[s] === less,
              let time = variable(condSource(less.inputs[0])), let limit = RecurrentLoop.operand(condSource(less.inputs[1])), isInt32Scalar(limit),
              condPlan.values[less.inputs[0]].dtype == .int32 else { return nil }
        // The body's steps, one of each (an `Unpack` and a `BiasAdd` for a GRU).
        let source = sources(body)
        func operand(_ v: Int) -> Operand? { RecurrentLoop.operand(source(v)) }
        func only(_ op: String) -> [Int] { plan.steps.indices.filter { plan.steps[$0].op == op } }
        let gets = only("TensorListGetItem"), sets = only("TensorListSetItem"), adds = only("AddV2")
        let lstms = only("_SomaFusedLSTMCell"), grus = only("_SomaFusedGRUCell"), unpacks = only("Unpack"), biasAdds = only("BiasAdd")
        guard gets.count == 1, lstms.count + grus.count == 1, sets.count == 1, adds.count == 1 || adds.count == 2,
              unpacks.count <= 1, biasAdds.count <= grus.count, plan.fetches.count == count,
              plan.steps.count(where: { $0.op != "Identity" }) == 3 + adds.count + unpacks.count + biasAdds.count else { return nil }
        let cellStep = (lstms + grus)[0]
        let (get, cellNode, set) = (plan.steps[gets[0]], plan.steps[cellStep], plan.steps[sets[0]])
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
        func isItem(_ v: Int) -> Bool { if case .step(gets[0], output: 0) = source(v) { true } else { false } }
        guard get.inputs.count == 3, let inputs = variable(source(get.inputs[0])), variable(source(get.inputs[1])) == time,
              case .constant(let shapeTensor) = source(get.inputs[2]), let requested = try? ListKernels.shape(shapeTensor),
              let h = variable(source(cellNode.inputs[1])), let kernel = operand(cellNode.inputs[2]),
              let bias = operand(cellNode.inputs[3]), let order = cellNode.node.ints("gate_order"),
              set.inputs.count == 3, let outputs = variable(source(set.inputs[0])), case .step(cellStep, output: 0) = source(set.inputs[2])
        else { return nil }
        let cell: Cell, c: Int?
        if lstms.isEmpty {
            // x: the item, or `BiasAdd(item, b_input)`.
            var inputBias: Operand? = nil
            if let b = biasAdds.first {
                let add = plan.steps[b]
                guard add.inputs.count == 2, isItem(add.inputs[0]), (add.node.string("data_format") ?? "NHWC") == "NHWC",
                      let bias = operand(add.inputs[1]), case .step(b, output: 0) = source(cellNode.inputs[0]) else { return nil }
                inputBias = bias
            } else {
                guard isItem(cellNode.inputs[0]) else { return nil }
            }
            guard cellNode.inputs.count == 4, FusedOps.isGateOrder(order, parts: 3) else { return nil }
            (cell, c) = (.gru(order: (order[0], order[1], order[2]), inputBias: inputBias), nil)
        } else {
            guard cellNode.inputs.count == 5, isItem(cellNode.inputs[0]), let state = variable(source(cellNode.inputs[4])),
                  FusedOps.isGateOrder(order) else { return nil }
            (cell, c) = (.lstm(c: state, order: (order[0], order[1], order[2], order[3])), state)
        }
        let writeIndex: Operand?
        switch source(set.inputs[1]) {
        case .variable(let k) where k == time: writeIndex = nil
        case .constant(let t) where t.dtype == .int32 && t.rank == 0: writeIndex = .constant(t)
        default: return nil
        }
        let countedVariables = adds.map(counted)
        guard countedVariables.allSatisfy({ $0 != nil }), countedVariables.contains(time) else { return nil }
        let counter = countedVariables.compactMap { $0 }.first { $0 != time }
        if adds.count == 2 && counter == nil { return nil }
        // Results: the step's new values where they belong, every other variable unchanged.
        var expected = (0..<count).map { Source.variable($0) }
        expected[time] = .step(adds[countedVariables.firstIndex(of: time)!], output: 0)
        if let counter { expected[counter] = .step(adds[countedVariables.firstIndex(of: counter)!], output: 0) }
        expected[outputs] = .step(sets[0], output: 0)
        expected[h] = .step(cellStep, output: 0)
        if let c { expected[c] = .step(cellStep, output: 1) }
        let roles = [time, inputs, outputs, h] + (c.map { [$0] } ?? []) + (counter.map { [$0] } ?? [])
        guard Set(roles).count == roles.count, roles.allSatisfy({ (0..<count).contains($0) }) else { return nil }
        /// The variable an operand reads, if any.
        func base(_ operand: Operand) -> Int? {
            switch operand {
            case .variable(let k): k
            case .constant: nil
            case .row(let of, _): base(of)
            }
        }
        var invariants = [kernel, bias, limit]
        if case .gru(_, let inputBias?) = cell { invariants.append(inputBias) }
        guard !invariants.contains(where: { base($0).map(roles.contains) ?? false }) else { return nil }
        for k in 0..<count {
            switch (source(plan.fetches[k]), expected[k]) {
            case (.variable(let a), .variable(let b)) where a == b: continue
            case (.step(let s, let o), .step(let t, let p)) where s == t && o == p: continue
            default: return nil
            }
        }
        return RecurrentLoop(time: time, limit: limit, counter: counter, inputs: inputs, requestedShape: requested, outputs: outputs,
                             writeIndex: writeIndex, h: h, kernel: kernel, bias: bias, cell: cell)
    }

    /// A variable's or constant's tensor (not a row).
    private func value(_ operand: Operand, _ values: [Tensor]) -> Tensor? {
        switch operand {
        case .variable(let k): values[k]
        case .constant(let t): t
        case .row: nil
        }
    }

    /// `operand` as `width` values of `T`: a vector, or row `k` of a matrix of `width`
    /// columns; `nil` when it is neither. The tensor holds the memory.
    private func vector<T: FloatScalar>(_ operand: Operand, _ values: [Tensor], width: Int, _: T.Type) -> (Tensor, UnsafePointer<T>)? {
        if case .row(let base, let k) = operand {
            guard let t = value(base, values), t.dtype == T.dtype, t.rank == 2, t.shape[1] == width, k < t.shape[0] else { return nil }
            return (t, t.pointer(as: T.self) + k * width)
        }
        guard let t = value(operand, values), t.dtype == T.dtype, t.shape == [width] else { return nil }
        return (t, t.pointer(as: T.self))
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
        let hInitial = values[h], timeTensor = values[time]
        guard let limitTensor = value(limit, values), timeTensor.dtype == .int32, timeTensor.rank == 0, limitTensor.dtype == .int32,
              limitTensor.rank == 0, hInitial.rank == 2, let inputList = values[inputs].list, let listGiven = values[outputs].list
        else { return }
        let (batch, units) = (hInitial.shape[0], hInitial.shape[1])
        let parts: Int
        switch cell {
        case .lstm: parts = 4
        case .gru: parts = 3
        }
        // (h's own shape array, and the gates' compared in place: a run makes no shape arrays.)
        let stateShape = hInitial.shape
        func isGateShape(_ shape: [Int]) -> Bool { shape.count == 2 && shape[0] == batch && shape[1] == parts * units }
        guard let kernel = value(kernel, values), kernel.dtype == T.dtype, kernel.rank == 2, kernel.shape[0] == units,
              kernel.shape[1] == parts * units, let (_, bias) = vector(bias, values, width: parts * units, T.self),
              inputList.elementDType == T.dtype,
              requestedShape.dimensions.map({ $0.count == 2 && ($0[0] ?? batch) == batch && ($0[1] ?? parts * units) == parts * units }) ?? true,
              listGiven.elementDType == T.dtype, listGiven.elementShape.isCompatible(with: stateShape) else { return }
        let limitValue = limitTensor.scalar(as: Int32.self)
        var t = timeTensor.scalar(as: Int32.self)
        guard t < limitValue else { return }
        // The output list: the one given, copied into the arrays of the list this step
        // output last run (taken first: the buffers below are free only once it is).
        var keptOutputs = ctx.keptList(Slot.outputList), outputList = listGiven
        if var reused = keptOutputs.previous, reused.elementDType == listGiven.elementDType {
            keptOutputs.previous = nil
            reused.assign(listGiven)
            outputList = reused
        }
        let fixedIndex = writeIndex.flatMap { value($0, values) }.map { Int($0.scalar(as: Int32.self)) }  // an int32 scalar constant
        if let counter { guard values[counter].dtype == .int32, values[counter].rank == 0 else { return } }
        var count = counter.map { values[$0].scalar(as: Int32.self) }
        let budget = ctx.state.budget, threads = ctx.threads
        let tiling = FusedKernels.RecurrentTiling(batch: batch, units: units)
        func newState(_ what: String) throws -> Tensor {
            try Tensor(dtype: T.dtype, shape: stateShape, zeroed: false, budget: budget, for: "\(what) of shape \(shapeString(stateShape))")
        }
        /// State buffer `slot` the step keeps from run to run (``KernelContext/keptTensor(_:dtype:shape:_:)``).
        func keptState(_ slot: Int, _ what: @autoclosure () -> String) throws -> Tensor {
            try ctx.keptTensor(slot, dtype: T.dtype, shape: stateShape, "\(what()) of shape \(shapeString(stateShape))")
        }
        // Where each step's `h` goes: a layer keeping only its last output (one index) into
        // two buffers taking turns; one keeping every step's into the rows of one tensor the
        // output list then reads in place (its elements unset before, each row whole cache
        // lines); otherwise a tensor of its own per step. Steps never allocate in the first two.
        let stateCount = batch * units
        var outputRows: Tensor? = nil, turns: (Tensor, Tensor)? = nil
        if fixedIndex != nil {
            turns = (try keptState(Slot.output, "a recurrent loop's output"),
                     try keptState(Slot.output + 1, "a recurrent loop's output"))
        } else if outputList.isUnset, stateCount * T.dtype.byteSize % TensorBuffer.alignment == 0 {
            let rows = ctx.keptObject(Slot.rowsShape) { RowsShape() }
            if rows.shape.count != 3 || rows.shape[0] != outputList.count || rows.shape[1] != batch || rows.shape[2] != units {
                rows.shape = [outputList.count, batch, units]
            }
            outputRows = try ctx.keptTensor(Slot.outputRows, dtype: T.dtype, shape: rows.shape,
                                            "a recurrent loop's outputs of shape \(shapeString(rows.shape))")
        }
        let firstIndex = Int(t)
        var hFinal = hInitial
        // Where each block of rows can run every step on its own (``FusedKernels/runsAlongSequence(batch:units:threads:)``),
        // the walk over the steps below only records each one's operands — at most
        // `stepsAhead`, as many as both the condition and the input list allow — and the
        // blocks then run them all, meeting once instead of after every step.
        let alongSequence = FusedKernels.runsAlongSequence(batch: batch, units: units, threads: threads)
        let stepsAhead = t < 0 ? 0 : Swift.max(0, Swift.min(Int(limitValue) - Int(t), inputList.count - Int(t)))
        let stepTable = alongSequence ? try StepTable<T>(count: stepsAhead, ctx) : nil
        defer { stepTable?.give(ctx) }
        /// Runs `step(x, hPrev, h)` on each step's item while the steps are ones it takes,
        /// writing the new `h` where the outputs go; leaves the last `h` in `hFinal`.
        func steps(_ step: (UnsafePointer<T>, UnsafePointer<T>, UnsafeMutablePointer<T>) throws -> Void) throws {
            var hPrev = hInitial.pointer(as: T.self), turn = 0
            while t < limitValue {
                let position = Int(t), index = fixedIndex ?? position
                guard position >= 0, position < inputList.count, let x = inputList.storage(at: position), isGateShape(x.shape),
                      index >= 0, index < outputList.count else { break }
                let h: UnsafeMutablePointer<T>
                if let outputRows {
                    h = outputRows.mutablePointer(as: T.self) + index * stateCount
                } else if let turns {
                    hFinal = turn == 0 ? turns.0 : turns.1
                    h = hFinal.mutablePointer(as: T.self)
                    turn = 1 - turn
                } else {
                    hFinal = try newState("a recurrent loop's output")
                    h = hFinal.mutablePointer(as: T.self)
                    outputList[index] = hFinal
                }
                try step(x.pointer.assumingMemoryBound(to: T.self), hPrev, h)
                hPrev = UnsafePointer(h)
                t += 1
                count = count.map { $0 &+ 1 }
            }
        }
        switch cell {
        case .lstm(let c, let order):
            let cInitial = values[c]
            guard cInitial.dtype == T.dtype, cInitial.shape == stateShape else { return }
            let shape = FusedKernels.LSTMShape(batch: batch, depth: units, units: units, order: order)
            // `c` takes turns between two buffers.
            let cells = (try keptState(Slot.cell, "an LSTM loop's cell state"), try keptState(Slot.cell + 1, "an LSTM loop's cell state"))
            var (cPrev, turn) = (cInitial, 0)
            try ctx.withScratchReserved(shape.scratchBytes(threads: threads, T.self), "an LSTM cell's gates") {
                guard stepTable != nil else {
                    return try steps { x, hPrev, h in
                        let cNext = turn == 0 ? cells.0 : cells.1
                        FusedKernels.lstmStep(shape, input: x, hPrev: hPrev, kernel: kernel.pointer(as: T.self), bias: bias,
                                              cPrev: cPrev.pointer(as: T.self), h: h, c: cNext.mutablePointer(as: T.self), threads: threads)
                        (cPrev, turn) = (cNext, 1 - turn)
                    }
                }
                let table = stepTable!.operands(FusedKernels.LSTMStepOperands<T>.self)
                var taken = 0
                try steps { x, hPrev, h in
                    let cNext = turn == 0 ? cells.0 : cells.1
                    table[taken] = .init(input: x, hPrev: hPrev, cPrev: cPrev.pointer(as: T.self), h: h, c: cNext.mutablePointer(as: T.self))
                    taken += 1
                    (cPrev, turn) = (cNext, 1 - turn)
                }
                FusedKernels.lstmSteps(shape, UnsafeBufferPointer(start: table, count: taken), kernel: kernel.pointer(as: T.self),
                                       bias: bias, threads: threads)
            }
            values[c] = cPrev
        case .gru(let order, let inputBias):
            var biasedInput: (Tensor, UnsafePointer<T>)? = nil
            if let inputBias {
                guard let found = vector(inputBias, values, width: parts * units, T.self) else { return }
                biasedInput = found
            }
            // Keras adds the input's bias before the cell (`BiasAdd`): into one buffer, step by step.
            var sum: Tensor? = nil
            if biasedInput != nil {
                // (In the shape array of the first step's item, which is the gates'; a first
                // step the fused cell does not take leaves the loop to the plans.)
                guard t >= 0, Int(t) < inputList.count, let item = inputList.storage(at: Int(t)), isGateShape(item.shape) else { return }
                sum = try ctx.keptTensor(Slot.biasedInput, dtype: T.dtype, shape: item.shape, "a GRU loop's biased input")
            }
            let scratch = tiling.scratchBytes(parts: 3, threads: threads, T.self)
            try ctx.withScratchReserved(scratch, "a GRU cell's gates") {
                if let stepTable {
                    let table = stepTable.operands(FusedKernels.GRUStepOperands<T>.self)
                    var taken = 0
                    try steps { x, hPrev, h in
                        table[taken] = .init(input: x, hPrev: hPrev, h: h)
                        taken += 1
                    }
                    let inputBias = biasedInput.flatMap { found in sum.map { ($0.mutablePointer(as: T.self), found.1) } }
                    return FusedKernels.gruSteps(batch, units: units, order: order, UnsafeBufferPointer(start: table, count: taken),
                                                 kernel: kernel.pointer(as: T.self), bias: bias, inputBias: inputBias, threads: threads)
                }
                try steps { x, hPrev, h in
                    var input = x
                    if let (_, b) = biasedInput, let sum {
                        let out = sum.mutablePointer(as: T.self), width = parts * units
                        for r in 0..<batch {
                            for j in 0..<width { out[r * width + j] = T.add(input[r * width + j], b[j]) }
                        }
                        input = UnsafePointer(out)
                    }
                    FusedKernels.gruStep(batch: batch, units: units, order: order, input: input, hPrev: hPrev,
                                         kernel: kernel.pointer(as: T.self), bias: bias, h: h, threads: threads)
                }
            }
        }
        guard t != timeTensor.scalar(as: Int32.self) else { return }
        if let outputRows {
            let written = firstIndex..<Int(t)
            guard outputList.adoptRows(outputRows, written) else {
                throw KernelError("a recurrent loop's outputs did not fit its list")  // checked above: unreachable
            }
            // The last `h`, copied out of its row into memory the step keeps: a view of the
            // row would be copied again as the loop's output, and cost a buffer each run.
            let last = try keptState(Slot.lastOutput, "a recurrent loop's last output")
            memcpy(last.rawPointer, outputRows.rawPointer + (written.upperBound - 1) * stateCount * T.dtype.byteSize,
                   stateCount * T.dtype.byteSize)
            hFinal = last
        } else if let fixedIndex {
            outputList[fixedIndex] = hFinal
        }
        values[time] = try scalar(t, Slot.time, ctx)
        if let counter, let count { values[counter] = try scalar(count, Slot.counter, ctx) }
        values[outputs] = keptOutputs.publish(outputList)
        values[h] = hFinal
    }

    /// The slots of the memory the loop's step keeps from run to run: tensors, the output
    /// list, and objects (the `While` kernel keeps its values as object 0).
    private enum Slot {
        static let output = 0, cell = 2, biasedInput = 4, outputRows = 5, time = 6, counter = 7, lastOutput = 8
        static let outputList = 0
        static let rowsShape = 1
    }

    /// The shape of the output rows' tensor, kept with it.
    private final class RowsShape {
        var shape: [Int] = []
    }

    /// Room for `count` steps' operands of `T`: scratch memory reused from run to run
    /// (``SharedScratch``), its bytes reserved from the session's budget until ``give(_:)``.
    /// Taken rather than lent to a closure: the kernel's closures change variables the run
    /// holds, and nested one level deeper the compiler moved six of them to the heap per run.
    private struct StepTable<T: FloatScalar> {
        let block: SharedScratch.Block, bytes: Int

        init(count: Int, _ ctx: KernelContext) throws {
            let (bytes, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<FusedKernels.LSTMStepOperands<T>>.stride)
            guard !overflow else { throw KernelError("a recurrent loop of \(count) steps does not fit in memory", code: .resourceExhausted) }
            do {
                try ctx.state.budget.reserve(bytes, for: "OOM when allocating a recurrent loop's table of \(count) steps")
            } catch {
                throw KernelError(error)
            }
            (self.block, self.bytes) = (SharedScratch.take(bytes: bytes), bytes)
        }

        /// The table as LSTM steps' operands (or GRU steps', which take less room).
        func operands<Operands>(_: Operands.Type) -> UnsafeMutablePointer<Operands> {
            block.base.bindMemory(to: Operands.self, capacity: bytes / MemoryLayout<Operands>.stride)
        }

        func give(_ ctx: KernelContext) {
            SharedScratch.give(block)
            ctx.state.budget.release(bytes)
        }
    }

    /// An int32 scalar holding `value`, in memory the step keeps (slot `slot`).
    private func scalar(_ value: Int32, _ slot: Int, _ ctx: KernelContext) throws -> Tensor {
        let t = try ctx.keptTensor(slot, dtype: .int32, shape: [], "a recurrent loop's counter")
        t.mutablePointer(as: Int32.self).pointee = value
        return t
    }
}
