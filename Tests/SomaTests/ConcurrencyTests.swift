import Foundation
import Testing
@testable import Soma

/// Threads inside a run (inter- and intra-op) and runs on many threads at once.
@Suite struct ConcurrencyTests {
    /// A graph large enough to split: wide branches, big matmuls, long elementwise chains.
    static func wideGraph() throws -> (Graph, Output, [Output: Tensor]) {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [256, 256], name: "x")
        var branches: [Output] = []
        for i in 0..<4 {
            let w = try g.constant(CompilerTests.random([256, 256], seed: 100 + UInt64(i)))
            branches.append(try tanh(relu(matmul(relu(matmul(x, w)), w)) * 0.01))
        }
        var sum = branches[0]
        for b in branches.dropFirst() { sum = try sum + b }
        let y = try softmax(sum * 3 - exp(sum))
        return (g, y, [x: CompilerTests.random([256, 256], seed: 99)])
    }

    @Test func resultsAreBitwiseIdenticalForEveryThreadCount() throws {
        let (g, y, feeds) = try Self.wideGraph()
        var reference = SessionOptions()
        reference.useCompiler = false
        let expected = try Session(graph: g, options: reference).run(y, feeds: feeds)
        for (inter, intra) in [(1, 1), (1, 2), (2, 1), (2, 2), (4, 4)] {
            var options = SessionOptions()
            options.interOpThreads = inter
            options.intraOpThreads = intra
            let result = try Session(graph: g, options: options).run(y, feeds: feeds)
            #expect(result == expected, "inter \(inter), intra \(intra)")
        }
        var deterministic = SessionOptions()
        deterministic.deterministic = true
        #expect(try Session(graph: g, options: deterministic).run(y, feeds: feeds) == expected)
    }

    /// A depthwise filter gradient sums fixed blocks of rows, each into its own partial
    /// filter, then the partials in order — also where one thread runs every block (it once
    /// summed them all into the first partial, which rounds differently): the same bits on
    /// one, two and three threads, against a float64 loop.
    @Test func depthwiseFilterGradientIsBitwiseIdenticalForEveryThreadCount() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [4, 24, 24, 8], name: "x")
        let f = try g.placeholder(.float32, shape: [3, 3, 8, 1], name: "f")
        let y = try depthwiseConv2D(x, filter: f, padding: "VALID")
        let df = try #require(try g.gradients(of: [reduceSum(y)], wrt: [f])[0])
        let feeds = [x: CompilerTests.random([4, 24, 24, 8], seed: 31), f: CompilerTests.random([3, 3, 8, 1], seed: 32)]
        var results: [Tensor] = []
        for threads in [1, 2, 3] {
            var options = SessionOptions()
            options.intraOpThreads = threads
            results.append(try Session(graph: g, options: options).run(df, feeds: feeds))
        }
        #expect(results[0] == results[1] && results[0] == results[2])
        // d(Σy)/df[ky, kx, c] = Σ x over the windows' tap (ky, kx) of channel c.
        let xs = try #require(feeds[x]).scalars(as: Float.self), got = results[0].scalars(as: Float.self)
        for ky in 0..<3 {
            for kx in 0..<3 {
                for c in 0..<8 {
                    var sum = 0.0
                    for i in 0..<4 { for oy in 0..<22 { for ox in 0..<22 { sum += Double(xs[((i * 24 + oy + ky) * 24 + ox + kx) * 8 + c]) } } }
                    #expect(Swift.abs(Double(got[(ky * 3 + kx) * 8 + c]) - sum) < 1e-3 * Swift.max(1, Swift.abs(sum)))
                }
            }
        }
    }

    /// Under contention a run goes on the calling thread alone, in plan order, in the
    /// parallel layout's arena (and loop bodies inside it with one thread): same results.
    @Test func runsAloneUnderContentionMatchParallelRuns() throws {
        let (g, y, feeds) = try Self.wideGraph()
        let x = try #require(feeds.keys.first)
        let w = try g.constant(CompilerTests.random([256, 256], seed: 7))
        let looped = try whileLoop(cond: { v in try less(v[0], g.constant(Int32(3))) },
                                   body: { v in [try add(v[0], g.constant(Int32(1))), try tanh(matmul(v[1], w))] },
                                   loopVars: [try g.constant(Int32(0)), x])
        var reference = SessionOptions()
        reference.useCompiler = false
        let expected = try Session(graph: g, options: reference).run(fetches: [y, looped[1]], feeds: feeds)
        for contended in [false, true] {
            var options = SessionOptions()
            options.interOpThreads = 2
            options.intraOpThreads = 2
            options.contentionMonitor = ContentionMonitor(forced: contended)
            let session = Session(graph: g, options: options)
            for _ in 0..<2 { #expect(try session.run(fetches: [y, looped[1]], feeds: feeds) == expected, "contended: \(contended)") }
            #expect(try #require(try session.plan(fetches: [y], feeds: feeds)).runsInParallel(options))
        }
    }

    /// A session that does not adapt still asks the monitor (the pool's idle threads follow
    /// its answer) but keeps its runs on the pool; one that adapts goes alone.
    @Test func onlyAdaptingSessionsRunAlone() throws {
        let (g, y, feeds) = try Self.wideGraph()
        for adapts in [false, true] {
            let monitor = ContentionMonitor(forced: true)
            var options = SessionOptions()
            options.interOpThreads = 2
            options.intraOpThreads = 2
            options.adaptsToContention = adapts
            options.contentionMonitor = monitor
            _ = try Session(graph: g, options: options).run(fetches: [y], feeds: feeds)
            #expect(monitor.runsAlone == (adapts ? 1 : 0), "adapts: \(adapts)")
        }
    }

    /// The monitor's decision from run-queue samples: in above a fifth of the wanted time
    /// spent waiting, out below a twentieth once it has held; other threads re-base it.
    @Test func contentionMonitorFollowsTheRunQueueWait() {
        typealias Sample = ContentionMonitor.Sample
        let ms: UInt64 = 1_000_000
        var state = ContentionMonitor.State()
        var ran: UInt64 = 0, waited: UInt64 = 0, now: UInt64 = 0
        var others = 1 + ContentionMonitor.othersAllowed
        func step(ran r: UInt64, waited w: UInt64, thread: UInt64 = 1) {
            ran += r; waited += w; now += r + w
            state.observe(Sample(thread: thread, ranNanoseconds: ran, waitedNanoseconds: waited, at: now),
                          othersRunnable: { others })
        }
        step(ran: 10 * ms, waited: 0)  // the first sample only sets the base
        others = 0
        step(ran: 5 * ms, waited: 5 * ms)
        #expect(!state.contended)  // waiting, but not for other processes (a wake-up's latency)
        others = 1 + ContentionMonitor.othersAllowed
        step(ran: 9 * ms, waited: 1 * ms)
        #expect(!state.contended)  // a tenth: not contended
        step(ran: 1 * ms, waited: 1 * ms)
        #expect(!state.contended && state.decisions == 2)  // too little time wanted: kept for later
        step(ran: 1 * ms, waited: 1 * ms)
        #expect(state.contended)  // 2 of 4 ms waited since the last decision
        step(ran: 10 * ms, waited: 0)
        #expect(state.contended)  // holds for a while
        for _ in 0..<30 { step(ran: 10 * ms, waited: 0) }
        #expect(state.contended)  // the competitors are still there
        others = 0
        step(ran: 10 * ms, waited: 0)
        #expect(!state.contended)
        others = 1 + ContentionMonitor.othersAllowed
        step(ran: 10 * ms, waited: 10 * ms, thread: 2)  // another thread: re-based, no decision
        #expect(!state.contended)
        step(ran: 10 * ms, waited: 10 * ms, thread: 2)
        #expect(state.contended)
        let (decisions, contended) = (state.decisions, state.contendedDecisions)
        #expect(contended >= 4 && contended < decisions)
    }

    /// OpenBLAS's own pool, whose idle threads spin for its first 0.1 s, is gone once a
    /// session is made (where the linked build has one), and GEMMs still run.
    @Test func openBLASPoolIsShutDownBySessions() throws {
        let g = Graph()
        let session = Session(graph: g)
        if let available = dlsym(nil, "blas_server_avail") {
            #expect(available.load(as: Int32.self) == 0)
        }
        let a = try g.constant(Tensor(repeating: Float(1), shape: [300, 200]))
        let b = try g.constant(Tensor(repeating: Float(0.5), shape: [200, 100]))
        let product = try session.run(try matmul(a, b))
        #expect(product.scalars(as: Float.self).allSatisfy { $0 == 100 })
    }

    @Test func schedstatLinesParse() {
        func parse(_ text: String) -> [UInt64]? {
            Array(text.utf8).withUnsafeBufferPointer { ContentionMonitor.parseSchedstat($0).map { [$0.ran, $0.waited] } }
        }
        #expect(parse("1643807005 1641215818 562\n") == [1_643_807_005, 1_641_215_818])
        #expect(parse("12 34") == [12, 34])
        #expect(parse("12\n") == nil)
        #expect(parse("") == nil)
        #expect(parse("99999999999999999999999 1 1") == nil)  // overflow
        func running(_ text: String) -> Int? { Array(text.utf8).withUnsafeBufferPointer { ContentionMonitor.parseLoadavgRunning($0) } }
        #expect(running("0.85 0.53 0.39 3/123 4567\n") == 3)
        #expect(running("0.85 0.53 0.39 /123 4567") == nil)
        #expect(running("0.85 0.53") == nil)
        // The process's own counters, where the system has them.
        if let sample = ContentionMonitor.shared.sample(at: 0) { #expect(sample.ranNanoseconds > 0) }
    }

    @Test func eightThreadsTimesAThousandRunsMatchSerialResults() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil, 8], name: "x")
        let w = try g.variable(CompilerTests.random([8, 16], seed: 1), name: "w")
        let h = try relu(biasAdd(matmul(x, w.value), g.constant(CompilerTests.random([16], seed: 2))))
        let y = try softmax(matmul(h, g.constant(CompilerTests.random([16, 4], seed: 3))))
        let session = Session(graph: g)
        try session.run(target: w.initializer!)
        @Sendable func feed(_ thread: Int, _ run: Int) -> Tensor {
            CompilerTests.random([1 + (thread + run) % 5, 8], seed: UInt64(thread * 1000 + run))
        }
        let threads = 8, runs = 1000
        var serial: [[Tensor]] = []
        for t in 0..<threads { serial.append(try (0..<runs).map { try session.run(y, feeds: [x: feed(t, $0)]) }) }
        let expected = serial
        let mismatches = Locked(0), failures = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for r in 0..<runs {
                do {
                    if try session.run(y, feeds: [x: feed(t, r)]) != expected[t][r] { mismatches.withLock { $0 += 1 } }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        #expect(mismatches.withLock { $0 } == 0)
        #expect(failures.withLock { $0 }.isEmpty)
    }
}

