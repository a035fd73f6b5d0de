import ArgumentParser
import Foundation
import Soma

extension GraphTool {
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time repeated runs of a graph: latency median, p10, p90 and runs per second.")

        @Argument(help: "The GraphDef file (.pb).")
        var model: String

        @Option(name: .customLong("input"), help: ArgumentHelp(
            "A value to feed, as NAME=FILE.npy. Repeatable. Placeholders of fully known shape default to zeros.",
            valueName: "name=file.npy"))
        var inputs: [String] = []

        @Option(name: .customLong("fetch"), help: ArgumentHelp(
            "An output to compute (NAME or NAME:k). Repeatable; default: the graph's possible outputs.", valueName: "name"))
        var fetches: [String] = []

        @Option(help: "Timed runs.")
        var runs = 100

        @Option(help: "Untimed runs first (compiling the plan, warming caches).")
        var warmup = 10

        @Option(help: "Threads for both inter-op and intra-op parallelism (0: the number of cores).")
        var threads = 0

        @Flag(help: "Print the result as JSON (median_ms, p10_ms, p90_ms, runs_per_second, …).")
        var json = false

        func validate() throws {
            guard runs > 0 else { throw ValidationError("--runs must be positive") }
            guard warmup >= 0, threads >= 0 else { throw ValidationError("--warmup and --threads must not be negative") }
        }

        func run() throws {
            let graph = try loadGraph(model)
            var feeds: [Output: Soma.Tensor] = [:]
            for input in inputs {
                let parts = input.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw ValidationError("--input '\(input)' must be NAME=FILE.npy") }
                feeds[try resolveOutput(parts[0], in: graph)] = try withToolErrors {
                    try Soma.Tensor(contentsOfNPY: URL(fileURLWithPath: parts[1]))
                }
            }
            for node in graph.nodes where node.op == "Placeholder" && !feeds.keys.contains(where: { $0.node === node }) {
                guard let dims = node.outputShapes[0].concrete else {
                    throw ToolError("placeholder '\(node.name)' has shape \(node.outputShapes[0]): give --input \(node.name)=FILE.npy")
                }
                feeds[graph.output(of: node)] = Soma.Tensor(zeros: node.outputTypes[0], shape: dims)
            }
            let outputs = try fetches.isEmpty ? GraphSummary.possibleOutputs(graph) : fetches.map { try resolveOutput($0, in: graph) }
            var options = SessionOptions()
            options.interOpThreads = threads
            options.intraOpThreads = threads
            let session = Session(graph: graph, options: options)
            var samples: [Double] = []
            try withToolErrors {
                for _ in 0..<warmup { _ = try session.run(fetches: outputs, feeds: feeds) }
                samples.reserveCapacity(runs)
                for _ in 0..<runs {
                    let start = DispatchTime.now().uptimeNanoseconds
                    _ = try session.run(fetches: outputs, feeds: feeds)
                    samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                }
            }
            samples.sort()
            func percentile(_ p: Double) -> Double { samples[Swift.min(samples.count - 1, Int(p * Double(samples.count - 1) + 0.5))] }
            let median = percentile(0.5), p10 = percentile(0.1), p90 = percentile(0.9)
            let total = samples.reduce(0, +)
            let perSecond = Double(runs) / (total / 1000)
            if json {
                let object: [String: Any] = [
                    "median_ms": median, "p10_ms": p10, "p90_ms": p90, "mean_ms": total / Double(runs),
                    "runs_per_second": perSecond, "runs": runs, "warmup": warmup, "threads": threads,
                ]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print(String(format: "median %.4f ms  p10 %.4f ms  p90 %.4f ms  %.1f runs/s  (%d runs, %d warm-up)",
                             median, p10, p90, perSecond, runs, warmup))
            }
        }
    }
}
