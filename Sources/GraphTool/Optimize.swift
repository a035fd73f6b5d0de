import ArgumentParser
import Foundation
import Soma

extension GraphTool {
    struct Optimize: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Optimise a graph for its outputs and save it as a GraphDef that TensorFlow can run.",
            discussion: "Passes: " + Passes.all.joined(separator: ", ")
                + ". fold_padding, fold_batch_norms, prune_padding_taps, fuse_matmul_sums, shared_transpose, elementwise_fusion, the loop passes, "
                + "transform_winograd_filters and pack_weight_panels apply to plans only, so never to saved graphs.")

        @Argument(help: "The GraphDef file (.pb) or SavedModel directory.")
        var model: String

        @OptionGroup var savedModelOptions: SavedModelOptions

        @Option(name: .shortAndLong, help: ArgumentHelp("Where to write the optimised GraphDef.", valueName: "out.pb"))
        var output: String

        @Option(name: .customLong("fetch"), help: ArgumentHelp(
            "An output to keep (NAME or NAME:k; with --signature, an output key). Repeatable; default: the signature's outputs, "
            + "or the graph's possible outputs.", valueName: "name"))
        var fetches: [String] = []

        @Option(name: .customLong("target"), help: ArgumentHelp(
            "A node to keep for its effects (init, a training op). Repeatable.", valueName: "name"))
        var targets: [String] = []

        @Option(name: .customLong("disable"), help: ArgumentHelp("A pass to skip. Repeatable.", valueName: "pass"))
        var disabled: [String] = []

        @OptionGroup var memoryOptions: MemoryOptions

        func validate() throws {
            for pass in disabled where !Passes.all.contains(pass) {
                throw ValidationError("Unknown pass '\(pass)'; the passes are \(Passes.all.joined(separator: ", "))")
            }
        }

        func run() throws {
            let budget = memoryOptions.budget()
            var limits = GraphDefLimits()
            limits.memoryBudget = budget
            let graph: Graph
            var signature: SavedModel.Contents.SignatureSpec?
            if isDirectory(model) {
                // The graph alone: optimising needs no variable values.
                let url = URL(fileURLWithPath: model)
                graph = try withToolErrors { try SavedModel.graph(from: url, tags: savedModelOptions.tagSet, limits: limits) }
                if let key = savedModelOptions.signature {
                    let contents = try withToolErrors { try SavedModel.contents(of: url, limits: limits) }
                    let signatures = contents.metaGraphs.first { $0.tags == savedModelOptions.tagSet }?.signatures ?? [:]
                    guard let s = signatures[key] else {
                        throw ToolError("\(model) has no signature '\(key)'; its signatures: \(signatures.keys.sorted().joined(separator: ", "))")
                    }
                    signature = s
                }
            } else {
                if savedModelOptions.signature != nil { throw ToolError("--signature needs a SavedModel directory; \(model) is a GraphDef file") }
                graph = try loadGraph(model, budget: budget)
            }
            let loaded = LoadedModel(path: model, graph: graph, session: Session(graph: graph), signature: nil)
            let outputs: [Output]
            if let signature {
                let keys = fetches.isEmpty ? signature.outputs.keys.sorted() : fetches
                outputs = try keys.map { key in
                    guard let info = signature.outputs[key] else {
                        throw ToolError("signature '\(savedModelOptions.signature!)' has no output '\(key)'; its outputs: \(signature.outputs.keys.sorted().joined(separator: ", "))")
                    }
                    return try resolveOutput(info.name, in: graph)
                }
            } else {
                outputs = try fetches.isEmpty ? GraphSummary.possibleOutputs(graph) : fetches.map { try resolveOutput($0, in: graph) }
            }
            let targetNodes = try targets.map { try loaded.node($0, "--target") }
            let (optimized, report) = try withToolErrors {
                try Compiler.optimize(graph, fetches: outputs, targets: targetNodes, options: CompileOptions(disabledPasses: Set(disabled)))
            }
            for line in report { printEscaped("\(line)") }
            try withToolErrors { try optimized.save(to: URL(fileURLWithPath: output)) }
            print("\(graph.nodes.count) → \(optimized.nodes.count) nodes, written to \(output)")
            // Variables kept without a way to set them make a file that cannot run alone.
            let uninitialised = optimized.variables.filter { $0.initializer == nil }
            if !uninitialised.isEmpty {
                let names = uninitialised.prefix(3).map(\.name).joined(separator: ", ") + (uninitialised.count > 3 ? ", …" : "")
                let keep = graph.node(named: "init") != nil ? "keep their initializers with --target init, or " : ""
                let source = isDirectory(model) ? model : "\(model) --checkpoint PREFIX"
                printEscaped("note: \(uninitialised.count) variable\(uninitialised.count == 1 ? "" : "s") (\(names)) are read but not set in the output; "
                             + "\(keep)freeze their values in: graphtool freeze \(source) -o frozen.pb")
            }
        }
    }
}

/// Runs `body`, turning a ``SomaError`` into a one-line tool error.
func withToolErrors<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as SomaError {
        throw ToolError(error.message.replacingOccurrences(of: "\n", with: " "))
    }
}
