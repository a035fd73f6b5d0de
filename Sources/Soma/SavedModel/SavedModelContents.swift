import Foundation

extension SavedModel {
    /// What a SavedModel directory declares, read without building a graph or restoring
    /// anything (what `saved_model_cli show --all` prints).
    public struct Contents: Sendable {
        /// A tensor a signature names.
        public struct TensorSpec: Sendable {
            /// The graph tensor (`serving_default_x:0`).
            public let name: String
            /// `nil` when the file declares a dtype Soma lacks.
            public let dtype: DType?
            public let shape: TensorShape
        }
        /// A `SignatureDef`.
        public struct SignatureSpec: Sendable {
            public let methodName: String
            public let inputs: [String: TensorSpec]
            public let outputs: [String: TensorSpec]
        }
        /// A `MetaGraphDef`'s header.
        public struct MetaGraph: Sendable {
            public let tags: Set<String>
            /// The TensorFlow version that wrote it (`""` when not recorded).
            public let tensorflowVersion: String
            public let signatures: [String: SignatureSpec]
        }

        public let metaGraphs: [MetaGraph]
        /// The variables checkpoint's prefix (`variables/variables`), or `nil` without one.
        public let variablesPrefix: String?
    }

    /// Reads what `directory` declares: its MetaGraphDefs' tags and signatures, and where its
    /// variables are.
    /// - Throws: what ``load(from:tags:options:limits:)`` throws for a missing or malformed
    ///   `saved_model.pb`.
    public static func contents(of directory: URL, limits: GraphDefLimits = .default) throws -> Contents {
        let file = try SavedModelFile(directory: directory, limits: limits)
        func specs(_ infos: [String: SavedModelFile.TensorInfo]) -> [String: Contents.TensorSpec] {
            infos.mapValues { Contents.TensorSpec(name: $0.name, dtype: $0.dtype, shape: $0.shape) }
        }
        let metaGraphs = file.metaGraphs.map { meta in
            Contents.MetaGraph(
                tags: meta.tags, tensorflowVersion: meta.tensorflowVersion,
                signatures: meta.signatures.filter { $0.key != "__saved_model_init_op" }.mapValues {
                    Contents.SignatureSpec(methodName: $0.methodName, inputs: specs($0.inputs), outputs: specs($0.outputs))
                })
        }
        let prefix = directory.appendingPathComponent("variables").appendingPathComponent("variables").path
        return Contents(metaGraphs: metaGraphs,
                        variablesPrefix: FileManager.default.fileExists(atPath: TensorBundle.indexPath(prefix)) ? prefix : nil)
    }

    /// The graph of the MetaGraphDef tagged `tags`, built (functions inlined, variables
    /// listed) but not run: nothing restored, no session.
    /// - Throws: as ``load(from:tags:options:limits:)`` does before it restores.
    public static func graph(from directory: URL, tags: Set<String> = ["serve"], limits: GraphDefLimits = .default) throws -> Graph {
        let file = try SavedModelFile(directory: directory, limits: limits)
        return try file.graph(of: file.metaGraph(tagged: tags))
    }
}
