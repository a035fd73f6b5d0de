import ArgumentParser
import Foundation
import Soma

extension GraphTool {
    struct Profile: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Trace runs of a graph and list its most expensive ops: time, share, calls and GFLOP/s for GEMMs and convolutions.",
            discussion: """
                Times come from traced runs (RunOptions(trace: true), TF's StepStats), summed over --runs after --warmup.
                --trace writes the last run as Chrome trace JSON: open it in https://ui.perfetto.dev or chrome://tracing.
                Examples:
                  graphtool profile model.pb --input x=x.npy --fetch probs
                  graphtool profile model.pb --fetch probs --runs 50 --top 10 --trace trace.json
                """)

        @Argument(help: "The GraphDef file (.pb) or SavedModel directory.")
        var model: String

        @OptionGroup var savedModelOptions: SavedModelOptions
        @OptionGroup var feedOptions: FeedOptions
        @OptionGroup var fetchOptions: FetchOptions
        @OptionGroup var memoryOptions: MemoryOptions

        @Option(name: .customLong("target"), help: ArgumentHelp("A node to run in every traced run for its effects. Repeatable.",
                                                                valueName: "node"))
        var targets: [String] = []

        @Option(name: .customLong("init"), help: ArgumentHelp("A node to run once first (a variable initializer). Repeatable.",
                                                              valueName: "node"))
        var initializers: [String] = []

        @Option(help: ArgumentHelp(
            "A checkpoint (prefix, or a folder's latest) to restore the graph's variables from, by name.", valueName: "prefix"))
        var checkpoint: String? = nil

        @Option(help: "Traced runs.")
        var runs = 20

        @Option(help: "Untraced runs first.")
        var warmup = 3

        @Option(help: "Ops listed.")
        var top = 20

        @Option(help: "Threads for both inter-op and intra-op parallelism (0: the number of cores).")
        var threads = 0

        @Option(help: ArgumentHelp("Write the last traced run as Chrome trace JSON here.", valueName: "file.json"))
        var trace: String? = nil

        func validate() throws {
            guard runs > 0, top > 0 else { throw ValidationError("--runs and --top must be positive") }
            guard warmup >= 0, threads >= 0 else { throw ValidationError("--warmup and --threads must not be negative") }
        }

        func run() throws {
            let budget = memoryOptions.budget()
            var options = SessionOptions()
            options.interOpThreads = threads
            options.intraOpThreads = threads
            let loaded = try LoadedModel.load(model, savedModel: savedModelOptions, checkpoint: checkpoint, budget: budget, options: options)
            let outputs = try fetchOptions.fetches.isEmpty && !targets.isEmpty ? [] : fetchOptions.outputs(of: loaded)
            let targetNodes = try targets.map { try loaded.node($0, "--target") }
            let initNodes = try initializers.map { try loaded.node($0, "--init") }
            let feeds = try feedOptions.feeds(for: loaded, zerosForStaticPlaceholders: true, fetches: outputs,
                                              targets: targetNodes + initNodes, budget: budget)
            let session = loaded.session
            var all = StepStats()
            var last = RunMetadata()
            var wall: UInt64 = 0
            try withToolErrors {
                for n in initNodes { try session.run(target: n) }
                for _ in 0..<warmup { _ = try session.run(fetches: outputs, feeds: feeds, targets: targetNodes) }
                for _ in 0..<runs {
                    var metadata = RunMetadata()
                    let start = DispatchTime.now().uptimeNanoseconds
                    _ = try session.run(fetches: outputs, feeds: feeds, targets: targetNodes, options: RunOptions(trace: true),
                                        metadata: &metadata)
                    wall += DispatchTime.now().uptimeNanoseconds - start
                    all.nodeStats += metadata.stepStats.nodeStats
                    last = metadata
                }
            }
            let profile = all.profile()
            // Body steps' time is inside their caller's: the run's total is its own steps'.
            let total = profile.filter { $0.depth == 0 }.reduce(0) { $0 + $1.totalNanos }
            printEscaped(Self.table(profile, total: total, runs: runs, top: top))
            print(String(format: "%d runs: %.3f ms per run wall, %.3f ms per run in kernels (summed over threads), %d steps per run",
                         runs, Double(wall) / 1e6 / Double(runs), Double(total) / 1e6 / Double(runs),
                         all.nodeStats.count / runs))
            if let trace {
                do { try last.stepStats.chromeTrace().write(to: URL(fileURLWithPath: trace), options: .atomic) } catch {
                    throw ToolError("--trace \(trace): \(error.localizedDescription)")
                }
                printEscaped("trace of the last run → \(trace) (open in ui.perfetto.dev or chrome://tracing)")
            }
        }

        /// The top ops as an aligned table: per-run milliseconds, share of the kernel time, calls per run, GFLOP/s.
        static func table(_ profile: [NodeProfile], total: UInt64, runs: Int, top: Int) -> String {
            var rows = [["node", "op", "ms/run", "share", "calls/run", "GFLOP/s"]]
            for p in profile.prefix(top) {
                rows.append([p.nodeName, p.op, String(format: "%.4f", Double(p.totalNanos) / 1e6 / Double(runs)),
                             String(format: "%.1f%%", total > 0 ? 100 * Double(p.totalNanos) / Double(total) : 0),
                             String(format: "%g", Double(p.calls) / Double(runs)),
                             p.gigaflopsPerSecond.map { String(format: "%.1f", $0) } ?? ""])
            }
            let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max()! }
            return rows.map { row in
                row.enumerated().map { c, cell in
                    c < 2 ? cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                          : String(repeating: " ", count: widths[c] - cell.count) + cell
                }.joined(separator: "  ")
            }.joined(separator: "\n")
        }
    }
}
