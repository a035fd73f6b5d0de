import ArgumentParser
import Foundation
import Soma

@main
struct GraphTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graphtool",
        abstract: "Inspect, run, optimise, benchmark, profile, draw and freeze TensorFlow GraphDef (.pb) files and SavedModels with Soma.",
        subcommands: [Inspect.self, Show.self, Run.self, Optimize.self, Bench.self, Profile.self, Draw.self, Freeze.self])
}

/// An error for the command line: printed as one line on stderr, exit code 1.
struct ToolError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description.escapingControlCharacters }
}

/// Prints text whose lines may hold names from a model file: each line escaped
/// (``Swift/String/escapingControlCharacters``), so a file cannot drive the terminal.
func printEscaped(_ text: String) {
    print(text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0).escapingControlCharacters }
        .joined(separator: "\n"))
}

/// `--memory-limit BYTES`, shared by every subcommand that loads or runs a model: one
/// budget for the load (constants) and the runs (arenas, outputs, scratch, fetches).
struct MemoryOptions: ParsableArguments {
    @Option(name: .customLong("memory-limit"), help: ArgumentHelp(
        "The most memory the model may hold, loading and running: bytes, or with a unit (512MiB, 2GB, 64k). "
        + "Default: half the physical memory.", valueName: "bytes"),
            transform: { text in
                guard let bytes = MemoryBudget.parseByteCount(text) else {
                    throw ValidationError("--memory-limit '\(text)' is not a byte count such as 1048576, 512MiB or 2GB")
                }
                return bytes
            })
    var memoryLimit: Int? = nil

    /// The budget for this invocation.
    func budget() -> MemoryBudget { MemoryBudget(limit: memoryLimit ?? MemoryBudget.defaultLimit) }
}

/// Loads a GraphDef, turning any failure into one line naming the file.
func loadGraph(_ path: String, budget: MemoryBudget = MemoryBudget()) throws -> Graph {
    var limits = GraphDefLimits()
    limits.memoryBudget = budget
    do {
        return try Graph(contentsOf: URL(fileURLWithPath: path), limits: limits)
    } catch let error as SomaError {
        throw ToolError(error.message.replacingOccurrences(of: "\n", with: " "))
    }
}

/// `name`, `name:k`, or a node with one output.
func resolveOutput(_ name: String, in graph: Graph) throws -> Output {
    guard let output = graph.output(named: name) else {
        if let colon = name.lastIndex(of: ":"), graph.node(named: String(name[..<colon])) != nil {
            throw ToolError("'\(name)': the node has no output \(name[name.index(after: colon)...])")
        }
        throw ToolError("'\(name)' is not a node of the graph")
    }
    return output
}
