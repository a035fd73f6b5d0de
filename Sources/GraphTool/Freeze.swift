import ArgumentParser
import Foundation
import Soma

extension GraphTool {
    struct Freeze: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a self-contained GraphDef: the model's variables replaced by constants of their values, "
                + "only what the outputs need kept (as TF's freeze_graph).",
            discussion: """
                Examples:
                  graphtool freeze exported/ -o frozen.pb                       (the serving_default outputs)
                  graphtool freeze exported/ --signature classify -o frozen.pb
                  graphtool freeze train.pb --checkpoint train/ --fetch probs -o frozen.pb
                """)

        @Argument(help: "The SavedModel directory, or GraphDef file (.pb) with --checkpoint or --init.")
        var model: String

        @OptionGroup var savedModelOptions: SavedModelOptions

        @Option(name: .shortAndLong, help: ArgumentHelp("Where to write the frozen GraphDef.", valueName: "out.pb"))
        var output: String

        @Option(help: ArgumentHelp("With a GraphDef: the checkpoint (a prefix, or a folder's latest) holding the variables' values.",
                                   valueName: "prefix"))
        var checkpoint: String? = nil

        @Option(name: .customLong("init"), help: ArgumentHelp(
            "A node to run first to set the variables (e.g. init, to freeze initial values). Repeatable.", valueName: "node"))
        var initializers: [String] = []

        @Option(name: .customLong("fetch"), help: ArgumentHelp(
            "An output to keep (NAME or NAME:k; with --signature, an output key). Repeatable; default: the signature's outputs "
            + "(serving_default's for a SavedModel without --signature). Required for a GraphDef.", valueName: "name"))
        var fetches: [String] = []

        @OptionGroup var memoryOptions: MemoryOptions

        func run() throws {
            let budget = memoryOptions.budget()
            var options = savedModelOptions
            if isDirectory(model), options.signature == nil, fetches.isEmpty { options.signature = "serving_default" }
            let loaded = try LoadedModel.load(model, savedModel: options, checkpoint: checkpoint, budget: budget)
            if !isDirectory(model), checkpoint == nil, initializers.isEmpty, !loaded.graph.variables.isEmpty {
                throw ToolError("\(model) has variables: give --checkpoint PREFIX for their values (or --init init for their initial ones)")
            }
            let outputs: [Output]
            if fetches.isEmpty {
                guard loaded.signature != nil else { throw ToolError("give the outputs to keep with --fetch NAME") }
                outputs = loaded.defaultFetches.map(\.output)
            } else {
                outputs = try fetches.map { try loaded.output($0) }
            }
            try withToolErrors {
                for name in initializers { try loaded.session.run(target: try loaded.node(name, "--init")) }
                let frozen = try loaded.graph.frozen(session: loaded.session, outputs: outputs)
                try frozen.save(to: URL(fileURLWithPath: output))
                let variableNames = Set(loaded.graph.variables.map(\.name))
                let replaced = frozen.nodes.filter { variableNames.contains($0.name) }.count
                print("\(replaced) variable\(replaced == 1 ? "" : "s") frozen; \(loaded.graph.nodes.count) → \(frozen.nodes.count) nodes, "
                      + "written to \(output)")
                if let signature = loaded.signature {
                    for (key, info) in signature.outputs.sorted(by: { $0.key < $1.key }) where outputs.contains(info.output) {
                        printEscaped("  output \(key): \(info.name)")
                    }
                    for (key, info) in signature.inputs.sorted(by: { $0.key < $1.key }) { printEscaped("  input \(key): \(info.name)") }
                }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a SavedModel: its tag sets, signatures (inputs and outputs with dtypes and shapes) and variables "
                + "(as saved_model_cli show --all).")

        @Argument(help: "The SavedModel directory.")
        var model: String

        @OptionGroup var memoryOptions: MemoryOptions

        func run() throws {
            guard isDirectory(model) else {
                throw ToolError("\(model) is not a SavedModel directory (for a GraphDef file, use graphtool inspect)")
            }
            var limits = GraphDefLimits()
            limits.memoryBudget = memoryOptions.budget()
            let contents = try withToolErrors { try SavedModel.contents(of: URL(fileURLWithPath: model), limits: limits) }
            var lines: [String] = []
            for meta in contents.metaGraphs {
                let version = meta.tensorflowVersion.isEmpty ? "" : " (written by TensorFlow \(meta.tensorflowVersion))"
                lines.append("MetaGraphDef with tag-set: '\(meta.tags.sorted().joined(separator: ", "))'\(version) contains the following SignatureDefs:")
                for (key, signature) in meta.signatures.sorted(by: { $0.key < $1.key }) {
                    lines.append("")
                    lines.append("signature_def['\(key)']:")
                    for (side, tensors) in [("input", signature.inputs), ("output", signature.outputs)] {
                        lines.append("  The given SavedModel SignatureDef contains the following \(side)(s):")
                        for (name, t) in tensors.sorted(by: { $0.key < $1.key }) {
                            lines.append("    \(side)s['\(name)'] tensor_info:")
                            lines.append("        dtype: \(t.dtype?.tfName ?? "unknown")")
                            lines.append("        shape: \(Self.shapeText(t.shape))")
                            lines.append("        name: \(t.name)")
                        }
                    }
                    lines.append("  Method name is: \(signature.methodName)")
                }
                lines.append("")
            }
            if let prefix = contents.variablesPrefix {
                let reader = try withToolErrors { try CheckpointReader(prefix: prefix, budget: limits.memoryBudget!) }
                let names = reader.names.filter { $0 != "_CHECKPOINTABLE_OBJECT_GRAPH" }
                let bytes = names.reduce(0) { $0 + reader.entries[$1]!.size }
                lines.append("Variables (\(names.count), \(bytes) bytes):")
                for name in names {
                    let e = reader.entries[name]!
                    lines.append("  \(name) (\(e.dtype?.name ?? "dtype \(e.rawDType)")) \(GraphTool.Run.shapeText(e.shape)) \(e.size) bytes")
                }
            } else {
                lines.append("No variables.")
            }
            printEscaped(lines.joined(separator: "\n"))
        }

        /// `(-1, 28, 28, 1)` as saved_model_cli prints shapes; `unknown_rank` without a rank.
        static func shapeText(_ shape: TensorShape) -> String {
            guard let dims = shape.dimensions else { return "unknown_rank" }
            let parts = dims.map { $0.map(String.init) ?? "-1" }
            return parts.count == 1 ? "(\(parts[0]),)" : "(" + parts.joined(separator: ", ") + ")"
        }
    }
}
