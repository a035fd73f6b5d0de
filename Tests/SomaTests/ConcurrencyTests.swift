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

