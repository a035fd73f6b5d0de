import Foundation
import Testing
@testable import Soma

@Suite struct ObservabilityTests {
    /// `log` of a fed zero makes the first infinity; the report names that node, not the
    /// later ones that pass it on, and says its inputs were finite.
    @Test(arguments: [true, false]) func checkNumericsNamesTheFirstNonFiniteNode(compiled: Bool) throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [3], name: "x")
        let logs = try log(x, name: "logs")
        let scaled = try multiply(logs, g.constant(Float(2)), name: "scaled")
        let total = try reduceSum(scaled, name: "total")
        var options = SessionOptions()
        options.checkNumerics = true
        options.useCompiler = compiled
        let session = Session(graph: g, options: options)
        #expect(try session.run(total, feeds: [x: Tensor([1, 2, 3] as [Float])]).scalars(as: Float.self)[0].isFinite)
        let error = #expect(throws: SomaError.self) { try session.run(total, feeds: [x: Tensor([1, 0, 3] as [Float])]) }
        let message = try #require(error?.message)
        #expect(message.contains("for 'logs' (op: 'Log')"), "\(message)")
        #expect(message.contains("Infinity in output 0"), "\(message)")
        #expect(message.contains("0 NaN, 1 Inf of 3"), "\(message)")
        #expect(message.contains("inputs were finite"), "\(message)")
        #expect(message.contains("ObservabilityTests.swift:"), "the Swift line that created the node: \(message)")
        // Without the option the same run returns -inf, as TF does.
        let plain = Session(graph: g)
        #expect(try plain.run(total, feeds: [x: Tensor([1, 0, 3] as [Float])]).scalars(as: Float.self)[0] == -.infinity)
    }

    @Test func checkNumericsSaysWhichInputsWereAlreadyNonFinite() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [2], name: "x")
        let y = try add(x, g.constant(Float(1)), name: "y")
        var options = SessionOptions()
        options.checkNumerics = true
        let session = Session(graph: g, options: options)
        let error = #expect(throws: SomaError.self) { try session.run(y, feeds: [x: Tensor([.nan, 1] as [Float])]) }
        #expect(error?.message.contains("for 'y' (op: 'AddV2')") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("input 0 already held non-finite values") == true, "\(error?.message ?? "")")
        // A callable checks too.
        let callable = try session.makeCallable(feeds: [x], fetches: [y])
        #expect(throws: SomaError.self) { try callable.run([Tensor([1, .infinity] as [Float])]) }
        #expect(try callable.run([Tensor([1, 2] as [Float])])[0].scalars(as: Float.self) == [2, 3])
    }

    /// A traced run records every step once, with times inside the run, and the profile
    /// lists steps by time, the one large matrix product with its flops — first in at least
    /// one of five runs (a step of a run of the whole suite on two cores can be preempted
    /// for longer than the product takes, so one run decides nothing).
    @Test(arguments: [1, 2]) func traceNamesTheMostExpensiveOp(threads: Int) throws {
        let g = Graph()
        // A long contraction to a small output: the product's time dwarfs the element-wise
        // steps' even in a debug build.
        let a = try g.placeholder(.float32, shape: [8, 32768], name: "a")
        let b = try g.placeholder(.float32, shape: [32768, 8], name: "b")
        let product = try matmul(a, b, name: "big_product")
        let shifted = try add(product, g.constant(Float(1)), name: "shifted")
        let small = try multiply(product, g.constant(Float(3)), name: "small")
        var options = SessionOptions()
        options.interOpThreads = threads
        options.intraOpThreads = threads
        let session = Session(graph: g, options: options)
        let feedA = try Tensor((0..<(8 * 32768)).map { Float($0 % 7) }, shape: [8, 32768])
        let feedB = try Tensor((0..<(8 * 32768)).map { Float($0 % 5) }, shape: [32768, 8])
        let feeds = [a: feedA, b: feedB]
        var metadata = RunMetadata()
        let plain = try session.run(fetches: [shifted, small], feeds: feeds)
        let traced = try session.run(fetches: [shifted, small], feeds: feeds, options: RunOptions(trace: true), metadata: &metadata)
        #expect(traced[0].scalars(as: Float.self) == plain[0].scalars(as: Float.self), "tracing changes no result")
        let stats = metadata.stepStats.nodeStats
        let plan = try #require(try session.plan(fetches: [shifted, small], feeds: feeds))
        #expect(stats.count == plan.steps.count)
        #expect(Set(stats.map(\.nodeName)) == Set(plan.steps.map(\.name)))
        let profile = metadata.stepStats.profile()
        #expect(zip(profile, profile.dropFirst()).allSatisfy { $0.totalNanos >= $1.totalNanos })
        let productProfile = try #require(profile.first { $0.nodeName == "big_product" })
        #expect(productProfile.flops == 2 * 8 * 8 * 32768)
        #expect(productProfile.gigaflopsPerSecond != nil)
        var tops = [profile.first?.nodeName]
        for _ in 0..<4 where !tops.contains("big_product") {
            var again = RunMetadata()
            _ = try session.run(fetches: [shifted, small], feeds: feeds, options: RunOptions(trace: true), metadata: &again)
            tops.append(again.stepStats.profile().first?.nodeName)
        }
        #expect(tops.contains("big_product"), "\(tops)")
        #expect(stats.first { $0.nodeName == "big_product" }?.outputBytes == 8 * 8 * 4)
        // The Chrome trace is JSON with one complete event per step.
        let json = try JSONSerialization.jsonObject(with: metadata.stepStats.chromeTrace()) as? [String: Any]
        let events = try #require(json?["traceEvents"] as? [[String: Any]])
        #expect(events.filter { $0["ph"] as? String == "X" }.count == stats.count)
        // An untraced run with the same metadata value leaves it as it was.
        var untouched = RunMetadata()
        _ = try session.run(fetches: [small], feeds: feeds, options: RunOptions(), metadata: &untouched)
        #expect(untouched.stepStats.nodeStats.isEmpty)
    }

    /// Steps inside a loop's body are traced one by one, named under the body function, one
    /// level down; a NaN made inside the body is reported with the body's node.
    @Test func tracesAndChecksReachInsideLoopBodies() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [2], name: "x")
        let out = try whileLoop(
            cond: { v in try less(v[0], g.constant(Int32(3))) },
            body: { v in [try add(v[0], g.constant(Int32(1))), try log(multiply(v[1], g.constant(Float(0.5))), name: "halve_log")] },
            loopVars: [g.constant(Int32(0)), x], name: "loop")
        var options = SessionOptions()
        options.interOpThreads = 1
        let session = Session(graph: g, options: options)
        var metadata = RunMetadata()
        _ = try session.run(fetches: [out[1]], feeds: [x: Tensor([100, 1000] as [Float])], options: RunOptions(trace: true),
                            metadata: &metadata)
        let stats = metadata.stepStats.nodeStats
        let body = stats.filter { $0.depth == 1 && $0.nodeName.hasSuffix("/halve_log") }
        #expect(body.count == 3, "one per iteration: \(stats.map { ($0.nodeName, $0.depth) })")
        let loop = try #require(stats.first { $0.depth == 0 && $0.op.hasSuffix("While") })
        #expect(body.allSatisfy { $0.allStartNanos >= loop.allStartNanos
                                  && $0.allStartNanos + $0.durationNanos <= loop.allStartNanos + loop.durationNanos })
        var checked = SessionOptions()
        checked.checkNumerics = true
        let error = #expect(throws: SomaError.self) {
            try Session(graph: g, options: checked).run(out[1], feeds: [x: Tensor([100, 0] as [Float])])
        }
        #expect(error?.message.contains("halve_log") == true && error?.message.contains("Infinity") == true, "\(error?.message ?? "")")
    }

    /// The vector scan finds a NaN or an infinity in any lane and in the tail, and nothing
    /// in finite values however large.
    @Test func nonFiniteScanCoversEveryPosition() throws {
        for count in [1, 15, 16, 17, 40] {
            for position in 0..<count {
                for bad in [Float.nan, .infinity, -.infinity] {
                    var values = [Float](repeating: .greatestFiniteMagnitude, count: count)
                    values[position] = bad
                    #expect(NumericsCheck.hasNonFinite(try Tensor(values, shape: [count])), "\(count) \(position) \(bad)")
                    #expect(NumericsCheck.hasNonFinite(try Tensor(values.map(Double.init), shape: [count])))
                }
            }
            #expect(!NumericsCheck.hasNonFinite(try Tensor([Float](repeating: -.greatestFiniteMagnitude, count: count), shape: [count])))
        }
        #expect(!NumericsCheck.hasNonFinite(Tensor([1, 2] as [Int32])))
    }

    @Test func flopCountsFollowTheShapes() {
        #expect(NodeProfile.flops(op: "MatMul", inputShapes: [[4, 5], [5, 6]], outputShapes: [[4, 6]]) == 2 * 4 * 6 * 5)
        #expect(NodeProfile.flops(op: "MatMul", inputShapes: [[5, 4], [5, 6]], outputShapes: [[4, 6]]) == 2 * 4 * 6 * 5)
        #expect(NodeProfile.flops(op: "Conv2D", inputShapes: [[1, 8, 8, 3], [3, 3, 3, 16]], outputShapes: [[1, 8, 8, 16]])
                == 2 * 64 * 16 * 27)
        #expect(NodeProfile.flops(op: "DepthwiseConv2dNative", inputShapes: [[1, 8, 8, 3], [3, 3, 3, 1]], outputShapes: [[1, 8, 8, 3]])
                == 2 * 64 * 3 * 9)
        #expect(NodeProfile.flops(op: "Conv2DBackpropFilter", inputShapes: [[1, 8, 8, 3], [4], [1, 8, 8, 16]],
                                  outputShapes: [[3, 3, 3, 16]]) == 2 * 64 * 16 * 27)
        #expect(NodeProfile.flops(op: "Conv2DBackpropInput", inputShapes: [[4], [3, 3, 3, 16], [1, 8, 8, 16]],
                                  outputShapes: [[1, 8, 8, 3]]) == 2 * 64 * 16 * 27)
        #expect(NodeProfile.flops(op: "Relu", inputShapes: [[4]], outputShapes: [[4]]) == 0)
    }

    /// A filter the plan stored transformed for Winograd tiles (`[6, 6, C, OC]` for a 5×5
    /// window) shows in a trace as the graph's `[5, 5, C, OC]`, and its arithmetic counts as
    /// the direct sum's.
    @Test func winogradFiltersShowTheirWindowInTraces() throws {
        guard LIBXSMM.available else { return }
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [1, 16, 16, 16], name: "x")
        let filter = try Tensor((0..<(5 * 5 * 16 * 32)).map { Float($0 % 11) - 5 }, shape: [5, 5, 16, 32])
        let y = try conv2D(x, filter: g.constant(filter), strides: [1, 1], padding: "SAME", name: "conv")
        let session = Session(graph: g)
        let feed = try Tensor((0..<(16 * 16 * 16)).map { Float($0 % 7) }, shape: [1, 16, 16, 16])
        let plan = try #require(try session.plan(fetches: [y], feeds: [x: feed]))
        #expect(plan.steps.contains { $0.node.winogradFilter }, "the filter is stored transformed")
        var metadata = RunMetadata()
        _ = try session.run(fetches: [y], feeds: [x: feed], options: RunOptions(trace: true), metadata: &metadata)
        let conv = try #require(metadata.stepStats.nodeStats.first { $0.op == "Conv2D" || $0.op == "_SomaFusedConv2D" })
        #expect(conv.inputShapes[1] == [5, 5, 16, 32])
        let profiled = try #require(metadata.stepStats.profile().first { $0.op == conv.op })
        let direct: Double = 2 * 256 * 32 * 5 * 5 * 16
        #expect(profiled.flops == direct, "\(profiled.flops - direct)")
    }
}
