import Foundation
import Testing
import Soma

/// The README's example, kept true.
@Suite struct ReadmeTests {
    @Test func theExampleRunsAsDocumented() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil, 3], name: "x")
        let w = try g.variable(Tensor(repeating: Float(0.5), shape: [3, 2]), name: "w")
        let b = try g.variable(Tensor([Float(0), -1]), name: "b")
        let y = try g.withNameScope("dense") {
            try relu(biasAdd(matmul(x, w.value), b.value))
        }
        #expect(y.shape == [nil, 2])
        #expect(y.node.name == "dense/Relu")
        let session = Session(graph: g)
        try session.run(target: g.globalVariablesInitializer())
        let batch = try Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        let out = try session.run(y, feeds: [x: batch])
        #expect(out.description == "Tensor([[3.0, 2.0],\n [7.5, 6.5]], dtype: float32, shape: [2,2])")
    }
}

/// The README's training example, kept true (and learning).
@Suite struct ReadmeLearningTests {
    @Test func theTrainingExampleRunsAsDocumented() throws {
        let g = Graph()
        g.randomSeed = 42
        let x = try g.placeholder(.float32, shape: [nil, 64], name: "x")
        let y = try g.placeholder(.int64, shape: [nil], name: "y")
        let w = try g.variable("dense/kernel", shape: [64, 10], initializer: .glorotUniform)
        let b = try g.variable("dense/bias", shape: [10], initializer: .zeros)
        let logits = try biasAdd(matmul(x, w.value), b.value)
        let loss = try Losses.sparseSoftmaxCrossEntropy(labels: y, logits: logits)
        let train = try AdamOptimizer(learningRate: 0.01).minimize(loss, globalStep: g.globalStep())

        let session = Session(graph: g)
        try session.run(target: g.globalVariablesInitializer())
        let digits = try Dataset.digits().scaled(by: 1.0 / 16)
        let all = digits.tensors
        let before = try session.run(loss, feeds: [x: all.features, y: all.labels]).scalar(as: Float.self)
        for batch in digits.shuffled(seed: 1).batches(size: 32) {
            try session.run(target: train, feeds: [x: batch.features, y: batch.labels])
        }
        let after = try session.run(loss, feeds: [x: all.features, y: all.labels]).scalar(as: Float.self)
        // The training step compiles to a static plan (gradient shapes fold), not the reference executor.
        let plan = try session.plan(fetches: [loss], feeds: [x: all.features, y: all.labels], targets: [train])
        #expect(plan != nil)
        #expect(after < before / 2, "one epoch: loss \(before) → \(after)")
        #expect(g.variables.map(\.name).contains("dense/kernel/Adam_1"))
    }
}

/// The README's layers-and-models example, kept true.
@Suite struct ReadmeModelTests {
    @Test func theModelExampleRunsAsDocumented() throws {
        let digits = try Dataset.digits().scaled(by: 1.0 / 16)
        let (train, test) = try digits.stratifiedSplit(testFraction: 0.25, seed: 7)
        let (images, labels) = (train.features, train.labels), (testImages, testLabels) = (test.features, test.labels)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("soma-readme-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }

        let g = Graph()
        g.randomSeed = 42
        let model = try Sequential(inputShape: [64], [
            Reshape([8, 8, 1]),
            Conv2D(16, kernelSize: (3, 3), padding: .same, activation: .relu),
            MaxPool2D(),
            Flatten(),
            Dense(64, activation: .relu),
            Dropout(0.3),
            Dense(10, activation: .softmax),
        ], graph: g)
        #expect(model.summary().contains("Total params: 17258"))
        try model.compile(optimizer: AdamOptimizer(learningRate: 0.002), loss: .sparseCategoricalCrossentropy(),
                          metrics: [.accuracy])
        let history = try model.fit(x: images, y: labels, batchSize: 32, epochs: 3, validationSplit: 0.1,
                                    callbacks: [EarlyStopping(patience: 3, restoreBestWeights: true)], verbose: false)
        let scores = try model.evaluate(x: testImages, y: testLabels)
        try model.save(to: folder)
        let reloaded = try Model.load(from: folder)
        #expect(history["val_accuracy"].count == 3 && scores["accuracy"]! > 0.85, "\(scores)")
        #expect(try reloaded.predict(testImages) == model.predict(testImages))
    }
}
