import Foundation
import Testing
@testable import Soma

/// Optimisers, losses, initialisers, random ops and the digits data, against TensorFlow
/// runs recorded by `Tools/make_training_fixtures.py` and against direct formulas.
@Suite struct TrainingTests {
    static let root = Bundle.module.url(forResource: "training", withExtension: nil, subdirectory: "Fixtures")!

    struct OptimizerFixture: Decodable {
        let w0: [Float]
        let c: [Float]
        let steps: Int
        let runs: [String: [[Float]]]
    }

    static func optimizer(_ name: String) -> Optimizer {
        switch name {
        case "GradientDescent": GradientDescentOptimizer(learningRate: 0.1)
        case "Momentum": MomentumOptimizer(learningRate: 0.1, momentum: 0.9)
        case "MomentumNesterov": MomentumOptimizer(learningRate: 0.1, momentum: 0.9, useNesterov: true)
        case "Adam": AdamOptimizer(learningRate: 0.1)
        case "RMSProp": RMSPropOptimizer(learningRate: 0.1, decay: 0.9, momentum: 0.5, epsilon: 1e-6)
        default: AdagradOptimizer(learningRate: 0.1, initialAccumulatorValue: 0.1)
        }
    }

    @Test(arguments: ["GradientDescent", "Momentum", "MomentumNesterov", "Adam", "RMSProp", "Adagrad"])
    func optimizersFollowTensorFlowsTrajectories(_ name: String) throws {
        let fixture = try JSONDecoder().decode(OptimizerFixture.self, from: Data(contentsOf: Self.root.appendingPathComponent("optimizers.json")))
        let g = Graph()
        let w = try g.variable(Tensor(fixture.w0, shape: [4]), name: "w")
        let c = try g.constant(Tensor(fixture.c, shape: [4]))
        let half = try g.constant(Float(0.5)), quarter = try g.constant(Float(0.25))
        let loss = try add(add(reduceSum(multiply(c, w.value)), multiply(half, reduceSum(square(w.value)))),
                           multiply(quarter, reduceSum(square(square(w.value)))))
        let train = try Self.optimizer(name).minimize(loss)
        let session = Session(graph: g)
        try session.run(target: g.globalVariablesInitializer())
        for (k, expected) in fixture.runs[name]!.enumerated() {
            try session.run(target: train)
            let actual = try session.run(w.value).scalars(as: Float.self)
            let error = zip(actual, expected).map { Swift.abs($0 - $1) / Swift.max(1, Swift.abs($1)) }.max()!
            #expect(error <= 1e-5, "\(name) step \(k + 1): \(actual) vs TF \(expected)")
        }
    }

    /// Updates write into the variable's and its slots' own memory, and copy it first only
    /// while something else holds the value: a value fetched before a step keeps it.
    @Test(arguments: ["GradientDescent", "Momentum", "Adam", "RMSProp", "Adagrad"])
    func optimizersUpdateInPlaceAndFetchedValuesKeepTheirs(_ name: String) throws {
        let g = Graph()
        let w = try g.variable(Tensor([Float(1), -2, 3, 0.5]), name: "w")
        let train = try Self.optimizer(name).minimize(reduceSum(square(w.value)))
        let session = Session(graph: g)
        try session.run(target: g.globalVariablesInitializer())
        try session.run(target: train)  // slots exist and hold values of their own from here on
        let slotKeys = session.state.keys.filter { $0 != w.sessionKey && $0.hasPrefix("w/") }
        #expect(slotKeys.count == ["GradientDescent": 0, "Adam": 2, "RMSProp": 2][name] ?? 1, "\(slotKeys)")
        func addresses() -> [UnsafeMutableRawPointer] {
            ([w.sessionKey] + slotKeys).map { session.state.value(of: $0)!.rawPointer }
        }
        let before = addresses()
        try session.run(target: train)
        #expect(addresses() == before, "an update nobody else sees is written in place")
        let held = try session.run(w.value)
        let heldValues = held.scalars(as: Float.self)
        try session.run(target: train)
        #expect(held.scalars(as: Float.self) == heldValues, "a fetched value never changes under its holder")
        #expect(try session.run(w.value).scalars(as: Float.self) != heldValues)
        #expect(addresses()[0] != held.rawPointer)
    }

    struct MLPFixture: Decodable {
        struct Initial: Decodable { let shape: [Int]; let values: [Float] }
        let initial: [String: Initial]
        let learning_rate: Double
        let batches: [[Int]]
        let losses: [Double]
    }

    /// 100 SGD steps of a small MLP on the digits, replayed from TF's initial weights and
    /// batches: every step's loss within 1e-4 relative of TF's.
    @Test func mlpTrainingMatchesTensorFlowsLossCurve() throws {
        let fixture = try JSONDecoder().decode(MLPFixture.self, from: Data(contentsOf: Self.root.appendingPathComponent("mlp_sgd.json")))
        let digits = try Dataset.digits().scaled(by: 1.0 / 16)
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil, 64], name: "x")
        let y = try g.placeholder(.int64, shape: [nil], name: "y")
        func variable(_ name: String) throws -> Variable {
            let i = fixture.initial[name]!
            return try g.variable(Tensor(i.values, shape: i.shape), name: name)
        }
        let (w1, b1, w2, b2) = (try variable("w1"), try variable("b1"), try variable("w2"), try variable("b2"))
        let h = try relu(biasAdd(matmul(x, w1.value), b1.value))
        let logits = try biasAdd(matmul(h, w2.value), b2.value)
        let loss = try Losses.sparseSoftmaxCrossEntropy(labels: y, logits: logits, reduction: .sumOverBatchSize)
        let train = try GradientDescentOptimizer(learningRate: .constant(fixture.learning_rate)).minimize(loss)
        let session = Session(graph: g)
        try session.run(target: g.globalVariablesInitializer())
        var worst = 0.0
        for (step, batch) in fixture.batches.enumerated() {
            let b = try digits.subset(batch).tensors
            let value = try session.run(fetches: [loss], feeds: [x: b.features, y: b.labels], targets: [train])[0]
            let relative = Swift.abs(Double(value.scalar(as: Float.self)) - fixture.losses[step]) / fixture.losses[step]
            worst = Swift.max(worst, relative)
        }
        #expect(worst <= 1e-4, "max relative loss difference over 100 steps: \(worst)")
        #expect(fixture.losses.last! < fixture.losses.first! / 2, "the recorded run learns")
    }

    @Test func globalStepCountsTrainingSteps() throws {
        let g = Graph()
        let w = try g.variable(Tensor([Float(1), 2]), name: "w")
        let step = try g.globalStep()
        #expect(try g.globalStep().name == step.name)
        let train = try GradientDescentOptimizer(learningRate: 0.5).minimize(reduceSum(square(w.value)), globalStep: step)
        let session = Session(graph: g)
        try session.run(target: g.globalVariablesInitializer())
        for _ in 0..<3 { try session.run(target: train) }
        #expect(try session.run(step.value).scalar(as: Int64.self) == 3)
        #expect(try session.run(w.value).scalars(as: Float.self) == [0, 0])  // w −= 0.5·2w
    }

    @Test func schedulesAndClipping() throws {
        let g = Graph()
        let step = try g.globalStep()
        guard case .tensor(let decayed) = try LearningRateSchedule.exponentialDecay(0.1, globalStep: step, decaySteps: 10, decayRate: 0.5, staircase: true),
              case .tensor(let piecewise) = try LearningRateSchedule.piecewiseConstant(globalStep: step, boundaries: [2, 5], values: [1, 0.5, 0.1]) else {
            Issue.record("schedules should be tensors")
            return
        }
        let bump = try step.assignAdd(g.constant(Int64(1)))
        let session = Session(graph: g)
        try session.run(target: g.globalVariablesInitializer())
        var rates: [[Float]] = []
        for _ in 0..<12 {
            rates.append(try session.run(fetches: [decayed, piecewise]).map { $0.scalar(as: Float.self) })
            _ = try session.run(bump)
        }
        #expect(rates.map { $0[0] } == Array(repeating: 0.1, count: 10) + [0.05, 0.05])
        #expect(rates.map { $0[1] } == [1, 1, 1, 0.5, 0.5, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
        let a = try g.constant(Tensor([Float(3), 4])), b = try g.constant(Tensor([Float(12)]))
        let (clipped, norm) = try Clipping.byGlobalNorm([a, nil, b], clipNorm: 6.5)
        #expect(clipped[1] == nil)
        #expect(try session.run(norm).scalar(as: Float.self) == 13)
        #expect(try session.run(clipped[0]!).scalars(as: Float.self) == [1.5, 2])
        #expect(try session.run(Clipping.byValue(a, min: 0, max: 3.5)).scalars(as: Float.self) == [3, 3.5])
    }

    /// Each loss against its formula evaluated directly in Double.
    @Test func lossesFollowTheirFormulas() throws {
        let g = Graph()
        let labels: [Float] = [0, 1, 1, 0, 1, 0], predictions: [Float] = [0.2, 0.7, -1.5, 2.5, 0.9, -0.3]
        let l = try g.constant(Tensor(labels, shape: [2, 3])), p = try g.constant(Tensor(predictions, shape: [2, 3]))
        let weights = try g.constant(Tensor([Float(1), 0, 2], shape: [1, 3]))
        let session = Session(graph: g)
        func value(_ o: Output) throws -> Double { Double(try session.run(o).scalar(as: Float.self)) }
        let d = zip(labels, predictions).map { Double($1) - Double($0) }
        let w = [1.0, 0, 2, 1, 0, 2], nonzero = 4.0
        func weighted(_ f: (Double, Int) -> Double) -> Double { d.indices.map { f(d[$0], $0) * w[$0] }.reduce(0, +) }
        #expect(Swift.abs(try value(Losses.meanSquaredError(labels: l, predictions: p, weights: weights)) - weighted { e, _ in e * e } / nonzero) < 1e-5)
        #expect(Swift.abs(try value(Losses.meanAbsoluteError(labels: l, predictions: p, reduction: .sum)) - d.map(Swift.abs).reduce(0, +)) < 1e-5)
        let huber = d.map { e -> Double in Swift.abs(e) <= 1 ? 0.5 * e * e : Swift.abs(e) - 0.5 }
        #expect(Swift.abs(try value(Losses.huber(labels: l, predictions: p, reduction: .sumOverBatchSize)) - huber.reduce(0, +) / 6) < 1e-5)
        let hinge = zip(labels, predictions).map { Swift.max(0, 1 - (2 * Double($0) - 1) * Double($1)) }
        #expect(Swift.abs(try value(Losses.hinge(labels: l, logits: p, weights: weights, reduction: .mean)) - weighted { _, i in hinge[i] } / w.reduce(0, +)) < 1e-5)
        let sigmoid = zip(labels, predictions).map { z, x -> Double in
            let s = 1 / (1 + Foundation.exp(-Double(x)))
            return -(Double(z) * Foundation.log(s) + (1 - Double(z)) * Foundation.log(1 - s))
        }
        #expect(Swift.abs(try value(Losses.sigmoidCrossEntropy(labels: l, logits: p)) - sigmoid.reduce(0, +) / 6) < 1e-5)
        // Softmax cross-entropy, dense and sparse, on the two rows of p.
        let classes = try g.constant(Tensor([Int64(2), 0]))
        let onehot = try g.constant(Tensor([Float(0), 0, 1, 1, 0, 0], shape: [2, 3]))
        var expected = 0.0
        for (row, label) in [(0, 2), (1, 0)] {
            let r = predictions[(3 * row)..<(3 * row + 3)].map(Double.init)
            expected += Foundation.log(r.map(Foundation.exp).reduce(0, +)) - r[label]
        }
        #expect(Swift.abs(try value(Losses.sparseSoftmaxCrossEntropy(labels: classes, logits: p)) - expected / 2) < 1e-5)
        #expect(Swift.abs(try value(Losses.softmaxCrossEntropy(onehotLabels: onehot, logits: p)) - expected / 2) < 1e-5)
    }

    @Test func sparseLabelsOutOfRangeNameTheNode() throws {
        let g = Graph()
        let logits = try g.placeholder(.float32, shape: [nil, 3], name: "logits")
        let loss = try Losses.sparseSoftmaxCrossEntropy(labels: g.constant(Tensor([Int64(0), 3])), logits: logits)
        #expect {
            _ = try Session(graph: g).run(loss, feeds: [logits: Tensor(zeros: .float32, shape: [2, 3])])
        } throws: { "\($0)".contains("label value of 3") && "\($0)".contains("xentropy") }
    }

    @Test func checkNumericsNamesTheTensor() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [2], name: "x")
        let checked = try checkNumerics(log(x), message: "log of x")
        let session = Session(graph: g)
        #expect(try session.run(checked, feeds: [x: Tensor([Float(1), 2])]).scalars(as: Float.self)[0] == 0)
        #expect {
            _ = try session.run(checked, feeds: [x: Tensor([Float(-1), 2])])
        } throws: { "\($0)".contains("log of x : Tensor had NaN values") }
        #expect {
            _ = try session.run(checked, feeds: [x: Tensor([Float(0), 2])])
        } throws: { "\($0)".contains("Tensor had Inf values") }
    }

    @Test func seededRandomOpsAreReproducibleAndFollowTheirDistributions() throws {
        func draw(graphSeed: Int?, opSeed: Int?) throws -> [[Float]] {
            let g = Graph()
            g.randomSeed = graphSeed
            let u = try g.randomUniform(shape: [4000], minval: -1, maxval: 3, seed: opSeed)
            let n = try g.randomNormal(shape: [4000], mean: 1, stddev: 2, seed: opSeed)
            let t = try g.truncatedNormal(shape: [4000], stddev: 0.5, seed: opSeed)
            let session = Session(graph: g)
            return try session.run(fetches: [u, n, t]).map { $0.scalars(as: Float.self) } + [try session.run(u).scalars(as: Float.self)]
        }
        let a = try draw(graphSeed: 7, opSeed: nil), b = try draw(graphSeed: 7, opSeed: nil)
        #expect(a == b, "same graph seed, same numbers")
        #expect(try draw(graphSeed: 8, opSeed: nil)[0] != a[0])
        #expect(try draw(graphSeed: nil, opSeed: 3) == draw(graphSeed: nil, opSeed: 3))
        #expect(try draw(graphSeed: nil, opSeed: nil)[0] != draw(graphSeed: nil, opSeed: nil)[0], "no seed: fresh numbers")
        #expect(a[3] != a[0], "a second run draws new numbers")
        let (u, n, t) = (a[0], a[1], a[2])
        func mean(_ v: [Float]) -> Double { v.map(Double.init).reduce(0, +) / Double(v.count) }
        func std(_ v: [Float]) -> Double { let m = mean(v); return (v.map { (Double($0) - m) * (Double($0) - m) }.reduce(0, +) / Double(v.count)).squareRoot() }
        #expect(u.allSatisfy { $0 >= -1 && $0 < 3 } && Swift.abs(mean(u) - 1) < 0.1)
        #expect(Swift.abs(mean(n) - 1) < 0.15 && Swift.abs(std(n) - 2) < 0.15)
        #expect(t.allSatisfy { Swift.abs($0) <= 1 } && Swift.abs(std(t) - 0.5 * Initializer.truncationCorrection) < 0.03)
    }

    @Test func initializersScaleWithTheirFans() throws {
        #expect(Initializer.fans([3, 3, 16, 32]) == (144, 288))
        let g = Graph()
        g.randomSeed = 1
        let glorot = try g.variable("glorot", shape: [200, 300], initializer: .glorotUniform)
        let he = try g.variable("he", shape: [400, 100], initializer: .heNormal)
        let constant = try g.variable("c", shape: [2, 2], initializer: .constant(0.5))
        let session = Session(graph: g)
        try session.run(target: g.globalVariablesInitializer())
        let limit = Float((6.0 / 500).squareRoot())
        let gv = try session.run(glorot.value).scalars(as: Float.self)
        #expect(gv.allSatisfy { Swift.abs($0) <= limit } && gv.map(Swift.abs).max()! > 0.95 * limit)
        let hv = try session.run(he.value).scalars(as: Float.self).map(Double.init)
        let hs = (hv.map { $0 * $0 }.reduce(0, +) / Double(hv.count)).squareRoot()
        #expect(Swift.abs(hs - (2.0 / 400).squareRoot()) < 0.004, "he normal stddev \(hs)")
        #expect(try session.run(constant.value).scalars(as: Float.self) == [0.5, 0.5, 0.5, 0.5])
    }

    @Test func digitsDatasetLoadsSplitsAndBatches() throws {
        let digits = try Dataset.digits()
        #expect(digits.count == 1797 && digits.featureCount == 64 && digits.classCount == 10)
        let labels = try #require(digits.labels.intScalars()), pixels = digits.features.scalars(as: Float.self)
        #expect(labels.prefix(10) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
        #expect(pixels.max() == 16 && pixels.min() == 0)
        let (train, test) = try digits.stratifiedSplit(testFraction: 0.25, seed: 3)
        #expect(train.count + test.count == 1797)
        for c in 0..<10 {
            let share = Double(test.labels.intScalars()!.filter { $0 == c }.count) / Double(labels.filter { $0 == c }.count)
            #expect(Swift.abs(share - 0.25) < 0.01, "class \(c) test share \(share)")
        }
        #expect(digits.shuffled(seed: 9).labels == digits.shuffled(seed: 9).labels)
        #expect(digits.shuffled(seed: 9).labels != digits.labels)
        let batches = test.batches(size: 100)
        #expect(batches.count == 5 && batches.last!.features.shape == [test.count - 400, 64] && batches[0].labels.dtype == .int64)
        let stats = train.featureStatistics()
        let standardized = train.standardized(mean: stats.mean, std: stats.std).featureStatistics()
        #expect(standardized.mean.allSatisfy { Swift.abs($0) < 1e-4 })
        #expect(standardized.std.allSatisfy { $0 == 0 || Swift.abs($0 - 1) < 1e-3 })
    }

    @Test func corruptDigitsFilesAreRejectedByField() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("soma-digits-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func check(_ bytes: Data, _ expected: String) throws {
            let url = folder.appendingPathComponent("d.bin")
            try bytes.write(to: url)
            #expect { _ = try Dataset.digits(contentsOf: url) } throws: { "\($0)".contains(expected) }
        }
        try check(Data("NOTDIGIT".utf8) + Data(count: 8), "magic")
        var header = Data("SOMADIG1".utf8)
        header += Data([2, 0, 0, 0, 64, 0, 0, 0])
        try check(header + Data(count: 10), "header says 2 images")
        try check(header + Data(repeating: 17, count: 128) + Data([1, 2]), "pixel value exceeds 16")
        try check(header + Data(count: 128) + Data([1, 12]), "label 12")
    }
}

@Suite struct DropoutTests {
    @Test func dropoutKeepsAndScalesAFreshSeededMask() throws {
        let g = Graph()
        g.randomSeed = 5
        let x = try g.placeholder(.float32, shape: [nil, 100], name: "x")
        let rate = try placeholderWithDefault(g.constant(Float(0)), shape: [], name: "rate")
        let y = try dropout(x, rate: rate)
        let session = Session(graph: g)
        let ones = Tensor(repeating: Float(1), shape: [50, 100])
        #expect(try session.run(y, feeds: [x: ones]) == ones, "rate 0 is the identity")
        let a = try session.run(y, feeds: [x: ones, rate: Tensor(Float(0.25))]).scalars(as: Float.self)
        let b = try session.run(y, feeds: [x: ones, rate: Tensor(Float(0.25))]).scalars(as: Float.self)
        #expect(Set(a) == [0, Float(1) / 0.75])
        let kept = Double(a.filter { $0 > 0 }.count) / Double(a.count)
        #expect(Swift.abs(kept - 0.75) < 0.02, "kept \(kept)")
        #expect(a != b, "each run draws a new mask")
        // Gradients flow through the kept elements only, scaled like them.
        let dx = try g.gradients(of: [reduceSum(y)], wrt: [x])[0]!
        let values = try session.run(fetches: [y, dx], feeds: [x: ones, rate: Tensor(Float(0.5))])
        #expect(values[0] == values[1])
    }
}

@Suite struct RecurrentTests {
    /// The fused LSTMBlockCell step and the same cell as separate ops agree, forward and
    /// backward, over an unrolled sequence.
    @Test func fusedAndComposedLSTMAgree() throws {
        var results: [[Tensor]] = []
        for fused in [true, false] {
            let g = Graph()
            g.randomSeed = 3
            let x = try g.placeholder(.float32, shape: [nil, 5, 4], name: "x")
            let cell = try LSTMCell(g, inputSize: 4, units: 6, fused: fused)
            let (outputs, state) = try unroll(cell, over: x, steps: 5)
            let loss = try add(reduceSum(square(outputs.last!)), reduceSum(state.c))
            let grads = try g.gradients(of: [loss], wrt: [cell.kernel.value, cell.bias.value, x]).map { $0! }
            let session = Session(graph: g)
            try session.run(target: g.globalVariablesInitializer())
            results.append(try session.run(fetches: [loss, outputs[2]] + grads, feeds: [x: CompilerTests.random([3, 5, 4], seed: 8)]))
        }
        for (a, b) in zip(results[0], results[1]) {
            #expect(a.isApproximatelyEqual(to: b, relativeTolerance: 1e-5, absoluteTolerance: 1e-5), "\(a) vs \(b)")
        }
    }

    @Test func gruAndEmbeddingGradientsMatchCentralDifferences() throws {
        let error = try GradientChecker.maxError(.float64, [GradientChecker.Input([2, 3, 2], seed: 60)]) { v in
            let g = v[0].graph
            g.randomSeed = 4
            let cell = try GRUCell(g, inputSize: 2, units: 3, dtype: .float64)
            let table = try g.variable(Tensor([0.5, -1, 2, 0.25, 1.5, -0.5], shape: [3, 2]), name: "table")
            let (outputs, _) = try unroll(cell, over: add(v[0], embeddingLookup(table.value, ids: g.constant(Tensor([Int32(2), 0])))
                                                            .reshapedForBroadcast()), steps: 3)
            return try reduceSum(outputs.last!)
        }
        #expect(error <= 1e-5, "max |J − J_num| = \(error)")
    }
}

extension Output {
    /// `[2, 2]` embedding rows as `[2, 1, 2]`, to add to every step of a `[2, T, 2]` sequence.
    fileprivate func reshapedForBroadcast() throws -> Output { try expandDims(self, axis: 1) }
}

/// Bad convolution and pooling attributes fail when the node is built, naming the node
/// and the attribute or input at fault.
@Suite struct ConvolutionErrorTests {
    static func error(_ build: (Output, Output) throws -> Output) -> String {
        let g = Graph()
        do {
            let x = try g.placeholder(.float32, shape: [nil, 6, 6, 3], name: "images")
            let f = try g.constant(Tensor(repeating: Float(0.1), shape: [3, 3, 3, 4]))
            _ = try build(x, f)
            return "no error"
        } catch { return "\(error)" }
    }

    @Test func badAttributesAndShapesNameTheNode() {
        let zeroStride = Self.error { x, f in try conv2D(x, filter: f, strides: [0, 1], name: "conv") }
        #expect(zeroStride.contains("'conv'") && zeroStride.contains("strides"), "\(zeroStride)")
        let negativeStride = Self.error { x, _ in try maxPool(x, ksize: [2, 2], strides: [-1, 2], name: "pool") }
        #expect(negativeStride.contains("'pool'") && negativeStride.contains("strides"), "\(negativeStride)")
        let bigWindow = Self.error { x, _ in try maxPool(x, ksize: [7, 2], strides: [1, 1], name: "pool") }
        #expect(bigWindow.contains("'pool'") && bigWindow.contains("ksize window is larger"), "\(bigWindow)")
        let bigFilter = Self.error { x, _ in
            try conv2D(x, filter: x.graph.constant(Tensor(repeating: Float(0), shape: [4, 4, 3, 1])), dilations: [2, 2], name: "dilated")
        }
        #expect(bigFilter.contains("'dilated'") && bigFilter.contains("filter window is larger"), "\(bigFilter)")
        let rank = Self.error { x, f in try conv2D(reshape(x, [-1, 36, 3]), filter: f, name: "flat") }
        #expect(rank.contains("'flat'") && rank.contains("rank 4"), "\(rank)")
        let channels = Self.error { x, _ in
            try conv2D(x, filter: x.graph.constant(Tensor(repeating: Float(0), shape: [3, 3, 2, 4])), name: "mismatch")
        }
        #expect(channels.contains("'mismatch'") && channels.contains("Depth of input (3)") && channels.contains("filter (2)"), "\(channels)")
        let padding = Self.error { x, f in
            try x.graph.output("Conv2D", [x, f], attrs: ["strides": .ints([1, 1, 1, 1]), "padding": .string("FULL")], name: "odd", file: "", line: 0)
        }
        #expect(padding.contains("'odd'") && padding.contains("padding"), "\(padding)")
    }
}

@Suite struct NormalizationTests {
    /// Batch statistics sum fixed row blocks in order: bitwise the same on any thread count.
    @Test func batchNormIsBitwiseIdenticalForEveryThreadCount() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [8, 16, 16, 4], name: "x")
        let scale = try g.constant(Tensor([Float(1), 0.5, 2, 1.5])), offset = try g.constant(Tensor([Float(0), 1, -1, 0.5]))
        let empty = try g.constant(Tensor([Float]()))
        let (y, mean, variance) = try fusedBatchNorm(x, scale: scale, offset: offset, mean: empty, variance: empty)
        let dx = try g.gradients(of: [reduceSum(multiply(y, x))], wrt: [x])[0]!
        let feed = CompilerTests.random([8, 16, 16, 4], seed: 12)
        var results: [[Tensor]] = []
        for threads in [1, 2, 4] {
            var options = SessionOptions()
            options.interOpThreads = threads
            options.intraOpThreads = threads
            results.append(try Session(graph: g, options: options).run(fetches: [y, mean, variance, dx], feeds: [x: feed]))
        }
        #expect(results[0] == results[1] && results[0] == results[2])
        let m = feed.scalars(as: Float.self).enumerated().filter { $0.offset % 4 == 0 }.map { Double($0.element) }
        let expected = m.reduce(0, +) / Double(m.count)
        #expect(Swift.abs(Double(results[0][1].scalars(as: Float.self)[0]) - expected) < 1e-5)
    }
}
