import Foundation

/// A TensorFlow SavedModel, loaded: its graph, a session with the variables restored,
/// and its signatures.
///
/// Both generations load: TF1 (`tf.compat.v1.saved_model` builder; `VariableV2` or
/// resource variables, a `saver_def`) and TF2 (`tf.saved_model.save`, Keras `export`): a
/// graph calling library functions through `StatefulPartitionedCall`, which the loader
/// inlines. Variables are restored as TF's loader restores them — by running the graph's
/// own saver (`RestoreV2`) with `variables/variables` fed as the checkpoint prefix — then
/// the main op (`saved_model_main_op`, `legacy_init_op` or TF2's `__saved_model_init_op`)
/// runs, with asset files fed their paths.
///
/// ```swift
/// let model = try SavedModel.load(from: URL(fileURLWithPath: "exported"))
/// let y = try model.signatures["serving_default"]!.run(["x": batch])["output_0"]!
/// ```
///
/// Thread-safety: signatures may run from any thread at once (they share the session).
public final class SavedModel: Sendable {
    /// A signature (TF's `SignatureDef`): named inputs and outputs and the method.
    public struct Signature: Sendable {
        /// A tensor of a signature: the graph tensor it names, with its declared dtype and shape.
        public struct TensorInfo: Sendable {
            /// The tensor's name in the graph (`serving_default_x:0`).
            public let name: String
            /// `nil` when the SavedModel declares a dtype Soma lacks.
            public let dtype: DType?
            public let shape: TensorShape
            public let output: Output
        }

        public let key: String
        /// `tensorflow/serving/predict`, `…/classify`, `…/regress`.
        public let methodName: String
        public let inputs: [String: TensorInfo]
        public let outputs: [String: TensorInfo]
        let session: Session

        /// Runs the signature: `feeds` by input key, every output by output key.
        /// - Throws: `InvalidArgument` naming a missing or unknown input key; the session's
        ///   errors otherwise.
        public func run(_ feeds: [String: Tensor]) throws -> [String: Tensor] {
            for key in feeds.keys where inputs[key] == nil {
                throw SomaError.invalidArgument("signature '\(self.key)' has no input '\(key)' (inputs: \(inputs.keys.sorted().joined(separator: ", ")))")
            }
            var bound: [Output: Tensor] = [:]
            for (key, info) in inputs {
                guard let value = feeds[key] else {
                    throw SomaError.invalidArgument("signature '\(self.key)' needs input '\(key)' (\(info.name))")
                }
                bound[info.output] = value
            }
            let keys = outputs.keys.sorted()
            let values = try session.run(fetches: keys.map { outputs[$0]!.output }, feeds: bound)
            return Dictionary(uniqueKeysWithValues: zip(keys, values))
        }
    }

    public let directory: URL
    /// The tag set of the loaded MetaGraphDef.
    public let tags: Set<String>
    public let graph: Graph
    /// A session whose variables hold the SavedModel's values.
    public let session: Session
    /// The signatures by key (`serving_default`, …), without TF2's `__saved_model_init_op`.
    public let signatures: [String: Signature]
    /// Every MetaGraphDef's tag set in the file (`saved_model_cli show` lists them).
    public let availableTagSets: [Set<String>]
    /// How the variables were restored: `"saver"` (the graph's own restore op), or
    /// `"none"` when the model has no variables.
    public let restoredWith: String

    /// Loads the SavedModel in `directory` for `tags` (TF's default: `serve`).
    ///
    /// - Throws: `NotFound` when `directory` holds no `saved_model.pb`; `NotFound` listing
    ///   the tag sets when none matches; any load, restore or init-op error, one line
    ///   naming the file, node and field.
    public static func load(from directory: URL, tags: Set<String> = ["serve"], options: SessionOptions = SessionOptions(),
                            limits: GraphDefLimits = .default) throws -> SavedModel {
        try SavedModel(directory: directory, tags: tags, options: options, limits: limits)
    }

    private init(directory: URL, tags: Set<String>, options: SessionOptions, limits: GraphDefLimits) throws {
        let file = try SavedModelFile(directory: directory, limits: limits)
        let meta = try file.metaGraph(tagged: tags)
        self.directory = directory
        self.tags = tags
        self.availableTagSets = file.metaGraphs.map(\.tags)
        let graph = try file.graph(of: meta)
        self.graph = graph
        let session = Session(graph: graph, options: options)
        self.session = session

        func output(_ name: String, _ what: String) throws -> Output {
            guard let o = graph.output(named: name) else {
                throw SomaError.invalidArgument("SavedModel '\(directory.path)': \(what) names '\(name)', which is not a tensor of the graph")
            }
            return o
        }
        // Asset files, fed by path to the ops that run at load.
        var assets: [Output: Tensor] = [:]
        for asset in meta.assets {
            let path = directory.appendingPathComponent("assets").appendingPathComponent(asset.filename).path
            assets[try output(asset.tensorName, "asset '\(asset.filename)'")] = Tensor(path)
        }
        // Variables: the graph's own saver, fed the checkpoint prefix.
        let prefix = directory.appendingPathComponent("variables").appendingPathComponent("variables").path
        let hasVariables = FileManager.default.fileExists(atPath: prefix + ".index")
        if hasVariables, let saver = meta.saver {
            let filename = try output(saver.filenameTensor, "saver_def filename_tensor_name")
            let restoreName = saver.restoreOp.split(separator: ":").first.map(String.init) ?? saver.restoreOp
            guard let restore = graph.node(named: restoreName) else {
                throw SomaError.invalidArgument("SavedModel '\(directory.path)': saver_def restore_op_name '\(saver.restoreOp)' is not a node")
            }
            var feeds = assets
            feeds[filename] = Tensor(prefix)
            _ = try session.run(fetches: [], feeds: feeds, targets: [restore])
            restoredWith = "saver"
        } else if hasVariables {
            throw SomaError.unimplemented("SavedModel '\(directory.path)' has variables but no saver_def; Soma restores through the saver")
        } else {
            restoredWith = "none"
        }
        // The main op.
        if let initOp = meta.mainOp {
            let name = initOp.split(separator: ":").first.map(String.init) ?? initOp
            guard let node = graph.node(named: name) else {
                throw SomaError.invalidArgument("SavedModel '\(directory.path)': main op '\(initOp)' is not a node")
            }
            _ = try session.run(fetches: [], feeds: assets, targets: [node])
        }
        var signatures: [String: Signature] = [:]
        for (key, def) in meta.signatures where key != "__saved_model_init_op" {
            func infos(_ list: [String: SavedModelFile.TensorInfo], _ side: String) throws -> [String: Signature.TensorInfo] {
                try list.mapValues { info in
                    Signature.TensorInfo(name: info.name, dtype: info.dtype, shape: info.shape,
                                         output: try output(info.name, "signature '\(key)' \(side)"))
                }
            }
            signatures[key] = Signature(key: key, methodName: def.methodName, inputs: try infos(def.inputs, "input"),
                                        outputs: try infos(def.outputs, "output"), session: session)
        }
        self.signatures = signatures
    }
}
