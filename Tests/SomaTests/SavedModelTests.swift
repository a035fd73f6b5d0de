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
}
