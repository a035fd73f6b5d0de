import ArgumentParser
import Foundation
import Soma

@main
struct GraphTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graphtool",
        abstract: "Inspect and run TensorFlow GraphDef (.pb) files with Soma.",
        subcommands: [Inspect.self, Run.self, Optimize.self, Bench.self])
}

/// An error for the command line: printed as one line on stderr, exit code 1.
struct ToolError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Loads a GraphDef, turning any failure into one line naming the file.
func loadGraph(_ path: String) throws -> Graph {
    do {
        return try Graph(contentsOf: URL(fileURLWithPath: path))
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
