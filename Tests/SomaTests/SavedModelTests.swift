import Foundation
import Testing
@testable import Soma

/// SavedModels written by TensorFlow 2.21 (`Tools/make_saved_model_fixtures.py`) load, restore
/// their variables and run every signature with TF's outputs.
@Suite struct SavedModelTests {
    static let root = Bundle.module.url(forResource: "saved_models", withExtension: nil, subdirectory: "Fixtures")!
    static let models = ["tf1_ref", "tf1_resource", "tf2_module", "keras_cnn"]

    struct Manifest: Decodable {
        struct Signature: Decodable {
            let inputs: [String: String]
            let outputs: [String: String]
        }
        let signatures: [String: Signature]
    }

    static func manifest(_ model: String) throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: root.appendingPathComponent("\(model)/manifest.json")))
    }

    @Test(arguments: models) func signaturesReproduceTensorFlow(_ model: String) throws {
        let folder = Self.root.appendingPathComponent(model)
        let saved = try SavedModel.load(from: folder)
        let manifest = try Self.manifest(model)
        #expect(Set(saved.signatures.keys) == Set(manifest.signatures.keys))
        #expect(saved.restoredWith == "saver")
        for (key, expected) in manifest.signatures {
            let signature = try #require(saved.signatures[key])
            var feeds: [String: Tensor] = [:]
            for (name, file) in expected.inputs { feeds[name] = try Tensor(contentsOfNPY: folder.appendingPathComponent(file)) }
            let outputs = try signature.run(feeds)
            #expect(Set(outputs.keys) == Set(expected.outputs.keys))
            for (name, file) in expected.outputs {
                let want = try Tensor(contentsOfNPY: folder.appendingPathComponent(file))
                let got = try #require(outputs[name])
                #expect(got.isApproximatelyEqual(to: want, relativeTolerance: 1e-5, absoluteTolerance: 1e-6),
                        "\(model) \(key) \(name): \(got) vs \(want)")
            }
        }
    }

    /// A trained classifier: the graph, a session one SGD step in, its input and output.
    static func trainedClassifier() throws -> (graph: Graph, session: Session, x: Output, probs: Output, batch: Tensor) {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil, 64], name: "x")
        let y = try g.placeholder(.int64, shape: [nil], name: "y")
        let w = try g.variable("dense/kernel", shape: [64, 10], initializer: .glorotUniform, seed: 3)
        let b = try g.variable("dense/bias", shape: [10], initializer: .zeros)
        let logits = try biasAdd(matmul(x, w.value), b.value)
        let probs = try softmax(logits, name: "probs")
        let loss = try Losses.sparseSoftmaxCrossEntropy(labels: y, logits: logits)
        let train = try MomentumOptimizer(learningRate: 0.1, momentum: 0.9).minimize(loss, globalStep: g.globalStep())
        let session = Session(graph: g)
        try session.run(target: g.globalVariablesInitializer())
        let batch = try Dataset.digits().scaled(by: 1.0 / 16).batches(size: 16)[0]
        for _ in 0..<3 { try session.run(target: train, feeds: [x: batch.features, y: batch.labels]) }
        return (g, session, x, probs, batch.features)
    }

    /// Freezing keeps what the output needs, with variables as constants: no variable,
    /// assignment or optimiser node survives, and the frozen file computes bitwise the same.
    @Test func frozenGraphsComputeTheSameWithoutVariables() throws {
        let m = try Self.trainedClassifier()
        let want = try m.session.run(m.probs, feeds: [m.x: m.batch])
        let frozen = try Graph(graphDef: m.graph.frozen(session: m.session, outputs: [m.probs]).graphDef())
        #expect(frozen.variables.isEmpty)
        let ops = Set(frozen.nodes.map(\.op))
        #expect(ops.isDisjoint(with: ["VariableV2", "Assign", "ApplyMomentum", "AssignAdd", "NoOp"]), "\(ops.sorted())")
        #expect(frozen.node(named: "dense/kernel")?.op == "Const")
        let got = try Session(graph: frozen).run(try #require(frozen.output(named: "probs:0")), feeds: [try #require(frozen.output(named: "x:0")): m.batch])
        #expect(got == want)

        // A graph of resource variables, loaded from TF's SavedModel, freezes too.
        let saved = try SavedModel.load(from: Self.root.appendingPathComponent("tf1_resource"))
        let signature = try #require(saved.signatures["serving_default"])
        let outputs = signature.outputs.values.map(\.output)
        let frozenTF = try saved.graph.frozen(session: saved.session, outputs: outputs)
        #expect(!frozenTF.nodes.contains { ["VarHandleOp", "ReadVariableOp", "SaveV2", "RestoreV2"].contains($0.op) })
        let inputs = signature.inputs.mapValues(\.output)
        let folder = Self.root.appendingPathComponent("tf1_resource")
        let expected = try Self.manifest("tf1_resource").signatures["serving_default"]!
        var feeds: [Output: Tensor] = [:]
        for (key, file) in expected.inputs {
            feeds[try #require(frozenTF.output(named: inputs[key]!.name))] = try Tensor(contentsOfNPY: folder.appendingPathComponent(file))
        }
        let session = Session(graph: frozenTF)
        for (key, file) in expected.outputs {
            let got = try session.run(try #require(frozenTF.output(named: signature.outputs[key]!.name)), feeds: feeds)
            #expect(got.isApproximatelyEqual(to: try Tensor(contentsOfNPY: folder.appendingPathComponent(file)), relativeTolerance: 1e-5, absoluteTolerance: 1e-6))
        }
    }

    @Test func freezingAnOutputThatWritesAVariableIsRefused() throws {
        let g = Graph()
        let v = try g.variable(Tensor(Float(1)), name: "v")
        let bumped = try v.assignAdd(g.constant(Float(1)), name: "bump")
        let session = Session(graph: g)
        try session.run(target: g.globalVariablesInitializer())
        #expect(throws: SomaError.self) { try g.frozen(session: session, outputs: [bumped]) }
        #expect(throws: SomaError.self) { try g.frozen(session: Session(graph: g), outputs: [v.value]) }
    }

    /// A Soma model saved as a SavedModel loads back (graph, variables through the saver,
    /// signatures) and computes bitwise what the session did.
    @Test func savedModelsSomaWritesLoadBack() throws {
        let m = try Self.trainedClassifier()
        let want = try m.session.run(m.probs, feeds: [m.x: m.batch])
        let folder = try CheckpointTests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try SavedModel.save(graph: m.graph, session: m.session, to: folder,
                            signatures: ["serving_default": .init(inputs: ["x": m.x], outputs: ["probs": m.probs])])
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(files == ["saved_model.pb", "variables"])
        let loaded = try SavedModel.load(from: folder)
        #expect(loaded.restoredWith == "saver")
        #expect(Set(loaded.graph.variables.map(\.name)) == Set(m.graph.variables.map(\.name)))
        #expect(Set(loaded.graph.trainableVariables.map(\.name)) == ["dense/kernel", "dense/bias"])
        let signature = try #require(loaded.signatures["serving_default"])
        #expect(signature.methodName == "tensorflow/serving/predict")
        #expect(signature.inputs["x"]?.dtype == .float32)
        #expect(signature.inputs["x"]?.shape == TensorShape([nil, 64]))
        #expect(signature.outputs["probs"]?.name == "probs:0")
        #expect(try signature.run(["x": m.batch])["probs"] == want)
        // Every variable, slots and step included, came back.
        for v in m.graph.variables {
            let restored = try #require(loaded.graph.variables.first { $0.name == v.name })
            #expect(try loaded.session.run(restored.value) == m.session.run(v.value), "\(v.name)")
        }
        // Saving again over it replaces it.
        try SavedModel.save(graph: m.graph, session: m.session, to: folder,
                            signatures: ["serving_default": .init(inputs: ["x": m.x], outputs: ["probs": m.probs])])
        #expect(try SavedModel.load(from: folder).signatures["serving_default"]!.run(["x": m.batch])["probs"] == want)
        #expect(throws: SomaError.self) {
            try SavedModel.save(graph: Graph(), session: m.session, to: folder, signatures: ["s": .init(inputs: ["x": m.x], outputs: [:])])
        }
    }
}
