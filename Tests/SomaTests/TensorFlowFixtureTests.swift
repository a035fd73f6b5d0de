import Foundation
import Testing
@testable import Soma

/// Frozen graphs made by TensorFlow (`Tools/make_tf_fixtures.py`), loaded and run by Soma,
/// must reproduce TF's outputs.
@Suite struct TensorFlowFixtureTests {
    static let root = Bundle.module.url(forResource: "tf", withExtension: nil, subdirectory: "Fixtures")!
    static let models = (try? FileManager.default.contentsOfDirectory(atPath: root.path).sorted()) ?? []

    struct Manifest: Decodable {
        struct Fetch: Decodable {
            let name: String
            let file: String
            let tolerance: Double
        }
        let inputs: [String: String]
        let fetches: [Fetch]
        let ops: [String]
    }

    static func manifest(_ model: String) throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: root.appendingPathComponent("\(model)/manifest.json")))
    }

    @Test func fixturesExist() {
        #expect(Self.models.count >= 7, "found \(Self.models)")
    }

    @Test(arguments: models)
    func sessionMatchesTensorFlow(model: String) throws {
        let folder = Self.root.appendingPathComponent(model)
        let manifest = try Self.manifest(model)
        let graph = try Graph(contentsOf: folder.appendingPathComponent("model.pb"))
        var feeds: [Output: Tensor] = [:]
        for (name, file) in manifest.inputs {
            feeds[try #require(graph.output(named: name))] = try Tensor(contentsOfNPY: folder.appendingPathComponent(file))
        }
        let fetches = try manifest.fetches.map { try #require(graph.output(named: $0.name), "\($0.name)") }
        let results = try Session(graph: graph).run(fetches: fetches, feeds: feeds)
        for (fetch, actual) in zip(manifest.fetches, results) {
            let expected = try Tensor(contentsOfNPY: folder.appendingPathComponent(fetch.file))
            #expect(matches(actual, expected, tolerance: fetch.tolerance), "\(model)/\(fetch.name): got \(actual), TF gave \(expected)")
        }
    }

    @Test func fixturesTogetherUseEveryComputationalOp() throws {
        var used = Set<String>()
        for model in Self.models { used.formUnion(try Self.manifest(model).ops) }
        // Ops whose TF Python API never emits them in a frozen inference graph: state ops
        // (frozen to constants), Rank (folded by TF when the rank is static), NoOp, and the
        // fused ops that optimisers create, and SoftplusGrad (TF's Python gradient of
        // Softplus is `grad · sigmoid(x)`; the op exists for graphs that use it directly).
        // Optimiser updates replay TF training runs instead (TrainingTests); random ops
        // draw from a different generator than TF's Philox, so only their distributions
        // are checked; CheckNumerics and Assert are checked by the errors they raise (Assert's
        // against TF-recorded messages, LoggingTests).
        let notInFrozenGraphs = Set<String>(["VariableV2", "Assign", "AssignAdd", "AssignSub", "NoOp", "Rank",
                                      "_FusedMatMul", "_SomaFusedElementwise", "_SomaFusedConv2D", "_SomaFusedDepthwiseConv2dNative", "_SomaFusedMaxPoolGrad", "_SomaFusedBatchMatMul", "_SomaFusedMatMulSum", "_SomaFusedLSTMCell", "_SomaFusedGRUCell", "SoftplusGrad",
                                      "ApplyGradientDescent", "ApplyMomentum", "ApplyAdam", "ApplyRMSProp", "ApplyAdagrad",
                                      "RandomUniform", "RandomStandardNormal", "TruncatedNormal", "CheckNumerics", "Assert"])
            // Variables, checkpoints and their string plumbing live in SavedModels and
            // training graphs (SavedModelTests, ResourceVariableTests), not frozen graphs.
            .union(RegistryTests.handTested.filter { ["ResourceVariableTests", "SavedModelTests"].contains($0.value) }.keys)
            // TF freezes functional control flow as its stateless forms and lowers Case to
            // v1 ops; the stateful forms, Case, calls (which Soma's gradients make and the
            // loader inlines) and OptionalHasValue are checked on Soma-built graphs.
            .union(["If", "While", "Case", "StatelessCase", "PartitionedCall", "StatefulPartitionedCall", "OptionalHasValue"])
            // Summaries are compared with TF's own summary ops on the same inputs
            // (Tools/check_tensorboard.py), not run from frozen graphs.
            .union(["ScalarSummary", "HistogramSummary", "ImageSummary", "TensorSummaryV2", "MergeSummary"])
            // Collectives need several processes (Horovod's ops are not TF's own).
            .union(["HorovodAllreduce", "_SomaFusedAllreduce", "HorovodAllgather", "HorovodBroadcast"])
        let missing = OpRegistry.ops.keys.filter { !used.contains($0) && !notInFrozenGraphs.contains($0) }.sorted()
        #expect(missing.isEmpty, "ops no TF fixture uses: \(missing)")
    }

    @Test func tensorFlowsExtraAttributesAreKept() throws {
        let graph = try Graph(contentsOf: Self.root.appendingPathComponent("mlp/model.pb"))
        let matmul = try #require(graph.nodes.first { $0.op == "MatMul" })
        // TF 2.21 adds grad_a / grad_b to MatMul; Soma accepts and keeps them.
        #expect(matmul.attrs["grad_a"] == .bool(false))
        #expect(graph.versions.producer > 0)
    }
}
