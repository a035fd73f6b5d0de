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

        @OptionGroup var repeatedRunOptions: RepeatedRunOptions

        @Option(help: "Traced runs.")
        var runs = 20

        @Option(help: "Untraced runs first.")
        var warmup = 3

        @Option(help: "Ops listed.")
        var top = 20

        @Option(help: ArgumentHelp("Write the last traced run as Chrome trace JSON here.", valueName: "file.json"))
        var trace: String? = nil

        func validate() throws {
            guard runs > 0, top > 0 else { throw ValidationError("--runs and --top must be positive") }
            guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
        }

        func run() throws {
            let prepared = try repeatedRunOptions.prepare(model, savedModel: savedModelOptions, feedOptions: feedOptions,
                                                          fetchOptions: fetchOptions, budget: memoryOptions.budget())
            let (session, outputs, targetNodes, feeds) = (prepared.model.session, prepared.outputs, prepared.targets, prepared.feeds)
            var all = StepStats()
            var last = RunMetadata()
            var wall: UInt64 = 0
            try withToolErrors {
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
