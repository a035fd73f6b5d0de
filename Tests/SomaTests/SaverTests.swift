import Foundation
import Testing
@testable import Soma

/// The Saver: resuming training is bitwise, old checkpoints go, TF's checkpoints restore
/// by name map, and a save interrupted at any of its write, flush, rename or delete points
/// leaves the latest checkpoint restorable and no growing litter.
@Suite struct SaverTests {
    /// A small MLP on the digits trained by Adam with a global step, and its fixed batches.
    struct Model {
        let graph = Graph()
        let x: Output, y: Output
        let train: Node
        let step: Variable
        let batches: [(features: Tensor, labels: Tensor)]

        init() throws {
            x = try graph.placeholder(.float32, shape: [nil, 64], name: "x")
            y = try graph.placeholder(.int64, shape: [nil], name: "y")
            let w1 = try graph.variable("dense/kernel", shape: [64, 16], initializer: .glorotUniform, seed: 1)
            let b1 = try graph.variable("dense/bias", shape: [16], initializer: .zeros)
            let w2 = try graph.variable("logits/kernel", shape: [16, 10], initializer: .glorotUniform, seed: 2)
            let h = try relu(biasAdd(matmul(x, w1.value), b1.value))
            let loss = try Losses.sparseSoftmaxCrossEntropy(labels: y, logits: matmul(h, w2.value))
            step = try graph.globalStep()
            train = try AdamOptimizer(learningRate: 0.01).minimize(loss, globalStep: step)
            batches = try Dataset.digits().scaled(by: 1.0 / 16).shuffled(seed: 7).batches(size: 32)
        }

        func run(_ session: Session, steps: Range<Int>) throws {
            for k in steps {
                let b = batches[k % batches.count]
                try session.run(target: train, feeds: [x: b.features, y: b.labels])
            }
        }

        /// Every variable's value, as bit patterns.
        func snapshot(_ session: Session) throws -> [String: [UInt64]] {
            var values: [String: [UInt64]] = [:]
            for v in graph.variables {
                let t = try session.run(v.value)
                values[v.name] = t.dtype == .float32 ? t.scalars(as: Float.self).map { UInt64($0.bitPattern) } : t.doubleScalars().map(\.bitPattern)
            }
            return values
        }
    }

    @Test func resumingTrainingIsBitwiseTheUninterruptedRun() throws {
        let folder = try CheckpointTests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let prefix = folder.appendingPathComponent("model.ckpt").path

        let straight = try Model()
        let s1 = Session(graph: straight.graph)
        try s1.run(target: straight.graph.globalVariablesInitializer())
        try straight.run(s1, steps: 0..<6)
        let saved = try Saver(graph: straight.graph).save(s1, to: prefix, globalStep: 6)
        #expect(saved == prefix + "-6")
        try straight.run(s1, steps: 6..<12)

        // A fresh graph and session, never initialised: everything comes from the checkpoint.
        let resumed = try Model()
        let s2 = Session(graph: resumed.graph)
        let latest = try #require(Saver.latestCheckpoint(in: folder))
        #expect(latest == saved)
        try Saver(graph: resumed.graph).restore(s2, from: latest)
        #expect(try s2.run(resumed.step.value).doubleScalars() == [6])
        try resumed.run(s2, steps: 6..<12)

        let a = try straight.snapshot(s1), b = try resumed.snapshot(s2)
        #expect(a.keys.count >= 3 * 3 + 3)  // weights, two Adam slots each, β powers, step
        #expect(a == b)
        #expect(b["global_step"] == [Double(12).bitPattern])
    }

    @Test func oldCheckpointsAreDeletedAndTheStateFileTracksThem() throws {
        let folder = try CheckpointTests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = try Model()
        let session = Session(graph: model.graph)
        try session.run(target: model.graph.globalVariablesInitializer())
        let saver = Saver(graph: model.graph, maxToKeep: 2)
        for step in 1...5 {
            try model.run(session, steps: step..<(step + 1))
            try saver.save(session, to: folder.appendingPathComponent("model.ckpt").path, globalStep: step)
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(files == ["checkpoint", "model.ckpt-4.data-00000-of-00001", "model.ckpt-4.index",
                          "model.ckpt-5.data-00000-of-00001", "model.ckpt-5.index"])
        let state = try #require(try CheckpointState.read(in: folder))
        #expect(state.latest == "model.ckpt-5")
        #expect(state.all == ["model.ckpt-4", "model.ckpt-5"])
        #expect(saver.lastCheckpoints.map { URL(fileURLWithPath: $0).lastPathComponent } == ["model.ckpt-4", "model.ckpt-5"])
        #expect(Saver.latestCheckpoint(in: folder) == folder.appendingPathComponent("model.ckpt-5").path)
        #expect(Saver.latestCheckpoint(in: folder.appendingPathComponent("nowhere")) == nil)
    }

    @Test func restoreRefusesMissingKeysAndMismatchesAndChangesNothing() throws {
        let folder = try CheckpointTests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let prefix = folder.appendingPathComponent("ckpt").path
        var writer = CheckpointWriter(prefix: prefix)
        try writer.add("a", Tensor([Float(1), 2], shape: [2]))
        try writer.add("b", Tensor([Int32(3)], shape: [1]))
        try writer.write()

        let g = Graph()
        let a = try g.variable(Tensor([Float(0), 0], shape: [2]), name: "a")
        let b = try g.variable(Tensor([Float(0)], shape: [1]), name: "b")
        let c = try g.variable(Tensor([Float(0), 0, 0], shape: [3]), name: "c")
        let session = Session(graph: g)
        try session.run(target: g.globalVariablesInitializer())

        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "no error" } catch { return "\(error)" }
        }
        #expect(message { try Saver(variables: [a, c]).restore(session, from: prefix) }.contains("Key c not found in checkpoint"))
        #expect(message { try Saver(variables: [a, b]).restore(session, from: prefix) }.contains("checkpoint tensor b is int32, but variable b is float32"))
        #expect(message { try Saver(names: ["a": c]).restore(session, from: prefix) }.contains("checkpoint tensor a has shape [2], but variable c has [3]"))
        #expect(message { try Saver(variables: [a]).restore(session, from: folder.appendingPathComponent("missing").path) }.contains("missing.index"))
        // Nothing was assigned by the failed restores.
        #expect(try session.run(a.value).scalars(as: Float.self) == [0, 0])

        let unset = Session(graph: g)
        #expect(message { try Saver(variables: [a]).save(unset, to: prefix + "-2") }.contains("uninitialized value a"))
    }

    /// TF's own checkpoints restore into Soma variables, by name (TF1 Saver) and by name map
    /// (TF2 object-based keys).
    @Test func restoresTensorFlowsCheckpointsByNameAndNameMap() throws {
        let root = CheckpointTests.root
        let g = Graph()
        let kernel = try g.variable(Tensor(zeros: .float32, shape: [3, 2]), name: "dense/kernel")
        let bias = try g.variable(Tensor(zeros: .float64, shape: [2]), name: "dense/bias")
        let step = try g.variable(Tensor(Int64(0)), name: "global_step")
        let session = Session(graph: g)
        let tf1 = root.appendingPathComponent("tf1_saver")
        try Saver(variables: [kernel, bias, step]).restore(session, from: try #require(Saver.latestCheckpoint(in: tf1)))
        let manifest = try JSONDecoder().decode(CheckpointTests.Manifest.self, from: Data(contentsOf: tf1.appendingPathComponent("manifest.json")))
        func numbers(_ name: String) -> [Double] { manifest.tensors[name]!.values.map { if case .number(let d) = $0 { d } else { .nan } } }
        #expect(try session.run(kernel.value).doubleScalars() == numbers("dense/kernel").map { Double(Float($0)) })
        #expect(try session.run(bias.value).doubleScalars() == numbers("dense/bias"))
        #expect(try session.run(step.value).doubleScalars() == [7])

        let h = Graph()
        let k2 = try h.variable(Tensor(zeros: .float32, shape: [4, 3]), name: "kernel")
        let b2 = try h.variable(Tensor(zeros: .float32, shape: [3]), name: "bias")
        let s2 = Session(graph: h)
        let tf2 = root.appendingPathComponent("tf2_object")
        try Saver(names: ["model/kernel/.ATTRIBUTES/VARIABLE_VALUE": k2, "model/bias/.ATTRIBUTES/VARIABLE_VALUE": b2])
            .restore(s2, from: tf2.appendingPathComponent("ckpt").path)
        let reader = try CheckpointReader(prefix: tf2.appendingPathComponent("ckpt").path)
        #expect(try s2.run(k2.value) == reader.tensor("model/kernel/.ATTRIBUTES/VARIABLE_VALUE"))
        #expect(try s2.run(b2.value) == reader.tensor("model/bias/.ATTRIBUTES/VARIABLE_VALUE"))
    }

    /// The process ID of a process that has exited, for crashed saves to be named after.
    static func exitedProcessID() throws -> pid_t {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    /// A save (with `maxToKeep` deleting the oldest) is interrupted at every one of its
    /// crash points (over a thousand): each time, the checkpoint the state file names restores, with either
    /// the previous save's values or the interrupted save's, and temporaries of crashed
    /// saves never pile up.
    @Test func aSaveCrashedAnywhereLeavesTheLatestCheckpointRestorable() throws {
        let folder = try CheckpointTests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let prefix = folder.appendingPathComponent("model.ckpt").path
        let g = Graph()
        let count = 1 << 14  // 64 KiB of float32: a thousand 64-byte write points
        let w = try g.variable(Tensor(zeros: .float32, shape: [count]), name: "w")
        let step = try g.variable(Tensor(Int64(0)), name: "global_step", trainable: false)
        let session = Session(graph: g)
        let fillValue = try g.placeholder(.float32, shape: [], name: "fill")
        let setW = try w.assign(fill(dims: g.constant(Tensor([Int32(count)], shape: [1])), value: fillValue))
        let stepValue = try g.placeholder(.int64, shape: [], name: "step_value")
        let setStep = try step.assign(stepValue)
        func setState(_ k: Int) throws {
            try session.run(target: setW.node, feeds: [fillValue: Tensor(Float(k))])
            try session.run(target: setStep.node, feeds: [stepValue: Tensor(Int64(k))])
        }
        try session.run(target: g.globalVariablesInitializer())
        let saver = Saver(graph: g, maxToKeep: 2)
        for k in 1...2 {
            try setState(k)
            try saver.save(session, to: prefix, globalStep: k)
        }
        // How many points one save passes.
        let probe = CrashPoints.Countdown(Int.max, pieceBytes: 64)
        try setState(3)
        try CrashPoints.$countdown.withValue(probe) { _ = try Saver(graph: g, maxToKeep: 2).save(session, to: prefix, globalStep: 3) }
        let points = probe.passed
        #expect(points > 1000, "\(points) points")

        let dead = try Self.exitedProcessID()
        var saved = 3  // the latest complete save
        var crashesAt = 0
        while crashesAt < points {
            let next = saved + 1
            try setState(next)
            let countdown = CrashPoints.Countdown(crashesAt, processID: dead, pieceBytes: 64)
            var crashed = false
            do {
                try CrashPoints.$countdown.withValue(countdown) {
                    _ = try Saver(graph: g, maxToKeep: 2).save(session, to: prefix, globalStep: next)
                }
            } catch is CrashPoints.Crash {
                crashed = true
            }
            #expect(crashed, "point \(crashesAt) of \(points)")
            // A new process: a fresh saver, restoring the latest checkpoint into a fresh session.
            let latest = try #require(Saver.latestCheckpoint(in: folder), "point \(crashesAt)")
            let check = Session(graph: g)
            try Saver(graph: g).restore(check, from: latest)
            let restoredStep = Int(try check.run(step.value).doubleScalars()[0])
            #expect(restoredStep == saved || restoredStep == next, "point \(crashesAt): step \(restoredStep)")
            #expect(latest.hasSuffix("-\(restoredStep)"))
            let values = try check.run(w.value).scalars(as: Float.self)
            #expect(values.first == Float(restoredStep) && values.last == Float(restoredStep), "point \(crashesAt)")
            // Litter: at most what this one crash left (a temporary), never the earlier ones'.
            let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            #expect(names.filter { $0.contains(".tmp-") }.count <= 1, "point \(crashesAt): \(names.sorted())")
            #expect(names.count <= 1 + 3 * 2 + 1, "point \(crashesAt): \(names.sorted())")
            saved = next
            try setState(saved)  // values of step `saved`, whatever the last crash left
            _ = try Saver(graph: g, maxToKeep: 2).save(session, to: prefix, globalStep: saved)
            crashesAt += 1
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        #expect(!names.contains { $0.contains(".tmp-") })
    }
}
