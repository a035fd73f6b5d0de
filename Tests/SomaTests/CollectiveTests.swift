import Foundation
import Testing
@testable import Soma

/// Ranks as threads of this process: each thread has its rank (thread-local), and the
/// collectives meet at a rendezvous — so Horovod's ops, their gradients and
/// DistributedOptimizer-style averaging are tested without MPI. (`Tools/test-mpi.sh` runs
/// the real transport under `mpirun`.) Sessions run one step at a time on the calling
/// thread, so a kernel runs on its rank's thread.
final class ThreadRanks: CollectiveBackend, @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var deposits: [Data?]
    private var generation = 0
    private var arrived = 0
    private var result: [Data] = []
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    init(size: Int) {
        self.size = size
        deposits = Array(repeating: nil, count: size)
    }

    /// The calling thread's rank; threads that are no rank (other suites running meanwhile,
    /// while this backend is installed) see rank 0, as a process alone would.
    var rank: Int { max(Int(bitPattern: pthread_getspecific(Self.key)) - 1, 0) }

    /// Runs `body(rank)` on one thread per rank, with this backend installed.
    func run(_ body: @escaping @Sendable (Int) throws -> Void) throws {
        Collectives.install(self)
        defer { Collectives.install(nil) }
        let errors = Locked<[String]>([])
        let done = DispatchGroup()
        for r in 0..<size {
            done.enter()
            Thread.detachNewThread {
                pthread_setspecific(Self.key, UnsafeRawPointer(bitPattern: r + 1))
                do { try body(r) } catch { errors.withLock { $0.append("rank \(r): \(error)") } }
                done.leave()
            }
        }
        done.wait()
        let failures = errors.withLock { $0 }
        if !failures.isEmpty { throw SomaError.invalidArgument(failures.joined(separator: "; ")) }
    }

    /// Every rank's bytes, in rank order, once all have deposited theirs.
    private func exchange(_ mine: Data) -> [Data] {
        condition.lock()
        defer { condition.unlock() }
        let round = generation
        deposits[rank] = mine
        arrived += 1
        if arrived == size {
            result = deposits.map { $0! }
            deposits = Array(repeating: nil, count: size)
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while generation == round { condition.wait() }
        }
        return result
    }

    func allreduce(_ buffer: UnsafeMutableRawPointer, count: Int, dtype: DType, average: Bool) throws {
        let all = exchange(Data(bytes: buffer, count: count * dtype.byteSize))
        precondition(dtype == .float32)
        let out = buffer.assumingMemoryBound(to: Float.self)
        for i in 0..<count {
            var total: Float = 0
            for part in all { total += part.withUnsafeBytes { $0.load(fromByteOffset: i * 4, as: Float.self) } }
            out[i] = average ? total / Float(size) : total
        }
    }

    func allgatherCounts(_ count: Int) throws -> [Int] {
        exchange(withUnsafeBytes(of: Int64(count)) { Data($0) }).map { Int($0.withUnsafeBytes { $0.load(as: Int64.self) }) }
    }

    func allgather(_ send: UnsafeRawBufferPointer, into receive: UnsafeMutableRawBufferPointer, byteCounts: [Int]) throws {
        var offset = 0
        for part in exchange(Data(send)) {
            part.copyBytes(to: UnsafeMutableRawBufferPointer(rebasing: receive[offset..<offset + part.count]))
            offset += part.count
        }
    }

    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        let all = exchange(Data(buffer))
        all[root].copyBytes(to: buffer)
    }
}

@Suite(.serialized) struct CollectiveTests {
    static func sequential() -> SessionOptions {
        var options = SessionOptions()
        options.interOpThreads = 1
        options.intraOpThreads = 1
        return options
    }

    @Test func collectivesNeedABackend() throws {
        let g = Graph()
        let x = try allreduce(g.constant([1, 2] as [Float], shape: [2]))
        let error = #expect(throws: SomaError.self) { try Session(graph: g).run(x) }
        #expect(error?.message.contains("call MPI.initialize() (SomaDistributed) first") == true)
    }

    @Test func allreduceAllgatherAndBroadcastAcrossRanks() throws {
        let ranks = ThreadRanks(size: 2)
        let results = Locked<[Int: [[Float]]]>([:])
        try ranks.run { r in
            let g = Graph()
            let mine = try g.constant(Tensor((0..<3).map { Float($0 + 10 * r) }, shape: [3]))
            let rows = try g.constant(Tensor([Float](repeating: Float(r + 1), count: 2 * (r + 1)), shape: [r + 1, 2]))
            let sum = try allreduce(mine, average: false)
            let mean = try allreduce(mine)
            let gathered = try allgather(rows)
            let fromRoot = try broadcast(mine, root: 1)
            let fused = try fusedAllreduce([mine, try multiply(mine, g.constant(Float(2)))], average: false)
            let session = Session(graph: g, options: Self.sequential())
            // One fetch per run: the ranks run their collectives in the same order.
            var out: [[Float]] = []
            for fetch in [sum, mean, gathered, fromRoot, fused[0], fused[1]] { out.append(try session.run(fetch).scalars(as: Float.self)) }
            results.withLock { $0[r] = out }
        }
        let all = results.withLock { $0 }
        for r in 0..<2 {
            let out = try #require(all[r])
            #expect(out[0] == [10, 12, 14])
            #expect(out[1] == [5, 6, 7])
            #expect(out[2] == [1, 1, 2, 2, 2, 2], "rank 0's one row, then rank 1's two")
            #expect(out[3] == [10, 11, 12])
            #expect(out[4] == [10, 12, 14] && out[5] == [20, 24, 28])
        }
    }

    /// Averaging gradients over two ranks that each see half a batch gives the gradient of
    /// the whole batch (what DistributedOptimizer relies on), and the gradients of the
    /// collectives follow Horovod's definitions.
    @Test func gradientsOfCollectives() throws {
        let ranks = ThreadRanks(size: 2)
        let results = Locked<[Int: [[Float]]]>([:])
        try ranks.run { r in
            let g = Graph()
            let w = try g.variable(Tensor([1, -2] as [Float]), name: "w")
            let x = try g.constant(Tensor([Float(r + 1), Float(3 * r + 1)], shape: [2]))
            // Each rank's loss: (w·x)²; the averaged gradient is the mean of the ranks' gradients.
            let loss = try square(reduceSum(multiply(w.value, x)))
            let local = try #require(try g.gradients(of: [loss], wrt: [w.value])[0])
            let averaged = try allreduce(local)
            // d/dw of allreduce(w)·c: the allreduce of c (sum), so 2c.
            let c = try g.constant(Tensor([Float(r + 1), 1], shape: [2]))
            let through = try #require(try g.gradients(of: [reduceSum(multiply(allreduce(w.value, average: false), c))], wrt: [w.value])[0])
            // An allgather's gradient: this rank's rows of the gradient summed over the ranks.
            let rows = try g.variable(Tensor([Float](repeating: 1, count: 2 * (r + 1)), shape: [r + 1, 2]), name: "rows")
            let weights = try g.constant(Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [3, 2]))
            let gathered = try #require(try g.gradients(of: [reduceSum(multiply(allgather(rows.value), weights))], wrt: [rows.value])[0])
            // A fused allreduce's: each output's gradient summed over the ranks, together.
            // (Allreduced tensors have the same shape on every rank.)
            let ones = try g.variable(Tensor([Float](repeating: 1, count: 3)), name: "ones")
            let fused = try fusedAllreduce([w.value, ones.value], average: false)
            let fusedLoss = try add(reduceSum(multiply(fused[0], c)), reduceSum(fused[1]))
            let fusedGradients = try g.gradients(of: [fusedLoss], wrt: [w.value, ones.value])
            let session = Session(graph: g, options: Self.sequential())
            try session.run(target: g.globalVariablesInitializer())
            let values = [try session.run(averaged).scalars(as: Float.self), try session.run(through).scalars(as: Float.self),
                          try session.run(gathered).scalars(as: Float.self),
                          try session.run(#require(fusedGradients[0])).scalars(as: Float.self),
                          try session.run(#require(fusedGradients[1])).scalars(as: Float.self)]
            results.withLock { $0[r] = values }
        }
        let all = results.withLock { $0 }
        // Rank 0: x = (1, 1), w·x = −1, grad = 2·(−1)·x = (−2, −2); rank 1: x = (2, 4),
        // w·x = −6, grad = (−24, −48). Mean: (−13, −25).
        for r in 0..<2 {
            #expect(all[r]?[0] == [-13, -25])
            #expect(all[r]?[1] == [3, 2], "the sum over ranks of c")
        }
        #expect(all[0]?[2] == [2, 4] && all[1]?[2] == [6, 8, 10, 12], "2 × each rank's own rows of the weights")
        for r in 0..<2 {
            #expect(all[r]?[3] == [3, 2], "as the unfused allreduce")
            #expect(all[r]?[4] == [2, 2, 2], "ones summed over 2 ranks")
        }
    }

    /// Only rank 0 writes what a user keeps: logs and checkpoints.
    @Test func onlyRankZeroWritesLogsAndCheckpoints() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("soma-ranks-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let ranks = ThreadRanks(size: 2)
        try ranks.run { r in
            #expect(Collectives.isRoot == (r == 0))
            let g = Graph()
            let model = try Sequential(inputShape: [2], [Dense(1)], name: "m", graph: g)
            _ = try model.weightValues()  // initialised, as fit leaves them
            let logger = CSVLogger(folder.appendingPathComponent("log-\(r).csv"))
            let checkpoint = ModelCheckpoint(prefix: folder.appendingPathComponent("ckpt-\(r)").path, monitor: "loss")
            let board = TensorBoard(logDirectory: folder.appendingPathComponent("tb-\(r)"))
            try board.onTrainBegin(model: model)
            for callback in [logger, checkpoint, board] as [Callback] { try callback.onEpochEnd(0, logs: ["loss": 1], model: model) }
            try board.onTrainEnd(model: model)
        }
        let written = Set(try FileManager.default.contentsOfDirectory(atPath: folder.path))
        #expect(written.contains("log-0.csv") && written.contains("tb-0") && written.contains { $0.hasPrefix("ckpt-0") })
        #expect(!written.contains { $0.hasSuffix("-1.csv") || $0 == "tb-1" || $0.hasPrefix("ckpt-1") }, "\(written)")
    }
}
