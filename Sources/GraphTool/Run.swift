import ArgumentParser
import Foundation
import Soma

extension GraphTool {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Feed .npy inputs to a graph, run it, and write or print the fetched outputs.",
            discussion: """
                Examples:
                  graphtool run model.pb --input x=x.npy --fetch probs
                  graphtool run model.pb --input x=x.npy --fetch probs:0=probs.npy --fetch classes
                """)

        @Argument(help: "The GraphDef file (.pb).")
        var model: String

        @OptionGroup var feedOptions: FeedOptions
        @OptionGroup var memoryOptions: MemoryOptions

        @Option(name: .customLong("fetch"), help: ArgumentHelp(
            "An output to compute, as NAME[:k], written to OUT.npy with NAME[:k]=OUT.npy or printed otherwise. Repeatable.",
            valueName: "name[:k][=out.npy]"))
        var fetches: [String] = []

        @Option(name: .customLong("target"), help: ArgumentHelp(
            "A node to run for its effects (an initializer, a training step) before fetching. Repeatable; each runs once, in order.",
            valueName: "name"))
        var targets: [String] = []

        func validate() throws {
            guard !fetches.isEmpty || !targets.isEmpty else { throw ValidationError("Give at least one --fetch or --target.") }
        }

        func run() throws {
            let budget = memoryOptions.budget()
            let graph = try loadGraph(model, budget: budget)
            let feeds = try feedOptions.feeds(for: graph)
            let requests = try fetches.map { spec -> (Output, String?) in
                let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
                return (try resolveOutput(parts[0], in: graph), parts.count > 1 ? parts[1] : nil)
            }
            let targetNodes = try targets.map { name -> Node in
                guard let node = graph.node(named: name) else { throw ToolError("--target '\(name)' is not a node of the graph") }
                return node
            }
            var options = SessionOptions()
            options.memoryBudget = budget
            let session = Session(graph: graph, options: options)
            let results: [Tensor]
            do {
                for target in targetNodes { _ = try session.run(fetches: [], feeds: feeds, targets: [target]) }
                results = try session.run(fetches: requests.map(\.0), feeds: feeds)
            } catch let error as SomaError {
                throw ToolError(error.message.replacingOccurrences(of: "\n", with: " "))
            }
            for ((output, file), value) in zip(requests, results) {
                if let file {
                    do { try value.saveNPY(to: URL(fileURLWithPath: file)) } catch let error as SomaError {
                        throw ToolError(error.message)
                    }
                    printEscaped("\(output.name) → \(file) (\(value.dtype) \(Run.shapeText(value.shape)))")
                } else {
                    printEscaped("\(output.name) \(value.dtype) \(Run.shapeText(value.shape)) \(Run.leadingValues(value))")
                }
            }
        }

        static func shapeText(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ",") + "]" }

        /// The first few values, flattened: `[0.1, 0.2, 0.3, …] (6 values)`.
        static func leadingValues(_ t: Tensor, count: Int = 8) -> String {
            let all = t.doubleScalars()
            let shown = all.prefix(count).map { v -> String in
                switch t.dtype {
                case .bool: v != 0 ? "true" : "false"
                case .float32: "\(Float(v))"
                case .float64: "\(v)"
                default: "\(Int64(v))"
                }
            }
            let more = all.count > count ? ", …] (\(all.count) values)" : "]"
            return "[" + shown.joined(separator: ", ") + more
        }
    }
}
