import CMPI
import Foundation
import Soma
import Synchronization

/// The processes `mpirun` started, and Soma's collective ops over them (Open MPI).
///
/// ```swift
/// try MPI.initialize()              // installs the backend the collective ops use
/// print("rank \(MPI.rank) of \(MPI.size)")
/// …
/// MPI.finalize()
/// ```
///
/// Collectives are serialised (MPI_THREAD_SERIALIZED under a lock: executor threads take
/// turns) and sum in rank order, so results are bitwise identical on every rank and from
/// run to run. A collective that waits longer than ``stallTimeout`` for the other ranks —
/// one died or stopped — aborts the job with a line saying so, rather than hanging.
public enum MPI {
    /// How long a collective may wait before the job is aborted (Horovod's stall check);
    /// `SOMA_MPI_STALL_SECONDS` in the environment sets it at ``initialize()``.
    public nonisolated(unsafe) static var stallTimeout: Double = 60

    /// This process's rank (0 before ``initialize()``).
    public static var rank: Int { backend?.rank ?? 0 }
    /// The number of processes (1 before ``initialize()``).
    public static var size: Int { backend?.size ?? 1 }
    /// Whether this is rank 0: the one that writes checkpoints, logs and output.
    public static var isRoot: Bool { rank == 0 }

    private static let state = Locked<MPIBackend?>(nil)
    static var backend: MPIBackend? { state.withLock { $0 } }

    /// Whether the environment says `mpirun` (or another PMIx/PMI launcher) started this
    /// process.
    public static var launchedByMPIRun: Bool {
        let environment = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"].contains { environment[$0] != nil }
    }

    /// Starts MPI and installs its backend for the collective ops.
    ///
    /// - Throws: ``SomaError`` when the process was not started by `mpirun` (the message
    ///   says how to start it), or when MPI fails to start.
    public static func initialize() throws {
        try state.withLock { backend in
            guard backend == nil else { return }
            guard launchedByMPIRun else {
                throw SomaError.failedPrecondition(
                    "not launched under mpirun: start the ranks with `mpirun -np 2 <program> …` (Open MPI's openmpi-bin)")
            }
            var initialised: Int32 = 0
            MPI_Initialized(&initialised)
            if initialised == 0 {
                let code = soma_mpi_init()
                guard code == soma_mpi_success() else { throw SomaError.failedPrecondition("MPI_Init_thread failed: \(errorString(code))") }
            }
            MPI_Comm_set_errhandler(soma_mpi_comm_world(), soma_mpi_errors_return())
            if let text = ProcessInfo.processInfo.environment["SOMA_MPI_STALL_SECONDS"], let seconds = Double(text), seconds > 0 {
                stallTimeout = seconds
            }
            var r: Int32 = 0, s: Int32 = 0
            MPI_Comm_rank(soma_mpi_comm_world(), &r)
            MPI_Comm_size(soma_mpi_comm_world(), &s)
            let created = MPIBackend(rank: Int(r), size: Int(s))
            backend = created
            Collectives.install(created)
        }
    }

    /// Waits for every rank.
    public static func barrier() throws {
        guard let backend else { return }
        try backend.collective("MPI_Barrier") { MPI_Barrier(soma_mpi_comm_world()) }
    }

    /// Ends MPI (after the last collective); the collective ops then have no backend.
    public static func finalize() {
        state.withLock { backend in
            guard let b = backend else { return }
            b.stop()
            Collectives.install(nil)
            backend = nil
            var finalized: Int32 = 0
            MPI_Finalized(&finalized)
            if finalized == 0 { MPI_Finalize() }
        }
    }

    static func errorString(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(soma_mpi_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &buffer, &length)
        return String(decoding: buffer.prefix(Int(max(0, min(length, Int32(buffer.count))))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// The collective ops' backend over `MPI_COMM_WORLD`.
///
/// Allreduce is a deterministic reduce-scatter + allgather: rank r receives every rank's
/// r-th chunk (`MPI_Alltoallv`), sums them in rank order, and the summed chunks are
/// gathered (`MPI_Allgatherv`) — each element summed once, by one rank, in one order, and
/// the ring's bandwidth (each rank sends and receives 2(n−1)/n of the buffer). Small
/// buffers (every rank's together within ``smallAllreduceBytes``), where latency rules,
/// take one `MPI_Allgather` of whole buffers instead, each rank summing all in rank order.
/// Either way the sum's order is fixed: results are the same on every rank, run to run.
final class MPIBackend: CollectiveBackend, @unchecked Sendable {
    let rank: Int
    let size: Int
    /// One collective at a time (recursive: an allreduce holds it across its two MPI calls
    /// and the sum between, which use ``scratch``).
    private let lock = NSRecursiveLock()
    /// When the collective in progress started (0: none), for the stall watchdog.
    private let started = Atomic<UInt64>(0)
    private let running = Atomic<Bool>(true)
    private let operation = Locked<String>("")

    init(rank: Int, size: Int) {
        self.rank = rank
        self.size = size
        let watchdog = Thread { [self] in watch() }
        watchdog.name = "soma-mpi-watchdog"
        watchdog.start()
    }

    func stop() { running.store(false, ordering: .relaxed) }

    /// Aborts the job when a collective has waited longer than ``MPI/stallTimeout``.
    private func watch() {
        while running.load(ordering: .relaxed) {
            Thread.sleep(forTimeInterval: 0.5)
            let since = started.load(ordering: .relaxed)
            guard since != 0 else { continue }
            let waited = Double(DispatchTime.now().uptimeNanoseconds - since) / 1e9
            if waited > MPI.stallTimeout {
                let what = operation.withLock { $0 }
                FileHandle.standardError.write(Data(
                    "soma: rank \(rank) of \(size): \(what) has waited \(Int(waited)) s for the other ranks; one has died or stopped — aborting the job\n".utf8))
                MPI_Abort(soma_mpi_comm_world(), 70)
            }
        }
    }

    /// Runs one MPI call under the lock, watched; a failure code is an error naming it.
    func collective(_ name: String, _ call: () -> Int32) throws {
        lock.lock()
        defer { lock.unlock() }
        operation.withLock { $0 = name }
        started.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
        let code = call()
        started.store(0, ordering: .relaxed)
        guard code == soma_mpi_success() else {
            throw SomaError(.unavailable, "\(name) failed on rank \(rank) of \(size): \(MPI.errorString(code))")
        }
    }

    /// MPI counts are 32-bit: larger transfers are refused with a clear error.
    private func count32(_ bytes: Int, _ what: String) throws -> Int32 {
        guard let c = Int32(exactly: bytes) else {
            throw SomaError.invalidArgument("\(what): \(bytes) bytes exceed MPI's 32-bit counts; split the tensor")
        }
        return c
    }

    /// The largest total (buffer × ranks) reduced by one allgather rather than two collectives.
    static let smallAllreduceBytes = 256 << 10

    func allreduce(_ buffer: UnsafeMutableRawPointer, count: Int, dtype: DType, average: Bool) throws {
        guard size > 1 else { return }
        lock.lock()
        defer { lock.unlock() }
        let element = dtype.byteSize
        if count * element * size <= Self.smallAllreduceBytes {
            let bytes = try count32(count * element, "allreduce")
            let gathered = scratch(size * count * element)
            try collective("MPI_Allgather (allreduce)") {
                MPI_Allgather(buffer, bytes, soma_mpi_byte(), gathered, bytes, soma_mpi_byte(), soma_mpi_comm_world())
            }
            try Self.sumInRankOrder(gathered, ranks: size, count: count, dtype: dtype, average: average, into: buffer)
            return
        }
        let bounds = (0...size).map { count * $0 / size }
        let mine = bounds[rank + 1] - bounds[rank]
        let sendCounts = try (0..<size).map { try count32((bounds[$0 + 1] - bounds[$0]) * element, "allreduce") }
        let sendOffsets = try (0..<size).map { try count32(bounds[$0] * element, "allreduce") }
        let receiveCounts = [Int32](repeating: try count32(mine * element, "allreduce"), count: size)
        let receiveOffsets = try (0..<size).map { try count32($0 * mine * element, "allreduce") }
        let received = scratch(size * mine * element)
        try collective("MPI_Alltoallv (allreduce)") {
            MPI_Alltoallv(buffer, sendCounts, sendOffsets, soma_mpi_byte(), received, receiveCounts, receiveOffsets,
                          soma_mpi_byte(), soma_mpi_comm_world())
        }
        // This rank's chunk: every rank's contribution summed in rank order.
        let chunk = buffer + bounds[rank] * element
        try Self.sumInRankOrder(received, ranks: size, count: mine, dtype: dtype, average: average, into: chunk)
        let mineCount = try count32(mine * element, "allreduce")
        let gatherOffsets = sendOffsets
        try collective("MPI_Allgatherv (allreduce)") {
            MPI_Allgatherv(chunk, mineCount, soma_mpi_byte(), buffer, sendCounts, gatherOffsets, soma_mpi_byte(),
                           soma_mpi_comm_world())
        }
    }

    /// `out[i]` = Σ over r in rank order of `parts[r · count + i]` (÷ ranks when `average`):
    /// rank by rank over the whole buffer, so the loop vectorises and each element's
    /// additions keep their order, ((p₀ + p₁) + p₂) + ….
    static func sumInRankOrder(_ parts: UnsafeMutableRawPointer, ranks: Int, count: Int, dtype: DType, average: Bool,
                               into out: UnsafeMutableRawPointer) throws {
        func sum<T: Numeric>(_: T.Type, divide: (T) -> T) {
            let o = out.assumingMemoryBound(to: T.self), p = parts.assumingMemoryBound(to: T.self)
            if o != p { o.update(from: p, count: count) }
            for r in 1..<ranks {
                let part = p + r * count
                for i in 0..<count { o[i] += part[i] }
            }
            if average { for i in 0..<count { o[i] = divide(o[i]) } }
        }
        switch dtype {
        case .float32: sum(Float.self) { $0 / Float(ranks) }
        case .float64: sum(Double.self) { $0 / Double(ranks) }
        case .int32: sum(Int32.self) { $0 / Int32(ranks) }
        case .int64: sum(Int64.self) { $0 / Int64(ranks) }
        default: throw SomaError.invalidArgument("allreduce sums float32, float64, int32 and int64 tensors, not \(dtype)")
        }
    }

    /// Scratch for received parts, kept between calls (fresh pages would fault on every
    /// allreduce); only touched under ``lock``.
    private var scratch = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
    private var scratchBytes = 64

    private func scratch(_ bytes: Int) -> UnsafeMutableRawPointer {
        if bytes > scratchBytes {
            scratch.deallocate()
            scratchBytes = max(bytes, scratchBytes * 2)
            scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 64)
        }
        return scratch
    }

    func allgatherCounts(_ count: Int) throws -> [Int] {
        var mine = Int64(count)
        var all = [Int64](repeating: 0, count: size)
        try collective("MPI_Allgather (sizes)") {
            MPI_Allgather(&mine, 1, soma_mpi_int64(), &all, 1, soma_mpi_int64(), soma_mpi_comm_world())
        }
        return all.map { Int($0) }
    }

    func allgather(_ send: UnsafeRawBufferPointer, into receive: UnsafeMutableRawBufferPointer, byteCounts: [Int]) throws {
        let counts = try byteCounts.map { try count32($0, "allgather") }
        var offsets: [Int32] = []
        var offset = 0
        for c in byteCounts { offsets.append(try count32(offset, "allgather")); offset += c }
        guard offset == receive.count else { throw SomaError(.internal, "allgather: \(offset) bytes for a \(receive.count)-byte output") }
        let sendCount = try count32(send.count, "allgather")
        try collective("MPI_Allgatherv") {
            MPI_Allgatherv(send.baseAddress, sendCount, soma_mpi_byte(), receive.baseAddress, counts, offsets, soma_mpi_byte(),
                           soma_mpi_comm_world())
        }
    }

    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        let count = try count32(buffer.count, "broadcast")
        try collective("MPI_Bcast") { MPI_Bcast(buffer.baseAddress, count, soma_mpi_byte(), Int32(root), soma_mpi_comm_world()) }
    }

    /// `MPI_Allreduce` itself (summing in whatever order Open MPI's algorithm picks), for
    /// benchmarks beside the deterministic one.
    func rawAllreduce(_ buffer: UnsafeMutableRawPointer, count: Int) throws {
        let n = try count32(count, "allreduce")
        try collective("MPI_Allreduce") {
            MPI_Allreduce(soma_mpi_in_place(), buffer, n, soma_mpi_float(), soma_mpi_sum(), soma_mpi_comm_world())
        }
    }
}

extension MPI {
    /// Seconds per allreduce of `bytes` of float32 over the job, averaged over
    /// `iterations` after one warm-up: Soma's deterministic collective, or with `raw`
    /// Open MPI's own `MPI_Allreduce` (for benchmarks side by side).
    public static func timeAllreduce(bytes: Int, iterations: Int, raw: Bool) throws -> Double {
        guard let backend else { throw SomaError.failedPrecondition("timeAllreduce needs MPI.initialize() first") }
        let count = max(bytes / 4, 1)
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 1, count: count)
        func once() throws {
            if raw { try backend.rawAllreduce(buffer, count: count) } else { try backend.allreduce(buffer, count: count, dtype: .float32, average: false) }
        }
        try once()
        try barrier()
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<iterations { try once() }
        try barrier()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(iterations)
    }
}
