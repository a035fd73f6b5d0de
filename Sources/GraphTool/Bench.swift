import ArgumentParser
import Foundation
import Soma

extension GraphTool {
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time repeated runs of a graph: latency mean, median, p10, p90 and runs per second (1000 / mean).")

        @Argument(help: "The GraphDef file (.pb) or SavedModel directory.")
        var model: String

        @OptionGroup var savedModelOptions: SavedModelOptions
        @OptionGroup var feedOptions: FeedOptions
        @OptionGroup var fetchOptions: FetchOptions
        @OptionGroup var memoryOptions: MemoryOptions

        @OptionGroup var repeatedRunOptions: RepeatedRunOptions

        @Option(help: "Timed runs.")
        var runs = 100

        @Option(help: "Untimed runs first (compiling the plan, warming caches).")
        var warmup = 10

        @Option(name: .customLong("warmup-seconds"),
                help: "Keep the untimed runs going at least this long: a fresh process's idle cores take a while to join in.")
        var warmupSeconds = 0.0

        @Flag(name: .customLong("check-numerics"), help: "Check every step's outputs for NaN and Inf while timing (its overhead).")
        var checkNumerics = false

        @Flag(help: "Print the result as JSON (median_ms, p10_ms, p90_ms, runs_per_second, …).")
        var json = false

        func validate() throws {
            guard runs > 0 else { throw ValidationError("--runs must be positive") }
            guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
            guard warmupSeconds >= 0, warmupSeconds.isFinite else { throw ValidationError("--warmup-seconds must be a non-negative number") }
        }

        func run() throws {
            let budget = memoryOptions.budget()
            let prepared = try repeatedRunOptions.prepare(model, savedModel: savedModelOptions, feedOptions: feedOptions,
                                                          fetchOptions: fetchOptions, budget: budget, checkNumerics: checkNumerics)
            let (session, outputs, targetNodes, feeds) = (prepared.model.session, prepared.outputs, prepared.targets, prepared.feeds)
            var samples: [Double] = []
            var warmedUp = 0
            // The contention monitor's decisions during the timed runs, and how many found
            // other processes competing, and the timed runs that went on the calling thread alone.
            var decisions = (made: 0, contended: 0), runsAlone = 0
            try withToolErrors {
                // A callable (TF's MakeCallable) writing into preallocated outputs: the
                // serving path, which allocates nothing per run in a steady state.
                let fed = Array(feeds)
                let callable = try session.makeCallable(feeds: fed.map(\.key), fetches: outputs, targets: targetNodes)
                let values = fed.map(\.value)
                let results = try callable.run(values).map { Tensor(zeros: $0.dtype, shape: $0.shape) }
                let warmupEnd = DispatchTime.now().uptimeNanoseconds + UInt64(warmupSeconds * 1e9)
                while warmedUp < warmup || DispatchTime.now().uptimeNanoseconds < warmupEnd {
                    try callable.run(values, into: results)
                    warmedUp += 1
                }
                samples.reserveCapacity(runs)
                decisions = ContentionMonitor.shared.decisions
                runsAlone = ContentionMonitor.shared.runsAlone
                for _ in 0..<runs {
                    let start = DispatchTime.now().uptimeNanoseconds
                    try callable.run(values, into: results)
                    samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                }
                let after = ContentionMonitor.shared.decisions
                decisions = (after.made - decisions.made, after.contended - decisions.contended)
                runsAlone = ContentionMonitor.shared.runsAlone - runsAlone
            }
            samples.sort()
            func percentile(_ p: Double) -> Double { samples[Swift.min(samples.count - 1, Int(p * Double(samples.count - 1) + 0.5))] }
            let median = percentile(0.5), p10 = percentile(0.1), p90 = percentile(0.9)
            let mean = samples.reduce(0, +) / Double(runs)
            let perSecond = 1000 / mean
            // The plan's arena and the one the runs took (the parallel layout's where steps ran
            // in parallel), next to the peak of the plan's live bytes (its lower bound).
            let plan = try withToolErrors { try session.plan(fetches: outputs, feeds: feeds, targets: targetNodes) }
            if json {
                var object: [String: Any] = [
                    "median_ms": median, "p10_ms": p10, "p90_ms": p90, "mean_ms": mean,
                    "runs_per_second": perSecond, "runs": runs, "warmup": warmedUp, "threads": repeatedRunOptions.threads,
                    "vector_instructions": vectorInstructionSet,
                    "contention_decisions": decisions.made, "contended_decisions": decisions.contended,
                    "runs_alone": runsAlone,
                ]
                if let plan {
                    object["arena_bytes"] = plan.arenaBytes
                    object["run_arena_bytes"] = plan.runArenaBytes(session.options)
                    object["lower_bound_bytes"] = plan.lowerBoundBytes
                }
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print(String(format: "mean %.4f ms  median %.4f ms  p10 %.4f ms  p90 %.4f ms  %.1f runs/s  (%d runs, %d warm-up)",
                             mean, median, p10, p90, perSecond, runs, warmedUp))
                if decisions.contended > 0 {
                    print("other processes competed for the cores at \(decisions.contended) of \(decisions.made) samples; \(runsAlone) of \(runs) runs went on one thread")
                }
            }
        }
    }
}
