import Foundation
import Testing
@testable import Soma

/// Models: summaries against Keras, `fit` against a hand-written TF1 loop, metrics against
/// Keras' streaming metrics, the progress bar's rendering, callbacks, saving and loading.
@Suite struct ModelTests {
    static let fixtures = Bundle.module.url(forResource: "keras", withExtension: nil, subdirectory: "Fixtures")!

    /// The demo's CNN (also in `Tools/make_keras_fixtures.py`).
    static func digitsCNN(_ g: Graph) throws -> Sequential {
        try Sequential(inputShape: [64], [
            Reshape([8, 8, 1]),
            Conv2D(16, kernelSize: (3, 3), padding: .same, useBias: false),
            BatchNormalization(),
            Activation(.relu),
            MaxPool2D(),
            Conv2D(32, kernelSize: (3, 3), padding: .same, activation: .relu),
            MaxPool2D(),
            Flatten(),
            Dense(64, activation: .relu),
            Dropout(0.3),
            Dense(10, activation: .softmax),
        ], graph: g)
    }

    @Test func summaryMatchesKeras() throws {
        struct Row: Decodable { let type: String; let output_shape: [Int?]; let params: Int }
        struct Summary: Decodable { let layers: [Row]; let total: Int; let trainable: Int; let non_trainable: Int }
        let keras = try JSONDecoder().decode(Summary.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("summary.json")))
        let model = try Self.digitsCNN(Graph())
        #expect(model.layers.map(\.typeName) == keras.layers.map(\.type))
        #expect(model.layers.map(\.parameterCount) == keras.layers.map(\.params))
        #expect(model.layers.map { $0.output?.shape } == keras.layers.map { TensorShape($0.output_shape) })
        let text = model.summary()
        #expect(text.contains("Total params: \(keras.total) (53.73 KB)"), "\(text)")
        #expect(text.contains("Trainable params: \(keras.trainable) "))
        #expect(text.contains("Non-trainable params: \(keras.non_trainable) "))
        #expect(text.contains(" conv2d_1 (Conv2D)") && text.contains("(None, 4, 4, 32)"))
    }

    @Test func metricsMatchKerasStreamingMetrics() throws {
        struct Entry: Decodable {
            let labels: [Double], label_shape: [Int], predictions: [Double], prediction_shape: [Int], value: Double
        }
        let entries = try JSONDecoder().decode([String: Entry].self,
                                               from: Data(contentsOf: Self.fixtures.appendingPathComponent("metrics.json")))
        let metrics: [String: Metric] = [
            "auc": .auc(), "precision": .precision(), "recall": .recall(), "binary_accuracy": .binaryAccuracy(),
            "sparse_categorical_accuracy": .sparseCategoricalAccuracy, "mean_squared_error": .meanSquaredError,
            "mean_absolute_error": .meanAbsoluteError,
        ]
        #expect(Set(entries.keys) == Set(metrics.keys))
        for (name, entry) in entries {
            let metric = try #require(metrics[name])
            let g = Graph()
            let labels = try g.placeholder(.float32, name: "labels"), predictions = try g.placeholder(.float32, name: "p")
            let statistics = try metric.statistics(labels, predictions)
            let s = Session(graph: g)
            let rowWidth = entry.prediction_shape.dropFirst().reduce(1, *), labelWidth = entry.label_shape.dropFirst().reduce(1, *)
            let n = entry.label_shape[0]
            var totals = [[Double]](repeating: [], count: statistics.count)
            for start in Swift.stride(from: 0, to: n, by: 12) {   // Keras' batches: 12, 12, 6
                let end = min(start + 12, n)
                let l = try Tensor(entry.labels[(start * labelWidth)..<(end * labelWidth)].map { Float($0) },
                                   shape: [end - start] + entry.label_shape.dropFirst())
                let p = try Tensor(entry.predictions[(start * rowWidth)..<(end * rowWidth)].map { Float($0) },
                                   shape: [end - start] + entry.prediction_shape.dropFirst())
                let values = try s.run(fetches: statistics, feeds: [labels: l, predictions: p])
                for k in totals.indices {
                    let v = values[k].doubleScalars()
                    totals[k] = totals[k].isEmpty ? v : zip(totals[k], v).map(+)
                }
            }
            let value = metric.result(totals)
            #expect(abs(value - entry.value) < 1e-5, "\(name): \(value), Keras \(entry.value)")
        }
    }

    @Test func progressBarRendersLikeKeras() {
        let bar = ProgressBar(total: 47)
        let values = [("loss", 0.31), ("accuracy", 0.91)]
        #expect(bar.line(step: 37, elapsed: 3.7, values: values)
                == "37/47 [======================>.......] - ETA: 1s - loss: 0.3100 - accuracy: 0.9100")
        #expect(bar.line(step: 1, elapsed: 0.5, values: [])
                == " 1/47 [..............................] - ETA: 23s")
        #expect(bar.finalLine(elapsed: 5, values: values + [("val_loss", 0.000123)])
                == "47/47 [==============================] - 5s 106ms/step - loss: 0.3100 - accuracy: 0.9100 - val_loss: 1.2300e-04")
        #expect(bar.plainLine(elapsed: 75, values: [("loss", 2)]) == "47/47 - 1:15 - 2s/step - loss: 2.0000")
        #expect(ProgressBar.duration(3725) == "1:02:05")

        // On a terminal the bar is redrawn in place (carriage returns), then closed with a
        // newline; elsewhere only the epoch's line is written.
        var terminal: [String] = [], log: [String] = []
        let live = ProgressPrinter(steps: 3, isTerminal: true) { terminal.append($0) }
        let plain = ProgressPrinter(steps: 3, isTerminal: false) { log.append($0) }
        for step in 1...3 {
            live.update(step: step, values: [("loss", 1)])
            plain.update(step: step, values: [("loss", 1)])
        }
        live.finish(values: [("loss", 0.5)])
        plain.finish(values: [("loss", 0.5)])
        #expect(terminal.count == 2 && terminal[0].hasPrefix("\r1/3 [=========>....................] - ETA: "))
        #expect(terminal[1].hasPrefix("\r3/3 [==============================] - 0s ") && terminal[1].hasSuffix("loss: 0.5000\u{1B}[K\n"))
        #expect(log.count == 1 && log[0].hasPrefix("3/3 - 0s - ") && log[0].hasSuffix("/step - loss: 0.5000\n"))
    }

    /// A 4 → 8 → 1 regression network, seeded.
    static func regression(_ g: Graph) throws -> (x: Output, y: Output, layers: [Dense]) {
        g.randomSeed = 11
        let x = try g.input(shape: [4], name: "x")
        let layers = [Dense(8, activation: .tanh), Dense(1)]
        return (x, try layers[1](layers[0](x)), layers)
    }

    static func regressionData() throws -> (x: Tensor, y: Tensor) {
        var rng = SplitMix64(seed: 3)
        let xs = (0..<40 * 4).map { _ in Float.random(in: -1...1, using: &rng) }
        let ys = (0..<40).map { i in xs[(i * 4)..<(i * 4 + 4)].enumerated().reduce(Float(0)) { $0 + Float($1.offset + 1) * $1.element } }
        return (try Tensor(xs, shape: [40, 4]), try Tensor(ys, shape: [40, 1]))
    }

    @Test func fitReproducesAHandWrittenLoop() throws {
        let data = try Self.regressionData()
        // fit, without shuffling: batches of 16, 16, 8.
        let g1 = Graph()
        let (x1, y1, _) = try Self.regression(g1)
        let model = try Model(inputs: [x1], outputs: [y1])
        try model.compile(optimizer: GradientDescentOptimizer(learningRate: 0.05), loss: .meanSquaredError,
                          metrics: [.meanAbsoluteError])
        let history = try model.fit(x: data.x, y: data.y, batchSize: 16, epochs: 4, shuffle: false, verbose: false)

        // The same network trained by hand, TF1-style.
        let g2 = Graph()
        let (x2, y2, _) = try Self.regression(g2)
        let labels = try g2.placeholder(.float32, shape: [nil, 1])
        let loss = try Losses.meanSquaredError(labels: labels, predictions: y2, reduction: .sumOverBatchSize)
        let train = try GradientDescentOptimizer(learningRate: 0.05).minimize(loss)
        let s = Session(graph: g2)
        try s.run(target: g2.globalVariablesInitializer())
        var expected: [Double] = [], expectedMAE: [Double] = []
        for _ in 0..<4 {
            var sum = 0.0, absolute = 0.0
            for start in [0, 16, 32] {
                let rows = Array(start..<min(40, start + 16))
                let (bx, by) = (try data.x.rows(rows), try data.y.rows(rows))
                let before = try s.run(fetches: [loss, y2], feeds: [x2: bx, labels: by], targets: [train])
                sum += before[0].doubleScalars()[0] * Double(rows.count)
                absolute += zip(before[1].doubleScalars(), by.doubleScalars()).reduce(0) { $0 + abs($1.0 - $1.1) }
            }
            expected.append(sum / 40)
            expectedMAE.append(absolute / 40)
        }
        #expect(history.epochs == [0, 1, 2, 3])
        for (a, b) in zip(history["loss"], expected) { #expect(abs(a - b) <= 1e-6 * max(1, abs(b)), "\(history["loss"]) vs \(expected)") }
        for (a, b) in zip(history["mean_absolute_error"], expectedMAE) { #expect(abs(a - b) < 1e-5) }
        #expect(expected.last! < expected.first!)
        // evaluate and predict agree with a plain run of the trained model.
        let scores = try model.evaluate(x: data.x, y: data.y, batchSize: 7)
        let predictions = try model.predict(data.x, batchSize: 7)
        // Batches of 7 against one batch of 40: GEMM kernels may round differently for
        // different row counts (as TF's do), never for different thread counts.
        let whole = try model.session.run(y1, feeds: [x1: data.x]).doubleScalars()
        #expect(predictions.shape == [40, 1])
        for (p, w) in zip(predictions.doubleScalars(), whole) { #expect(abs(p - w) <= 1e-6 * max(1, abs(w))) }
        let mse = zip(predictions.doubleScalars(), data.y.doubleScalars()).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / 40
        #expect(abs(scores["loss"]! - mse) < 1e-5)
    }

    /// Records the epochs and the learning rate seen.
    final class Recorder: Callback {
        var began = 0, ended = 0, batches = 0, epochLogs: [[String: Double]] = []
        func onTrainBegin(model: Model) throws { began += 1 }
        func onBatchEnd(_ batch: Int, logs: [String: Double], model: Model) throws { batches += 1 }
        func onEpochEnd(_ epoch: Int, logs: [String: Double], model: Model) throws { epochLogs.append(logs) }
        func onTrainEnd(model: Model) throws { ended += 1 }
    }

    @Test func callbacksStopScheduleLogAndCheckpoint() throws {
        let data = try Self.regressionData()
        let g = Graph()
        let (x, y, _) = try Self.regression(g)
        let model = try Model(inputs: [x], outputs: [y])
        try model.compile(optimizer: AdamOptimizer(learningRate: 0.01), loss: .meanSquaredError)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("soma-callbacks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }

        // The loss falls every epoch, so "improving" upwards never happens: stop after patience 1.
        let stopper = EarlyStopping(monitor: "loss", patience: 1, mode: .max, restoreBestWeights: true)
        let recorder = Recorder()
        let csv = folder.appendingPathComponent("log.csv")
        let checkpoint = ModelCheckpoint(prefix: folder.appendingPathComponent("ckpt").path, monitor: "val_loss")
        let schedule = LearningRateScheduler { epoch, rate in epoch == 0 ? rate : rate / 2 }
        let history = try model.fit(x: data.x, y: data.y, batchSize: 10, epochs: 10, validationSplit: 0.25, seed: 1,
                                    callbacks: [stopper, recorder, CSVLogger(csv), checkpoint, schedule], verbose: false)
        #expect(history.epochs == [0, 1, 2])
        #expect(stopper.stoppedEpoch == 2)
        #expect(recorder.began == 1 && recorder.ended == 1 && recorder.batches == 3 * 3)
        #expect(Set(recorder.epochLogs[0].keys) == ["loss", "val_loss"])
        #expect(abs(try model.learningRate() - 0.0025) < 1e-9)
        let lines = try String(contentsOf: csv, encoding: .utf8).split(separator: "\n")
        #expect(lines.first == "epoch,loss,val_loss" && lines.count == 4)
        #expect(checkpoint.saved.count == 3)

        // The best epoch (the first, under mode .max) was restored: its checkpoint holds the same weights.
        let restored = try model.weightValues()
        let fresh = Graph()
        let (fx, fy, _) = try Self.regression(fresh)
        let other = try Model(inputs: [fx], outputs: [fy])
        try Saver(graph: fresh).restore(other.session, from: checkpoint.saved[0])
        #expect(try other.weightValues().elementsEqual(restored, by: ==))
    }

    @Test func savedModelsReloadWithIdenticalPredictions() throws {
        let g = Graph()
        g.randomSeed = 4
        let model = try Self.digitsCNN(g)
        try model.compile(optimizer: AdamOptimizer(), loss: .sparseCategoricalCrossentropy(), metrics: [.accuracy])
        let digits = try Dataset.digits().scaled(by: 1.0 / 16).subset(Array(0..<96))
        let (images, labels) = digits.tensors
        try model.fit(x: images, y: labels, batchSize: 32, epochs: 1, verbose: false)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("soma-model-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try model.save(to: folder)
        let reloaded = try Model.load(from: folder)
        #expect(try reloaded.predict(images) == model.predict(images))
        // A loaded model trains once compiled.
        try reloaded.compile(optimizer: AdamOptimizer(), loss: .sparseCategoricalCrossentropy(), metrics: [.accuracy])
        let before = try reloaded.evaluate(x: images, y: labels)["loss"]!
        try reloaded.fit(x: images, y: labels, batchSize: 32, epochs: 3, verbose: false)
        #expect(try reloaded.evaluate(x: images, y: labels)["loss"]! < before)
    }

    @Test func layersShareVariablesAndLocateTheirNodesAtTheCall() throws {
        let g = Graph()
        g.randomSeed = 6
        let a = try g.input(shape: [3], name: "a"), b = try g.input(shape: [3], name: "b")
        let shared = Dense(2, name: "shared")
        let ya = try shared(a), yb = try shared(b)   // one set of weights
        let joined = try Concatenate()([ya, yb])
        let sum = try Add()([ya, yb])
        let model = try Model(inputs: [a, b], outputs: [joined])
        #expect(model.layers.map(\.name) == ["shared", "concatenate"])
        #expect(shared.variables.map(\.name) == ["shared/kernel", "shared/bias"])
        #expect(ya.node.name.hasPrefix("shared/") && yb.node.name.hasPrefix("shared_1/"))
        #expect(joined.shape == [nil, 4] && sum.shape == [nil, 2])
        // A functional model's summary lists its inputs and what each layer reads.
        let text = model.summary()
        #expect(text.contains(" a (InputLayer)") && text.contains(" b (InputLayer)") && text.contains("Connected to"), "\(text)")
        #expect(text.split(separator: "\n").contains { $0.hasPrefix(" shared (Dense)") && $0.hasSuffix("a[0][0], b[0][0]") })
        #expect(text.split(separator: "\n").contains { $0.hasPrefix(" concatenate (Concatenate)") && $0.contains("shared[0][0], shared[1][0]") })
        // A model of two inputs trains, evaluates and predicts with one tensor per input.
        let pair = try Model(inputs: [a, b], outputs: [Dense(1)(sum)], name: "pair")
        try pair.compile(optimizer: GradientDescentOptimizer(learningRate: 0.05), loss: .meanSquaredError)
        let va = (0..<24).map { Float($0 % 5) / 5 }, vb = (0..<24).map { Float($0 % 3) / 3 }
        let xa = try Tensor(va, shape: [8, 3]), xb = try Tensor(vb, shape: [8, 3])
        // A target the model can fit (linear in a + b), so the loss falls for any initial weights.
        var fitted = [Float](repeating: -0.2, count: 8)
        for i in 0..<24 { fitted[i / 3] += 0.3 * (va[i] + vb[i]) }
        let target = try Tensor(fitted, shape: [8, 1])
        let history = try pair.fit(inputs: [xa, xb], y: target, batchSize: 4, epochs: 20, shuffle: false, verbose: false)
        #expect(history["loss"].last! < history["loss"].first!)
        #expect(abs(try pair.evaluate(inputs: [xa, xb], y: target)["loss"]! - history["loss"].last!) < 0.05)
        #expect(try pair.predict(inputs: [xa, xb], batchSize: 3).shape == [8, 1])
        #expect(throws: SomaError.self) { try pair.predict(xa) }
        // The nodes a layer builds point at the user's line, not into Soma.
        let line = #line + 1
        let h = try Dense(4, activation: .relu)(a)
        #expect(h.node.location?.line == line && h.node.location?.fileID.hasSuffix("ModelTests.swift") == true)
        // A wrong input shape names the layer and the input.
        #expect(throws: SomaError.self) { try Conv2D(2, kernelSize: (3, 3))(a) }
    }
}
