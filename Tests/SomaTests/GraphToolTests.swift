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
                     ["run", model, "--fetch", ""], ["run", model, "--fetch", "out_probs="],
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
        for input in ["=x.npy", "x=", "x"] {
            let malformed = try Self.graphtool(["run", model, "--input", input, "--fetch", "out_probs"])
            #expect(malformed.status == 64 && malformed.stderr.contains("must be NAME=FILE.npy"), "\(input): \(malformed.stderr)")
        }
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
        for (command, options) in [("show", ["<model>"]), ("freeze", ["--output", "--checkpoint", "--init", "--fetch", "--signature", "--tags"]),
                                   ("run", ["--signature", "--tags", "--checkpoint"]), ("inspect", ["--checkpoint", "--tensor"])] {
            let help = try Self.graphtool([command, "--help"])
            for option in options { #expect(help.stdout.contains(option), "\(command) \(option)") }
        }
        let bench = try Self.graphtool(["bench", "--help"])
        for option in ["--input", "--fetch", "--runs", "--warmup", "--threads", "--json", "<model>"] {
            #expect(bench.stdout.contains(option), "\(option)")
        }
        let profile = try Self.graphtool(["profile", "--help"])
        for option in ["--input", "--fetch", "--runs", "--top", "--trace", "--threads", "<model>"] {
            #expect(profile.stdout.contains(option), "profile \(option)")
        }
        #expect(try Self.graphtool(["run", "--help"]).stdout.contains("--check-numerics"))
        let draw = try Self.graphtool(["draw", "--help"])
        for option in ["--output", "--depth", "--plan", "--memory", "--input", "--fetch", "--target", "<model>"] {
            #expect(draw.stdout.contains(option), "draw \(option)")
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
        let noReuse = try #require(object["no_reuse_bytes"] as? Int), parallel = try #require(object["parallel_arena_bytes"] as? Int)
        #expect(bound <= peak && peak <= noReuse && bound <= parallel && parallel <= noReuse)
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
        // Runs per second are 1000 / mean latency, not a figure of their own.
        let mean = try #require(object["mean_ms"] as? Double), perSecond = try #require(object["runs_per_second"] as? Double)
        #expect(abs(perSecond * mean - 1000) < 1e-6)
        // The plan's arena and the one the runs took, both at least the peak of live bytes.
        let arena = try #require(object["arena_bytes"] as? Int), run = try #require(object["run_arena_bytes"] as? Int)
        let bound = try #require(object["lower_bound_bytes"] as? Int)
        #expect(bound <= arena && bound <= run)
        let text = try Self.graphtool(["bench", folder.appendingPathComponent("model.pb").path, "--input",
                                       "x=\(folder.appendingPathComponent("x.npy").path)", "--runs", "5"])
        #expect(text.stdout.hasPrefix("mean ") && text.stdout.contains(" median ") && text.stdout.contains("runs/s"))
        // The warm-up runs it did: the count given, or more while --warmup-seconds lasts.
        #expect(object["warmup"] as? Int == 2)
        let warm = try Self.graphtool(["bench", folder.appendingPathComponent("model.pb").path, "--input",
                                       "x=\(folder.appendingPathComponent("x.npy").path)", "--runs", "3", "--warmup", "2",
                                       "--warmup-seconds", "0.01", "--json"])
        let warmObject = try #require(try JSONSerialization.jsonObject(with: Data(warm.stdout.utf8)) as? [String: Any])
        #expect((warmObject["warmup"] as? Int ?? 0) >= 2)
        let negative = try Self.graphtool(["bench", folder.appendingPathComponent("model.pb").path, "--warmup-seconds", "-1"])
        #expect(negative.status != 0 && negative.stderr.contains("--warmup-seconds"))
    }

    static let savedModels = SavedModelTests.root

    /// `run --signature` feeds and fetches by signature key, as `saved_model_cli run`, and
    /// gives TF's outputs; without `--signature`, graph tensor names work as for a `.pb`.
    @Test(arguments: SavedModelTests.models) func runTakesSavedModels(_ model: String) throws {
        let folder = Self.savedModels.appendingPathComponent(model)
        let manifest = try SavedModelTests.manifest(model)
        let scratch = try CheckpointTests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: scratch) }
        for (key, signature) in manifest.signatures {
            var args = ["run", folder.path, "--signature", key]
            for (name, file) in signature.inputs { args += ["--input", "\(name)=\(folder.appendingPathComponent(file).path)"] }
            for name in signature.outputs.keys { args += ["--fetch", "\(name)=\(scratch.path)/\(key)-\(name).npy"] }
            let result = try Self.graphtool(args)
            #expect(result.status == 0, "\(result.stderr)")
            for (name, file) in signature.outputs {
                let got = try Tensor(contentsOfNPY: scratch.appendingPathComponent("\(key)-\(name).npy"))
                let want = try Tensor(contentsOfNPY: folder.appendingPathComponent(file))
                #expect(got.isApproximatelyEqual(to: want, relativeTolerance: 1e-5, absoluteTolerance: 1e-6), "\(model) \(key) \(name)")
            }
        }
    }

    @Test func showListsTagSetsSignaturesAndVariables() throws {
        let result = try Self.graphtool(["show", Self.savedModels.appendingPathComponent("tf1_resource").path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("MetaGraphDef with tag-set: 'serve'"))
        #expect(result.stdout.contains("signature_def['serving_default']:"))
        #expect(result.stdout.contains("dtype: DT_FLOAT"))
        #expect(result.stdout.contains("Method name is: tensorflow/serving/predict"))
        #expect(result.stdout.contains("model/w1 (float32) [5,8] 160 bytes"))
        let bad = try Self.graphtool(["show", Self.savedModels.path])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("it has no saved_model.pb"))
    }

    @Test func inspectListsACheckpointsTensors() throws {
        let folder = CheckpointTests.root.appendingPathComponent("tf1_saver")
        let result = try Self.graphtool(["inspect", "--checkpoint", folder.path, "--tensor", "dense/kernel", "--tensor", "words"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("dense/kernel (float32) [3,2] 24 bytes"))
        #expect(result.stdout.contains("8 tensors, 94 bytes, in 1 shard"))
        #expect(result.stdout.contains("dense/kernel = [-0.2676603, "))
        #expect(result.stdout.contains("words = [\"alpha\", \"\", "))
        let missing = try Self.graphtool(["inspect", "--checkpoint", folder.appendingPathComponent("nope").path])
        #expect(missing.status != 0 && missing.stderr.contains("nope.index"))
    }

    /// Freezing a SavedModel writes a GraphDef with no variables that computes its
    /// serving outputs; a training graph freezes from a checkpoint Soma saved.
    @Test func freezeWritesSelfContainedGraphs() throws {
        let scratch = try CheckpointTests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let folder = Self.savedModels.appendingPathComponent("keras_cnn")
        let frozen = scratch.appendingPathComponent("frozen.pb").path
        let result = try Self.graphtool(["freeze", folder.path, "-o", frozen])
        #expect(result.status == 0, "\(result.stderr)")
        let graph = try Graph(contentsOf: URL(fileURLWithPath: frozen))
        #expect(graph.variables.isEmpty && !graph.nodes.contains { $0.op == "StatefulPartitionedCall" })
        let input = try #require(graph.output(named: "serving_default_image:0"))
        let output = try #require(graph.output(named: "StatefulPartitionedCall_1:0"))
        let got = try Session(graph: graph).run(output, feeds: [input: Tensor(contentsOfNPY: folder.appendingPathComponent("serving_default_in_image.npy"))])
        let want = try Tensor(contentsOfNPY: folder.appendingPathComponent("serving_default_out_output_0.npy"))
        #expect(got.isApproximatelyEqual(to: want, relativeTolerance: 1e-5, absoluteTolerance: 1e-6))

        // A GraphDef and a checkpoint.
        let m = try SavedModelTests.trainedClassifier()
        let pb = scratch.appendingPathComponent("train.pb")
        try m.graph.save(to: pb)
        let prefix = try Saver(graph: m.graph).save(m.session, to: scratch.appendingPathComponent("model.ckpt").path, globalStep: 3)
        let unset = try Self.graphtool(["freeze", pb.path, "--fetch", "probs", "-o", frozen])
        #expect(unset.status != 0 && unset.stderr.contains("give --checkpoint PREFIX"))
        let fromCheckpoint = try Self.graphtool(["freeze", pb.path, "--checkpoint", scratch.path, "--fetch", "probs", "-o", frozen])
        #expect(fromCheckpoint.status == 0, "\(fromCheckpoint.stderr)")
        let g = try Graph(contentsOf: URL(fileURLWithPath: frozen))
        let probs = try Session(graph: g).run(try #require(g.output(named: "probs:0")), feeds: [try #require(g.output(named: "x:0")): m.batch])
        #expect(try probs == m.session.run(m.probs, feeds: [m.x: m.batch]))
        #expect(prefix.hasSuffix("model.ckpt-3"))

        // run --checkpoint restores the same values.
        let npy = scratch.appendingPathComponent("x.npy")
        try m.batch.saveNPY(to: npy)
        let out = scratch.appendingPathComponent("probs.npy")
        let run = try Self.graphtool(["run", pb.path, "--checkpoint", prefix, "--input", "x=\(npy.path)", "--fetch", "probs=\(out.path)"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try Tensor(contentsOfNPY: out) == probs)
    }

    /// A TF1 training graph of resource variables benchmarks its training step, `draw`
    /// plans it, and `optimize` says how to keep or freeze the variables it would strand.
    @Test func trainingGraphsBenchAndOptimizeWithTheirVariables() throws {
        let model = Self.fixtures.deletingLastPathComponent().appendingPathComponent("resource_training/Adam.pb").path
        let bench = try Self.graphtool(["bench", model, "--init", "init", "--target", "train", "--runs", "5", "--warmup", "1"])
        #expect(bench.status == 0, "\(bench.stderr)")
        let scratch = try CheckpointTests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let step = scratch.appendingPathComponent("step.dot")
        let drawn = try Self.graphtool(["draw", model, "--plan", "--target", "train", "-o", step.path])
        #expect(drawn.status == 0, "\(drawn.stderr)")
        let plan = try String(contentsOf: step, encoding: .utf8)
        #expect(plan.contains("steps, arena") && plan.contains("ResourceApplyAdam"), "\(plan.prefix(300))")
        let out = scratch.appendingPathComponent("opt.pb").path
        let pruned = try Self.graphtool(["optimize", model, "-o", out])
        #expect(pruned.stdout.contains("are read but not set in the output; keep their initializers with --target init, or freeze"))
        let kept = try Self.graphtool(["optimize", model, "-o", out, "--target", "init", "--target", "train", "--fetch", "w"])
        #expect(kept.status == 0 && !kept.stdout.contains("note:"), "\(kept.stdout)")
        let run = try Self.graphtool(["run", out, "--target", "init", "--target", "train", "--fetch", "w"])
        #expect(run.status == 0 && run.stdout.hasPrefix("w:0 float32 [4]"), "\(run.stderr)")
        let directory = try Self.graphtool(["run", Self.savedModels.path, "--fetch", "x"])
        #expect(directory.status != 0 && directory.stderr.contains("is not a SavedModel: it has no saved_model.pb"))
    }

    /// A training graph: the loss is the one likely output; gradients, slots, variable
    /// reads and initialisation checks are dead ends; the train op and the variables are
    /// listed by themselves.
    @Test func inspectSeparatesOutputsFromDeadEndsAndListsTrainOps() throws {
        let model = Self.fixtures.deletingLastPathComponent().appendingPathComponent("resource_training/Adam.pb").path
        let text = try Self.graphtool(["inspect", model])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("Found 1 possible outputs:\n  (name=add_1, op=AddV2, type=float32, shape=[])"), "\(text.stdout)")
        #expect(text.stdout.contains("dead ends (gradients, optimiser slots"))
        #expect(text.stdout.contains("Found 1 train ops:\n  (name=train, op=AssignAddVariableOp)"))
        #expect(text.stdout.contains("(name=w/Adam_1, type=float32, shape=[4], 16B)"))
        let json = try Self.graphtool(["inspect", model, "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let deadEnds = try #require(object["dead_ends"] as? [[String: Any]]).compactMap { $0["name"] as? String }
        #expect(deadEnds.contains("gradients/pow_grad/Shape") && deadEnds.contains("w/Read/ReadVariableOp"))
        #expect((object["train_ops"] as? [[String: Any]])?.first?["name"] as? String == "train")
        #expect((object["variables"] as? [[String: Any]])?.count == 6)
    }

    /// Writes a small graph for the commands below: `y = log(x) * 2`, with a placeholder
    /// `labels` of unknown shape that `y` does not need.
    static func logGraph(in folder: URL) throws -> (model: String, zeros: String, ones: String) {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [4], name: "x")
        _ = try g.placeholder(.float32, shape: [nil], name: "labels")
        _ = try multiply(log(x, name: "logs"), g.constant(Float(2)), name: "y")
        let model = folder.appendingPathComponent("log.pb")
        try g.save(to: model)
        let zeros = folder.appendingPathComponent("zeros.npy"), ones = folder.appendingPathComponent("ones.npy")
        try Tensor([1, 2, 0, 4] as [Float]).saveNPY(to: zeros)
        try Tensor([1, 2, 3, 4] as [Float]).saveNPY(to: ones)
        return (model.path, zeros.path, ones.path)
    }

    @Test func benchAndProfileFeedOnlyWhatTheFetchesNeed() throws {
        let scratch = try CheckpointTests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let files = try Self.logGraph(in: scratch)
        let bench = try Self.graphtool(["bench", files.model, "--fetch", "y", "--runs", "3", "--warmup", "0"])
        #expect(bench.status == 0, "'labels' is not needed for y: \(bench.stderr)")
        let missing = try Self.graphtool(["bench", files.model, "--fetch", "labels", "--runs", "3"])
        #expect(missing.status != 0 && missing.stderr.contains("placeholder 'labels' has shape [?]: give --input labels=FILE.npy"))
        let trace = scratch.appendingPathComponent("trace.json")
        let profile = try Self.graphtool(["profile", files.model, "--fetch", "y", "--input", "x=\(files.ones)", "--runs", "4",
                                          "--trace", trace.path])
        #expect(profile.status == 0, "\(profile.stderr)")
        let lines = profile.stdout.split(separator: "\n")
        // The plan's steps: log and the product fused into one element-wise step named `y`.
        #expect(lines.first?.hasPrefix("node") == true && lines.contains { $0.hasPrefix("y ") }, "\(profile.stdout)")
        #expect(profile.stdout.contains("4 runs:"))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: trace)) as? [String: Any]
        #expect((json?["traceEvents"] as? [Any])?.isEmpty == false)
    }

    /// The profile of a known graph names its most expensive op: a 256×256 product
    /// beside two small element-wise steps.
    @Test func profileNamesTheMostExpensiveOp() throws {
        let scratch = try CheckpointTests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let g = Graph()
        let a = try g.placeholder(.float32, shape: [8, 65536], name: "a")
        let b = try g.placeholder(.float32, shape: [65536, 8], name: "b")
        _ = try add(matmul(a, b, name: "product"), g.constant(Float(1)), name: "out")
        let model = scratch.appendingPathComponent("product.pb")
        try g.save(to: model)
        let result = try Self.graphtool(["profile", model.path, "--fetch", "out", "--runs", "3", "--threads", "1"])
        #expect(result.status == 0, "\(result.stderr)")
        let first = result.stdout.split(separator: "\n").dropFirst().first.map(String.init) ?? ""
        #expect(first.hasPrefix("product ") && first.contains("MatMul"), "\(result.stdout)")
    }

    @Test func runCheckNumericsNamesTheFirstNonFiniteNode() throws {
        let scratch = try CheckpointTests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let files = try Self.logGraph(in: scratch)
        let plain = try Self.graphtool(["run", files.model, "--input", "x=\(files.zeros)", "--fetch", "y"])
        #expect(plain.status == 0 && plain.stdout.contains("-inf"), "\(plain.stdout)")
        let checked = try Self.graphtool(["run", files.model, "--input", "x=\(files.zeros)", "--fetch", "y", "--check-numerics"])
        #expect(checked.status != 0)
        #expect(checked.stderr.contains("Infinity in output 0") && checked.stderr.contains("for 'logs' (op: 'Log')"), "\(checked.stderr)")
        #expect(checked.stderr.split(separator: "\n").count == 1)
    }

    @Test func drawWritesDOTAndRendersWithGraphviz() throws {
        let scratch = try CheckpointTests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let folder = Self.fixtures.appendingPathComponent("mlp")
        let model = folder.appendingPathComponent("model.pb").path
        let dotFile = scratch.appendingPathComponent("g.dot")
        let dot = try Self.graphtool(["draw", model, "-o", dotFile.path, "--depth", "1"])
        #expect(dot.status == 0, "\(dot.stderr)")
        #expect(try String(contentsOf: dotFile, encoding: .utf8).hasPrefix("digraph soma {"))
        let memory = scratch.appendingPathComponent("memory.svg")
        let plot = try Self.graphtool(["draw", model, "--memory", "--input", "x=\(folder.appendingPathComponent("x.npy").path)",
                                       "-o", memory.path])
        #expect(plot.status == 0, "\(plot.stderr)")
        #expect(try String(contentsOf: memory, encoding: .utf8).contains("<polyline"))
        let svg = scratch.appendingPathComponent("plan.svg")
        let rendered = try Self.graphtool(["draw", model, "--plan", "--input", "x=\(folder.appendingPathComponent("x.npy").path)",
                                           "-o", svg.path])
        #expect(rendered.status == 0, "\(rendered.stderr)")
        if GraphDrawingTests.dot != nil {
            #expect(try String(contentsOf: svg, encoding: .utf8).contains("<svg"), "rendered by dot")
        } else {
            #expect(rendered.stdout.contains("Graphviz's dot is not installed"))
        }
        let bad = try Self.graphtool(["draw", model, "--memory", "-o", scratch.appendingPathComponent("m.png").path])
        #expect(bad.status != 0 && bad.stderr.contains("--memory writes SVG"))
    }
}
