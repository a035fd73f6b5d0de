import Foundation

/// What `fit` returns: the loss and metrics of every epoch by name (Keras' `History`),
/// validation ones prefixed `val_`.
public struct History: Sendable {
    /// The epochs run (0-based).
    public var epochs: [Int] = []
    /// Each logged quantity's value per epoch.
    public var history: [String: [Double]] = [:]

    public subscript(_ name: String) -> [Double] { history[name] ?? [] }
}

/// The training and evaluation ops `compile` adds, and the callables that run them.
struct TrainingGraph {
    let loss: Loss
    let labels: Output
    let lossOutput: Output
    let metrics: [Metric]
    let statistics: [[Output]]
    let trainOp: Node
    let learningRate: Variable?
    let trainStep: Session.Callable
    let evaluationStep: Session.Callable
}

extension Model {
    // MARK: Compile

    /// Adds the training ops (Keras' `compile`): a labels placeholder shaped for `loss`,
    /// the loss, `optimizer`'s updates of the model's trainable variables (and batch
    /// normalisation's moving averages), and each metric's batch statistics; the layers'
    /// regularisation ``Layer/losses`` join the loss (and its reported value). A constant
    /// learning rate becomes a variable (`learning_rate`) that callbacks may change.
    public func compile(optimizer: Optimizer, loss: Loss, metrics: [Metric] = [],
                        file: String = #fileID, line: Int = #line) throws {
        guard outputs.count == 1 else {
            throw SomaError.invalidArgument("compile handles models of one output; '\(name)' has \(outputs.count) — "
                                            + "build the loss and optimiser on model.graph")
        }
        let output = outputs[0]
        try graph.withCallSite(file: file, line: line) {
            let (dtype, shape) = try loss.labelSpec(for: output)
            let labels = try graph.placeholder(dtype, shape: shape, name: graph.node(named: "labels") == nil ? "labels" : "model_labels")
            let lossOutput = try graph.withNameScope("loss") {
                let data = try loss.output(labels: labels, predictions: output)
                let penalties = layers.flatMap(\.losses)
                return try penalties.reduce(data) { try add($0, $1) }
            }
            let resolved = metrics.map { $0.resolved(for: loss) }
            let statistics = try graph.withNameScope("metrics") {
                try resolved.map { try $0.statistics(labels, output) }
            }
            var learningRate: Variable?
            if case .constant(let value) = optimizer.learningRate {
                let v = try graph.withRootScope {
                    try graph.variable(Tensor.scalar(value, dtype: .float32), name: "learning_rate", trainable: false)
                }
                optimizer.learningRate = .tensor(v.value)
                learningRate = v
            }
            let trainable = variables.filter(\.trainable)
            let trainOp = try optimizer.minimize(lossOutput, varList: trainable.isEmpty ? nil : trainable)
            let fetches = [lossOutput] + statistics.joined()
            let phase = try graph.learningPhase()
            let trainStep = try session.makeCallable(feeds: inputs + [labels, phase], fetches: fetches, targets: [trainOp])
            let evaluationStep = try session.makeCallable(feeds: inputs + [labels], fetches: fetches)
            training = TrainingGraph(loss: loss, labels: labels, lossOutput: lossOutput, metrics: resolved,
                                     statistics: statistics, trainOp: trainOp, learningRate: learningRate,
                                     trainStep: trainStep, evaluationStep: evaluationStep)
        }
    }

    /// The compiled training ops, or an error saying to compile.
    func compiled(_ what: String) throws -> TrainingGraph {
        guard let training else {
            throw SomaError.failedPrecondition("\(what) needs a compiled model: call model.compile(optimizer:loss:metrics:) first")
        }
        return training
    }

    // MARK: Fit

    /// Trains for `epochs` passes over `x`/`y` in batches of `batchSize` (Keras' `fit`),
    /// reshuffling each epoch when `shuffle` (seeded by `seed`, else by the graph's seed);
    /// validates on `validationData`, or on the last `validationSplit` of the examples
    /// (taken before shuffling, as Keras does). Shows a progress bar (see ``ProgressBar``)
    /// unless `verbose` is false (and, in data-parallel training, on ranks other than 0).
    ///
    /// - Returns: the loss and metrics per epoch.
    @discardableResult
    public func fit(x: Tensor, y: Tensor, batchSize: Int = 32, epochs: Int = 1, validationSplit: Double = 0,
                    validationData: (x: Tensor, y: Tensor)? = nil, shuffle: Bool = true, seed: UInt64? = nil,
                    callbacks: [Callback] = [], verbose: Bool = true) throws -> History {
        try fit(inputs: [x], y: y, batchSize: batchSize, epochs: epochs, validationSplit: validationSplit,
                validationData: validationData.map { (inputs: [$0.x], y: $0.y) }, shuffle: shuffle, seed: seed,
                callbacks: callbacks, verbose: verbose)
    }

    /// `fit` for a model of several inputs: `inputs[k]` feeds ``inputs``[k] (Keras' `fit`
    /// with a list of arrays).
    @discardableResult
    public func fit(inputs xs: [Tensor], y: Tensor, batchSize: Int = 32, epochs: Int = 1, validationSplit: Double = 0,
                    validationData: (inputs: [Tensor], y: Tensor)? = nil, shuffle: Bool = true, seed: UInt64? = nil,
                    callbacks: [Callback] = [], verbose: Bool = true) throws -> History {
        guard batchSize > 0, (0..<1).contains(validationSplit) else {
            throw SomaError.invalidArgument("fit: batchSize must be positive and validationSplit in [0, 1)")
        }
        let count = try exampleCount(xs, y)
        var (trainX, trainY, validation) = (xs, y, validationData)
        if validationSplit > 0, validation == nil {
            let held = Int((Double(count) * validationSplit).rounded(.down))
            guard held > 0, held < count else {
                throw SomaError.invalidArgument("fit: validationSplit \(validationSplit) of \(count) examples leaves no data on one side")
            }
            let cut = Array(0..<(count - held)), rest = Array((count - held)..<count)
            (trainX, trainY) = (try xs.map { try $0.rows(cut) }, try y.rows(cut))
            validation = (try xs.map { try $0.rows(rest) }, try y.rows(rest))
        }
        let n = trainY.shape[0], steps = (n + batchSize - 1) / batchSize
        var rng = SplitMix64(seed: seed ?? UInt64(truncatingIfNeeded: graph.randomSeed ?? Int.random(in: 0...Int.max)))
        return try train(epochs: epochs, steps: steps, validation: validation, batchSize: batchSize, callbacks: callbacks,
                         verbose: verbose) { _ in
            let order = shuffle ? Array(0..<n).shuffled(using: &rng) : Array(0..<n)
            var step = 0
            return {
                guard step < steps else { return nil }
                defer { step += 1 }
                let rows = Array(order[(step * batchSize)..<Swift.min(n, (step + 1) * batchSize)])
                return (try trainX.map { try $0.rows(rows) }, try trainY.rows(rows))
            }
        }
    }

    /// Trains on a pipeline of batches (Keras' `fit` on a `tf.data.Dataset`): each epoch is
    /// one pass, or `stepsPerEpoch` batches of an endless (`repeat()`) pipeline. For models
    /// of one input.
    @discardableResult
    public func fit(_ batches: DataPipeline, epochs: Int = 1, stepsPerEpoch: Int? = nil,
                    validationData: (x: Tensor, y: Tensor)? = nil, callbacks: [Callback] = [],
                    verbose: Bool = true) throws -> History {
        guard stepsPerEpoch != nil || batches.cardinality != nil else {
            throw SomaError.invalidArgument("fit: an endless pipeline needs stepsPerEpoch")
        }
        guard inputs.count == 1 else {
            throw SomaError.invalidArgument("fit: a pipeline feeds one input, but '\(name)' has \(inputs.count)")
        }
        var shared = stepsPerEpoch.map { _ in batches.makeIterator() }
        return try train(epochs: epochs, steps: stepsPerEpoch ?? batches.cardinality!,
                         validation: validationData.map { ([$0.x], $0.y) }, batchSize: 32, callbacks: callbacks,
                         verbose: verbose) { _ in
            var it = shared ?? batches.makeIterator(), taken = 0
            return {
                if let stepsPerEpoch {
                    guard taken < stepsPerEpoch else { return nil }
                    taken += 1
                }
                guard let e = try it.next() else { return nil }
                if shared != nil { shared = it }
                return ([e.features], e.labels)
            }
        }
    }

    /// The epoch loop shared by the `fit`s: `epochBatches(epoch)` gives the epoch's batches
    /// (one tensor per model input, and the labels).
    private func train(epochs: Int, steps: Int, validation: (inputs: [Tensor], y: Tensor)?, batchSize: Int,
                       callbacks: [Callback], verbose: Bool,
                       epochBatches: (Int) throws -> () throws -> ([Tensor], Tensor)?) throws -> History {
        let training = try compiled("fit")
        let verbose = verbose && Collectives.isRoot  // data-parallel ranks: rank 0 shows progress
        guard epochs >= 0 else { throw SomaError.invalidArgument("fit: epochs must be ≥ 0, got \(epochs)") }
        try initializeIfNeeded()
        stopTraining = false
        var history = History()
        let phase = Tensor(true)
        for c in callbacks { try c.onTrainBegin(model: self) }
        for epoch in 0..<epochs {
            for c in callbacks { try c.onEpochBegin(epoch, model: self) }
            if verbose { print("Epoch \(epoch + 1)/\(epochs)") }
            let progress = verbose ? ProgressPrinter(steps: steps) : nil
            var totals = Totals(training)
            let next = try epochBatches(epoch)
            var step = 0
            while let (bx, by) = try next() {
                let results = try training.trainStep.run(bx + [try by.converted(to: training.labels.dtype), phase])
                totals.add(results, examples: by.shape.first ?? 1)
                let logs = totals.logs()
                for c in callbacks { try c.onBatchEnd(step, logs: logs, model: self) }
                step += 1
                progress?.update(step: step, values: totals.ordered())
            }
            var logs = totals.logs(), shown = totals.ordered()
            if let validation {
                let v = try evaluationTotals(validation.inputs, validation.y, batchSize: batchSize)
                for (name, value) in v.ordered() {
                    logs["val_" + name] = value
                    shown.append(("val_" + name, value))
                }
            }
            progress?.finish(values: shown)
            history.epochs.append(epoch)
            for (name, value) in logs { history.history[name, default: []].append(value) }
            for c in callbacks { try c.onEpochEnd(epoch, logs: logs, model: self) }
            if stopTraining { break }
        }
        for c in callbacks { try c.onTrainEnd(model: self) }
        return history
    }

    // MARK: Evaluate and predict

    /// The loss and metrics on `x`/`y` in inference mode, streamed over batches (Keras'
    /// `evaluate`), by name.
    public func evaluate(x: Tensor, y: Tensor, batchSize: Int = 32) throws -> [String: Double] {
        try evaluate(inputs: [x], y: y, batchSize: batchSize)
    }

    /// `evaluate` for a model of several inputs.
    public func evaluate(inputs xs: [Tensor], y: Tensor, batchSize: Int = 32) throws -> [String: Double] {
        try initializeIfNeeded()
        return try evaluationTotals(xs, y, batchSize: batchSize).logs()
    }

    private func evaluationTotals(_ xs: [Tensor], _ y: Tensor, batchSize: Int) throws -> Totals {
        let training = try compiled("evaluate")
        let n = try exampleCount(xs, y)
        var totals = Totals(training)
        for start in Swift.stride(from: 0, to: n, by: Swift.max(batchSize, 1)) {
            let rows = Array(start..<Swift.min(n, start + batchSize))
            let labels = try y.rows(rows).converted(to: training.labels.dtype)
            totals.add(try training.evaluationStep.run(xs.map { try $0.rows(rows) } + [labels]), examples: rows.count)
        }
        return totals
    }

    /// The model's output for every example of `x`, computed in batches (Keras' `predict`).
    public func predict(_ x: Tensor, batchSize: Int = 32) throws -> Tensor {
        try predict(inputs: [x], batchSize: batchSize)
    }

    /// `predict` for a model of several inputs (and one output).
    public func predict(inputs xs: [Tensor], batchSize: Int = 32) throws -> Tensor {
        guard outputs.count == 1, batchSize > 0 else {
            throw SomaError.invalidArgument("predict: '\(name)' needs one output (it has \(outputs.count)) and a positive batch size; "
                                            + "run model.session for several")
        }
        let n = try exampleCount(xs, nil)
        try initializeIfNeeded()
        let run = try session.makeCallable(feeds: inputs, fetches: outputs)
        var parts: [Tensor] = []
        for start in Swift.stride(from: 0, to: n, by: batchSize) {
            let rows = Array(start..<Swift.min(n, start + batchSize))
            parts.append(try run.run(xs.map { try $0.rows(rows) })[0])
        }
        return try Tensor(concatenatingRows: parts)
    }

    /// The number of examples: one tensor per model input, all (and `y`) with the same
    /// nonzero first dimension.
    private func exampleCount(_ xs: [Tensor], _ y: Tensor?) throws -> Int {
        guard xs.count == inputs.count else {
            throw SomaError.invalidArgument("'\(name)' has \(inputs.count) inputs, but \(xs.count) tensors were given")
        }
        let all = xs + (y.map { [$0] } ?? [])
        guard let n = all.first?.shape.first, n > 0, all.allSatisfy({ $0.rank >= 1 && $0.shape[0] == n }) else {
            throw SomaError.invalidArgument("inputs \(xs.map(\.shape))\(y.map { " and y \($0.shape)" } ?? "") need the same, "
                                            + "nonzero number of examples (first dimension)")
        }
        return n
    }

    // MARK: Weights and learning rate

    /// The current values of ``variables`` (Keras' `get_weights`).
    public func weightValues() throws -> [Tensor] {
        try initializeIfNeeded()
        return try session.run(fetches: variables.map(\.value))
    }

    /// Sets ``variables`` to `values`, in order (Keras' `set_weights`); dtypes and shapes must match.
    public func setWeightValues(_ values: [Tensor]) throws {
        let vs = variables
        guard values.count == vs.count else {
            throw SomaError.invalidArgument("setWeightValues: \(values.count) values for \(vs.count) variables")
        }
        try initializeIfNeeded()
        for (v, t) in zip(vs, values) { try v.load(t, into: session) }
    }

    /// The learning rate `compile` made a variable of.
    public func learningRate() throws -> Double {
        guard let v = try compiled("learningRate").learningRate else {
            throw SomaError.failedPrecondition("the optimizer's learning rate is a tensor of its own, not a variable compile made")
        }
        try initializeIfNeeded()
        return try session.run(v.value).doubleScalars()[0]
    }

    /// Changes the learning rate for the following steps.
    public func setLearningRate(_ value: Double) throws {
        guard let v = try compiled("setLearningRate").learningRate else {
            throw SomaError.failedPrecondition("the optimizer's learning rate is a tensor of its own, not a variable compile made")
        }
        try initializeIfNeeded()
        try v.load(Tensor.scalar(value, dtype: v.dtype), into: session)
    }
}

/// Loss and metric statistics summed over the batches of an epoch.
private struct Totals {
    let training: TrainingGraph
    var lossSum = 0.0, examples = 0
    var sums: [[[Double]]]

    init(_ training: TrainingGraph) {
        self.training = training
        sums = training.statistics.map { $0.map { _ in [] } }
    }

    /// Adds a batch's results: the mean loss, then each metric's statistics.
    mutating func add(_ results: [Tensor], examples batch: Int) {
        lossSum += results[0].doubleScalars()[0] * Double(batch)
        examples += batch
        var k = 1
        for m in sums.indices {
            for s in sums[m].indices {
                let values = results[k].doubleScalars()
                sums[m][s] = sums[m][s].isEmpty ? values : zip(sums[m][s], values).map(+)
                k += 1
            }
        }
    }

    /// `loss` then the metrics, in compile order.
    func ordered() -> [(String, Double)] {
        [("loss", lossSum / Double(Swift.max(examples, 1)))]
            + zip(training.metrics, sums).map { metric, totals in (metric.name, metric.result(totals)) }
    }

    func logs() -> [String: Double] { Dictionary(ordered(), uniquingKeysWith: { a, _ in a }) }
}

extension Variable {
    /// Sets the variable's value in `session` (TF1's `Variable.load`): `value` must have
    /// the variable's dtype and shape.
    public func load(_ value: Tensor, into session: Session) throws {
        guard value.dtype == dtype, shape.isCompatible(with: value.shape) else {
            throw SomaError.invalidArgument("cannot load a \(value.dtype) tensor of shape \(value.shape) into variable "
                                            + "\(name) (\(dtype), shape \(shape))")
        }
        session.state.assign(sessionKey, value)
    }
}

extension Tensor {
    /// The tensor with its numbers converted to `dtype` (labels given as int32 where the
    /// loss wants int64, say), or itself when it already has that dtype.
    func converted(to dtype: DType) throws -> Tensor {
        guard dtype != self.dtype else { return self }
        let values = doubleScalars()
        switch dtype {
        case .float32: return try Tensor(values.map { Float($0) }, shape: shape)
        case .float64: return try Tensor(values, shape: shape)
        case .int32 where self.dtype.isInteger: return try Tensor(values.map { Int32(clamping: Int64($0)) }, shape: shape)
        case .int64 where self.dtype.isInteger: return try Tensor(values.map { Int64($0) }, shape: shape)
        default:
            throw SomaError.invalidArgument("labels of dtype \(self.dtype) cannot be used where \(dtype) is expected")
        }
    }

    /// The examples at `rows` (first-dimension indices), in that order.
    public func rows(_ rows: [Int]) throws -> Tensor {
        guard rank >= 1, dtype != .string, dtype != .variant, dtype != .resource else {
            throw SomaError.invalidArgument("rows: need a numeric tensor with a batch dimension, got \(dtype) \(shape)")
        }
        let stride = shape.dropFirst().reduce(1, *) * dtype.byteSize
        let out = Tensor(dtype: dtype, shape: [rows.count] + shape.dropFirst(), zeroed: false)
        for (k, r) in rows.enumerated() {
            guard (0..<shape[0]).contains(r) else {
                throw SomaError.invalidArgument("rows: index \(r) is outside [0, \(shape[0]))")
            }
            (out.rawPointer + k * stride).copyMemory(from: rawPointer + r * stride, byteCount: stride)
        }
        return out
    }

    /// `parts` joined along the first dimension (their other dimensions equal).
    public init(concatenatingRows parts: [Tensor]) throws {
        guard let first = parts.first else { throw SomaError.invalidArgument("concatenatingRows: no tensors") }
        guard parts.allSatisfy({ $0.dtype == first.dtype && $0.rank >= 1 && $0.shape.dropFirst() == first.shape.dropFirst() }),
              first.dtype != .string, first.dtype != .variant else {
            throw SomaError.invalidArgument("concatenatingRows: tensors differ in dtype or trailing shape")
        }
        self.init(dtype: first.dtype, shape: [parts.reduce(0) { $0 + $1.shape[0] }] + first.shape.dropFirst(), zeroed: false)
        var offset = 0
        for p in parts {
            (rawPointer + offset).copyMemory(from: p.rawPointer, byteCount: p.byteCount)
            offset += p.byteCount
        }
    }
}
