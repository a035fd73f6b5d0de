import ArgumentParser
import Foundation
import Soma

extension GraphTool {
    struct Optimize: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Optimise a graph for its outputs and save it as a GraphDef that TensorFlow can run.",
            discussion: "Passes: " + Passes.all.joined(separator: ", ")
                + ". elementwise_fusion applies to plans only, so never to saved graphs.")

        @Argument(help: "The GraphDef file (.pb).")
        var model: String

        @Option(name: .shortAndLong, help: ArgumentHelp("Where to write the optimised GraphDef.", valueName: "out.pb"))
        var output: String

        @Option(name: .customLong("fetch"), help: ArgumentHelp(
            "An output to keep (NAME or NAME:k). Repeatable; default: the graph's possible outputs.", valueName: "name"))
        var fetches: [String] = []

        @Option(name: .customLong("disable"), help: ArgumentHelp("A pass to skip. Repeatable.", valueName: "pass"))
        var disabled: [String] = []

        @OptionGroup var memoryOptions: MemoryOptions

        func validate() throws {
            for pass in disabled where !Passes.all.contains(pass) {
                throw ValidationError("Unknown pass '\(pass)'; the passes are \(Passes.all.joined(separator: ", "))")
            }
        }

        func run() throws {
            let graph = try loadGraph(model, budget: memoryOptions.budget())
            let outputs = try fetches.isEmpty ? GraphSummary.possibleOutputs(graph) : fetches.map { try resolveOutput($0, in: graph) }
            let (optimized, report) = try withToolErrors {
                try Compiler.optimize(graph, fetches: outputs, options: CompileOptions(disabledPasses: Set(disabled)))
            }
            for line in report { printEscaped("\(line)") }
            try withToolErrors { try optimized.save(to: URL(fileURLWithPath: output)) }
            print("\(graph.nodes.count) → \(optimized.nodes.count) nodes, written to \(output)")
        }
    }
}

/// Runs `body`, turning a ``SomaError`` into a one-line tool error.
func withToolErrors<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as SomaError {
        throw ToolError(error.message.replacingOccurrences(of: "\n", with: " "))
    }
}
