import Foundation
import Testing
@testable import Soma

/// `graphtool`, run as a process, the way a user runs it.
@Suite struct GraphToolTests {
    static var binary: URL { Bundle.main.bundleURL.appendingPathComponent("graphtool") }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static func graphtool(_ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }

    static let fixtures = TensorFlowFixtureTests.root

    @Test(arguments: TensorFlowFixtureTests.models)
    func runReproducesTensorFlowsOutputs(model: String) throws {
        let folder = Self.fixtures.appendingPathComponent(model)
        let manifest = try TensorFlowFixtureTests.manifest(model)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("graphtool-\(UUID())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        var args = ["run", folder.appendingPathComponent("model.pb").path]
        for (name, file) in manifest.inputs { args += ["--input", "\(name)=\(folder.appendingPathComponent(file).path)"] }
        for (k, fetch) in manifest.fetches.enumerated() { args += ["--fetch", "\(fetch.name)=\(scratch.path)/out\(k).npy"] }
        let result = try Self.graphtool(args)
        #expect(result.status == 0, "\(result.stderr)")
        for (k, fetch) in manifest.fetches.enumerated() {
            let actual = try Tensor(contentsOfNPY: scratch.appendingPathComponent("out\(k).npy"))
            let expected = try Tensor(contentsOfNPY: folder.appendingPathComponent(fetch.file))
            #expect(matches(actual, expected, tolerance: fetch.tolerance), "\(model)/\(fetch.name)")
        }
    }

    @Test func runPrintsWhenNoFileIsGiven() throws {
        let folder = Self.fixtures.appendingPathComponent("mlp")
        let result = try Self.graphtool(["run", folder.appendingPathComponent("model.pb").path,
                                         "--input", "x=\(folder.appendingPathComponent("x.npy").path)", "--fetch", "out_classes"])
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("out_classes:0 int64 [5] ["))
    }

    @Test func failuresAreOneLineOnStderrWithANonZeroExit() throws {
        let model = Self.fixtures.appendingPathComponent("mlp/model.pb").path
        for args in [["run", model, "--fetch", "out_probs"],                       // unfed placeholder
                     ["run", model, "--fetch", "no_such_node"],                    // unknown fetch
                     ["run", model, "--input", "x=/no/such/file.npy", "--fetch", "out_probs"],
                     ["run", "/no/such/model.pb", "--fetch", "a"],
                     ["inspect", Self.fixtures.appendingPathComponent("mlp/manifest.json").path]] {
            let result = try Self.graphtool(args)
            #expect(result.status != 0, "\(args)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(args): \(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
        let unfed = try Self.graphtool(["run", model, "--fetch", "out_probs"])
        #expect(unfed.stderr.contains("You must feed a value for placeholder tensor 'x'"))
    }

    @Test func inspectSummarisesLikeSummarizeGraph() throws {
        let model = Self.fixtures.appendingPathComponent("mlp/model.pb").path
        let text = try Self.graphtool(["inspect", model])
        #expect(text.status == 0)
        #expect(text.stdout.contains("Found 1 possible inputs:\n  (name=x, op=Placeholder, type=float32, shape=[?,8])"))
        #expect(text.stdout.contains("(name=out_classes, op=Identity, type=int64, shape=[?])"))
        let json = try Self.graphtool(["inspect", model, "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["node_count"] as? Int == 27)
        #expect((object["op_counts"] as? [String: Int])?["MatMul"] == 3)
        #expect(object["const_parameters"] as? Int == 8 * 16 + 16 + 16 * 4 + 4 * 16 + 4)
        #expect((object["nodes"] as? [[String: Any]])?.count == 27)
    }

    @Test func everyCommandAndOptionHasHelp() throws {
        let root = try Self.graphtool(["--help"])
        #expect(root.stdout.contains("inspect") && root.stdout.contains("run"))
        let run = try Self.graphtool(["run", "--help"])
        for option in ["--input", "--fetch", "--target", "<model>"] { #expect(run.stdout.contains(option), "\(option)") }
        #expect(run.stdout.contains("Feed .npy inputs to a graph"))
        let inspect = try Self.graphtool(["inspect", "--help"])
        for option in ["--json", "--nodes", "--plan", "--input", "--fetch", "<model>"] { #expect(inspect.stdout.contains(option), "\(option)") }
        let optimize = try Self.graphtool(["optimize", "--help"])
        for option in ["--output", "--fetch", "--disable", "<model>"] { #expect(optimize.stdout.contains(option), "\(option)") }
        let bench = try Self.graphtool(["bench", "--help"])
        for option in ["--input", "--fetch", "--runs", "--warmup", "--threads", "--json", "<model>"] {
            #expect(bench.stdout.contains(option), "\(option)")
        }
    }

    @Test func optimizeReportsEachPassAndWritesARunnableGraph() throws {
        let folder = Self.fixtures.appendingPathComponent("mlp")
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("optimized-\(UUID()).pb")
        defer { try? FileManager.default.removeItem(at: out) }
        let result = try Self.graphtool(["optimize", folder.appendingPathComponent("model.pb").path, "-o", out.path])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let passLine = /^[a-z_]+: \d+ nodes \([+-]?\d+\), \d+\.\d ms$/
        #expect(lines.dropLast().allSatisfy { $0.wholeMatch(of: passLine) != nil }, "\(lines)")
        #expect(lines.first?.hasPrefix("pruning: 27 nodes (0), ") == true)
        #expect(lines.contains { $0.hasPrefix("remapper: ") && $0.contains("(-2)") })
        let optimized = try Graph(contentsOf: out)
        #expect(optimized.nodes.filter { $0.op == "_FusedMatMul" }.count == 1)
        let manifest = try TensorFlowFixtureTests.manifest("mlp")
        let expected = try Tensor(contentsOfNPY: folder.appendingPathComponent(manifest.fetches[0].file))
        let run = try Self.graphtool(["run", out.path, "--input", "x=\(folder.appendingPathComponent("x.npy").path)",
                                      "--fetch", "\(manifest.fetches[0].name)=\(out.path).npy"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(matches(try Tensor(contentsOfNPY: URL(fileURLWithPath: out.path + ".npy")), expected, tolerance: 1e-5))
        try? FileManager.default.removeItem(atPath: out.path + ".npy")
        let disabled = try Self.graphtool(["optimize", folder.appendingPathComponent("model.pb").path, "-o", out.path,
                                           "--disable", "remapper", "--disable", "constant_folding"])
        #expect(!disabled.stdout.contains("remapper") && !disabled.stdout.contains("constant_folding"))
        let unknown = try Self.graphtool(["optimize", folder.appendingPathComponent("model.pb").path, "-o", out.path, "--disable", "magic"])
        #expect(unknown.status != 0 && unknown.stderr.contains("Unknown pass 'magic'"))
    }

    @Test func inspectPlanPrintsTheScheduleAndBufferPlan() throws {
        let folder = Self.fixtures.appendingPathComponent("mlp")
        let model = folder.appendingPathComponent("model.pb").path, x = "x=\(folder.appendingPathComponent("x.npy").path)"
        let text = try Self.graphtool(["inspect", model, "--plan", "--input", x])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("plan: ") && text.stdout.contains("_FusedMatMul(x, "))
        let json = try Self.graphtool(["inspect", model, "--plan", "--input", x, "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let peak = try #require(object["peak_bytes"] as? Int), bound = try #require(object["lower_bound_bytes"] as? Int)
        let noReuse = try #require(object["no_reuse_bytes"] as? Int)
        #expect(bound <= peak && peak <= noReuse)
        #expect((object["steps"] as? [[String: Any]])?.isEmpty == false)
        let missing = try Self.graphtool(["inspect", model, "--plan"])
        #expect(missing.status != 0 && missing.stderr.contains("placeholder 'x' has shape [?,8]: give --input x=FILE.npy"))
    }

    @Test func benchReportsLatencies() throws {
        let folder = Self.fixtures.appendingPathComponent("mlp")
        let result = try Self.graphtool(["bench", folder.appendingPathComponent("model.pb").path, "--input",
                                         "x=\(folder.appendingPathComponent("x.npy").path)", "--runs", "20", "--warmup", "2", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let median = try #require(object["median_ms"] as? Double)
        let p10 = try #require(object["p10_ms"] as? Double), p90 = try #require(object["p90_ms"] as? Double)
        #expect(p10 <= median && median <= p90 && median > 0)
        let text = try Self.graphtool(["bench", folder.appendingPathComponent("model.pb").path, "--input",
                                       "x=\(folder.appendingPathComponent("x.npy").path)", "--runs", "5"])
        #expect(text.stdout.hasPrefix("median ") && text.stdout.contains("runs/s"))
    }
}
