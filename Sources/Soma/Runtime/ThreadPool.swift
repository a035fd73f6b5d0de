import CPUFeatures
import Foundation
import Synchronization

/// Work a pool thread can pick up: `execute(item)` for an item index.
protocol PoolJob: AnyObject, Sendable {
    func execute(_ item: Int)
}

/// A persistent pool of worker threads shared by every session.
///
/// Items are `(job, index)` pairs in one FIFO guarded by a mutex. Idle workers spin for
/// ``spinNanoseconds``, yield a little, then park on a condition variable, so no CPU burns
/// between runs. Callers that submit work also help: `helpOnce()` runs one queued item on
/// the calling thread, and `wait(until:)` helps while it waits for work running elsewhere,
/// then sleeps after the same bounded spin — on a machine shared with other processes, a
/// waiter that yields forever takes CPU from the very thread it waits for.
/// While ``ContentionMonitor`` reports contention, idle threads park after the spin without
/// yielding (``ContentionMonitor/idleThreadsYield``).
///
/// The spin is timed, not counted: a recurrent loop's steps are parallel blocks of a few
/// microseconds with a few microseconds of serial work between them, and a worker must
/// still be polling when the next step's item is queued. Counted in polls (2,000 of them,
/// about half a microsecond), a worker was into its `sched_yield` rounds by then, which on
/// these virtual machines take ~20 µs each (`perf trace`): the caller often ran both of a
/// step's blocks before the worker looked (a traced Keras LSTM's cell, 15.1 µs a step on
/// two threads against 15.6 on one). Timed, the harness's Keras LSTM went from 0.70–0.72 to
/// 0.65–0.69 ms and its GRU from 0.67–0.69 to 0.61–0.67 (A/B medians); the other
/// workloads within the noise.
///
/// Thread-safety: all members may be called from any thread.
final class ThreadPool: @unchecked Sendable {
    /// The process-wide pool: one worker per core beyond the calling thread (this rank's
    /// cores under `mpirun`: ``SessionOptions``'s default).
    static let shared = ThreadPool(workers: max(SessionOptions.cores - 1, 1))

    private struct Item {
        let job: any PoolJob
        let index: Int
    }

    private let queue = Locked<[Item]>([])
    private let pending = Atomic<Int>(0)
    private let condition = NSCondition()
    private var sleepers = 0
    /// Threads asleep in `wait(until:)`: completions wake them only when there are some.
    private let waiters = Atomic<Int>(0)
    let workerCount: Int

    /// How long an idle thread polls for work before it starts yielding the CPU: longer
    /// than the serial work between two parallel steps, far shorter than a time slice.
    static let spinNanoseconds: UInt64 = 50_000
    /// `sched_yield` rounds after the spin, before sleeping: the worker's and `wait(until:)`'s.
    static let workerYieldRounds = 200, waiterYieldRounds = 20

    init(workers: Int) {
        workerCount = workers
        for i in 0..<workers {
            let thread = Thread { [unowned self] in self.work() }
            thread.name = "soma-worker-\(i)"
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// Queues `job.execute(index)` for a worker (or a helping caller).
    func submit(_ job: any PoolJob, _ index: Int) {
        queue.withLock { $0.append(Item(job: job, index: index)) }
        pending.add(1, ordering: .releasing)
        condition.lock()
        if sleepers > 0 { condition.signal() }
        condition.unlock()
    }

    /// Runs one queued item on the calling thread; `false` when the queue is empty.
    @discardableResult
    func helpOnce() -> Bool {
        guard let item = pop() else { return false }
        item.job.execute(item.index)
        return true
    }

    /// Runs queued items until `isDone()`: spinning a little, then yielding a little, then
    /// asleep until an item is queued or ``notifyWaiters()`` reports a completion. `isDone`
    /// must read what the completing thread writes before `notifyWaiters()` with
    /// sequentially consistent atomics.
    func wait(until isDone: () -> Bool) {
        var idleSince: UInt64? = nil, yields = 0
        while !isDone() {
            if helpOnce() {
                (idleSince, yields) = (nil, 0)
                continue
            }
            let now = ContentionMonitor.monotonicNanoseconds()
            if now &- (idleSince ?? now) < Self.spinNanoseconds {
                if idleSince == nil { idleSince = now }
                soma_cpu_relax()
                continue
            }
            if yields < Self.waiterYieldRounds && ContentionMonitor.shared.idleThreadsYield {
                yields += 1
                sched_yield()
                continue
            }
            condition.lock()
            waiters.add(1, ordering: .sequentiallyConsistent)
            sleepers += 1
            while !isDone() && pending.load(ordering: .sequentiallyConsistent) == 0 { condition.wait() }
            sleepers -= 1
            waiters.subtract(1, ordering: .sequentiallyConsistent)
            condition.unlock()
            (idleSince, yields) = (nil, 0)
        }
    }

    /// Wakes the threads asleep in ``wait(until:)``; call after publishing a completion
    /// (with a sequentially consistent atomic) that one of them may wait for.
    func notifyWaiters() {
        guard waiters.load(ordering: .sequentiallyConsistent) > 0 else { return }
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }

    private func pop() -> Item? {
        guard pending.load(ordering: .acquiring) > 0 else { return nil }
        let item: Item? = queue.withLock { q in
            guard !q.isEmpty else { return nil }
            return q.removeFirst()
        }
        if item != nil { pending.subtract(1, ordering: .relaxed) }
        return item
    }

    /// Polls for a queued item for ``spinNanoseconds`` (the clock read every 64 polls), then
    /// for ``workerYieldRounds`` more, yielding between polls; whether one was queued.
    private func spinForWork() -> Bool {
        let start = ContentionMonitor.monotonicNanoseconds()
        repeat {
            for _ in 0..<64 {
                if pending.load(ordering: .relaxed) > 0 { return true }
                soma_cpu_relax()
            }
        } while ContentionMonitor.monotonicNanoseconds() &- start < Self.spinNanoseconds
        for _ in 0..<Self.workerYieldRounds {
            // Under contention the thread parks at once (see `ContentionMonitor.idleThreadsYield`).
            guard ContentionMonitor.shared.idleThreadsYield else { break }
            if pending.load(ordering: .relaxed) > 0 { return true }
            sched_yield()
        }
        return false
    }

    private func work() {
        ContentionMonitor.shared.registerWorker()
        while true {
            if let item = pop() {
                item.job.execute(item.index)
                continue
            }
            // Spin, then yield, a little: a dependent step is often queued microseconds later.
            if spinForWork() { continue }
            condition.lock()
            sleepers += 1
            while pending.load(ordering: .acquiring) == 0 { condition.wait() }
            sleepers -= 1
            condition.unlock()
        }
    }
}

/// Runs `body(state, lo, hi)` for every block `lo..<hi` of a fixed-size partition of
/// `0..<count`, on the pool and the calling thread. Block boundaries depend only on `count`
/// and `blockSize`, never on the number of threads, so any per-block computation — and any
/// combination of per-block results in block order — is bitwise identical for every thread
/// count.
///
/// The body is lent to the helper threads without a heap allocation: it must capture
/// nothing, and takes what it needs (pointers, sizes, small structs) as `state`, which the
/// caller keeps on its stack for the duration. A capturing closure still works, but
/// allocates its context on every call — what `withoutActuallyEscaping` of a non-escaping
/// closure did here before (one 32-byte box per split kernel call; ARCHITECTURE.md).
final class ParallelFor: PoolJob, @unchecked Sendable {
    /// The job's claim word: epoch (high 24 bits), the end of the unclaimed blocks (20
    /// bits), their start (20 bits). The caller claims from the front and helpers from the
    /// back, so with two threads each runs one contiguous run of blocks — the same rows of
    /// an image step after step, whose producer's output its own cache then holds. Jobs are
    /// pooled and reused, and helper items queued for one use may run during a later one:
    /// they carry their epoch and claim nothing from another.
    private let claim = Atomic<Int>(0)
    private let done = Atomic<Int>(0)
    /// Set before an epoch opens; read only by a thread that claimed a block of it: the
    /// caller's ``Frame`` and the function that calls it, which knows its layout.
    private var frame: UnsafeRawPointer?
    private var invoke: ((UnsafeRawPointer, Int, Int) -> Void)?
    private var count = 0, blockSize = 1
    private var epoch = 0

    private static let fieldBits = 20, fieldMask = (1 << 20) - 1
    private static let pool = Locked<[ParallelFor]>([])

    /// What a call lends its helpers, on the caller's stack: a struct, so the body is
    /// stored at its own abstraction (passing it to a generic function — `unsafeBitCast`,
    /// `withUnsafePointer(to: body)` — would wrap it in a heap-allocated thunk).
    private struct Frame<State> {
        let state: State
        let body: (State, Int, Int) -> Void
    }

    func execute(_ item: Int) { drain(epoch: item, fromBack: true) }

    /// Claims and runs blocks of `epoch` — the first unclaimed one, or the last — until none
    /// is left.
    private func drain(epoch: Int, fromBack: Bool) {
        while true {
            let word = claim.load(ordering: .acquiring)
            let front = word & Self.fieldMask, back = (word >> Self.fieldBits) & Self.fieldMask
            guard word >> (2 * Self.fieldBits) == epoch, front < back else { return }
            let (claimed, index) = fromBack ? (word - (1 << Self.fieldBits), back - 1) : (word + 1, front)
            guard claim.compareExchange(expected: word, desired: claimed, ordering: .acquiringAndReleasing).exchanged else {
                continue
            }
            invoke!(frame!, index * blockSize, Swift.min(count, (index + 1) * blockSize))
            done.add(1, ordering: .sequentiallyConsistent)
            ThreadPool.shared.notifyWaiters()
        }
    }

    /// Runs `body(state, lo, hi)` over `0..<count` in blocks of `blockSize` using up to
    /// `threads` threads (the caller included); inline, as one block `0..<count`, when there
    /// is one block or one thread. `body` has run for every block when this returns; it must
    /// capture nothing to run without allocating (see the type's summary).
    static func run<State>(count: Int, blockSize: Int, threads: Int, sharing state: State,
                           _ body: @escaping (State, Int, Int) -> Void) {
        precondition(blockSize > 0, "ParallelFor: block size \(blockSize)")
        let blocks = count / blockSize + (count % blockSize == 0 ? 0 : 1)
        guard blocks > 1 && threads > 1 && blocks <= fieldMask else {
            if count > 0 { body(state, 0, count) }
            return
        }
        let job = pool.withLock { $0.popLast() } ?? ParallelFor()
        withUnsafePointer(to: Frame(state: state, body: body)) { frame in
            job.epoch = (job.epoch + 1) & ((1 << 24) - 1)
            // Specialised with the caller (whole-module optimisation), this closure captures
            // nothing and reads the frame without generic value witnesses: a `Runner<State>`
            // metatype calling unspecialised code copied a state of tensors through them
            // (an attention block 5 % slower on two threads).
            job.frame = UnsafeRawPointer(frame)
            job.invoke = { raw, lo, hi in
                let frame = raw.assumingMemoryBound(to: Frame<State>.self)
                frame.pointee.body(frame.pointee.state, lo, hi)
            }
            (job.count, job.blockSize) = (count, blockSize)
            job.done.store(0, ordering: .relaxed)
            job.claim.store(job.epoch << (2 * fieldBits) | blocks << fieldBits, ordering: .releasing)
            let helpers = Swift.min(threads - 1, blocks - 1, ThreadPool.shared.workerCount)
            for _ in 0..<helpers { ThreadPool.shared.submit(job, job.epoch) }
            job.drain(epoch: job.epoch, fromBack: false)
            ThreadPool.shared.wait { job.done.load(ordering: .sequentiallyConsistent) >= blocks }
            (job.frame, job.invoke) = (nil, nil)
        }
        pool.withLock { $0.append(job) }
    }

    /// Runs `body(state, block)` for every block index in `0..<blocks` using up to `threads`
    /// threads, as ``run(count:blockSize:threads:sharing:_:)`` with blocks of one.
    static func forEachBlock<State>(_ blocks: Int, threads: Int, sharing state: State,
                                    _ body: @escaping (State, Int) -> Void) {
        run(count: blocks, blockSize: 1, threads: threads, sharing: BlockFrame(state: state, body: body)) { frame, lo, hi in
            for block in lo..<hi { frame.body(frame.state, block) }
        }
    }

    /// ``forEachBlock(_:threads:sharing:_:)``'s state: a struct, for the reason ``Frame`` is one.
    private struct BlockFrame<State> {
        let state: State
        let body: (State, Int) -> Void
    }
}
