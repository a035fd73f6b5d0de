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
                  graphtool run model.pb --checkpoint train/ --input x=x.npy --fetch probs
                  graphtool run exported/ --signature serving_default --input x=x.npy --fetch probs=probs.npy
                """)

        @Argument(help: "The GraphDef file (.pb) or SavedModel directory.")
        var model: String

        @OptionGroup var savedModelOptions: SavedModelOptions
        @OptionGroup var feedOptions: FeedOptions
        @OptionGroup var memoryOptions: MemoryOptions

        @Option(help: ArgumentHelp(
            "A checkpoint (prefix, or a folder's latest) to restore the graph's variables from, by name.", valueName: "prefix"))
        var checkpoint: String? = nil

        @Option(name: .customLong("fetch"), help: ArgumentHelp(
            "An output to compute, as NAME[:k] (with --signature, an output key), written to OUT.npy with NAME[:k]=OUT.npy "
            + "or printed otherwise. Repeatable; with --signature, default: all its outputs.",
            valueName: "name[:k][=out.npy]"))
        var fetches: [String] = []

        @Option(name: .customLong("target"), help: ArgumentHelp(
            "A node to run for its effects (an initializer, a training step) before fetching. Repeatable; each runs once, in order.",
            valueName: "name"))
        var targets: [String] = []

        @Flag(name: .customLong("check-numerics"), help: ArgumentHelp(
            "Stop at the first op whose output holds a NaN or an infinity, naming it (TF's enable_check_numerics)."))
        var checkNumerics = false

        func validate() throws {
            guard !fetches.isEmpty || !targets.isEmpty || savedModelOptions.signature != nil else {
                throw ValidationError("Give at least one --fetch or --target.")
            }
        }

        func run() throws {
            let budget = memoryOptions.budget()
            var options = SessionOptions()
            options.checkNumerics = checkNumerics
            let loaded = try LoadedModel.load(model, savedModel: savedModelOptions, checkpoint: checkpoint, budget: budget,
                                              options: options)
            let feeds = try feedOptions.feeds(for: loaded)
            let requests: [(label: String, output: Output, file: String?)]
            if fetches.isEmpty {
                requests = loaded.defaultFetches.map { ($0.label, $0.output, nil) }
            } else {
                requests = try fetches.map { spec in
                    // "name" or "name=file.npy"; an empty name is the loader's error, an empty file ours.
                    let parts = spec.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                    if parts.count > 1 && parts[1].isEmpty { throw ToolError("--fetch '\(spec)': no file after '='") }
                    return (parts[0], try loaded.output(parts[0]), parts.count > 1 ? parts[1] : nil)
                }
            }
            let targetNodes = try targets.map { try loaded.node($0, "--target") }
            let session = loaded.session
            let results: [Tensor]
            do {
                for target in targetNodes { _ = try session.run(fetches: [], feeds: feeds, targets: [target]) }
                results = try session.run(fetches: requests.map(\.output), feeds: feeds)
            } catch let error as SomaError {
                throw ToolError(error.message.replacingOccurrences(of: "\n", with: " "))
            }
            for ((label, output, file), value) in zip(requests, results) {
                let name = loaded.signature == nil ? output.name : label
                if let file {
                    do { try value.saveNPY(to: URL(fileURLWithPath: file)) } catch let error as SomaError {
                        throw ToolError(error.message)
                    }
                    printEscaped("\(name) → \(file) (\(value.dtype) \(Run.shapeText(value.shape)))")
                } else {
                    printEscaped("\(name) \(value.dtype) \(Run.shapeText(value.shape)) \(Run.leadingValues(value))")
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
