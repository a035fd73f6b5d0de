import Foundation
import Synchronization

/// Runs a plan's steps on the shared pool as their dependencies complete (inter-op
/// parallelism), the calling thread included.
///
/// Each step has an atomic count of unfinished predecessors; the thread that finishes a
/// step releases its successors, keeps one to run itself (cheap steps always run inline,
/// as TF's executor does) and queues the rest. Results are the same as the sequential
/// executor's: every step is deterministic and variable effects are ordered by the plan.
///
/// Values outside the arena that the sequential executor drops after their last reader in
/// plan order (``Plan/Step/releases``) are dropped here by the last of their readers to
/// finish, before it releases its successors: a forwarded variable value is then no longer
/// held when a later step updates the variable, which updates it in place instead of
/// copying it (a copy, and an allocation, per update and step on two threads).
final class ParallelPlanRun: PoolJob, @unchecked Sendable {
    let plan: Plan
    /// What one run reads: set by ``run(values:state:arena:intraOpThreads:observer:)`` before any
    /// step is queued, cleared after the last one finishes.
    private struct Run {
        let values: UnsafeMutablePointer<Tensor?>
        let state: SessionState
        let arena: Arena
        let intraOpThreads: Int
        let observer: RunObserver?
    }
    private var current: Run? = nil
    private let counts: UnsafeMutablePointer<Atomic<Int>>
    private let ready: [Int]
    /// Per step, the values it reads or releases that a run drops (see the summary), each
    /// once; per value, how many steps list it (zero: never dropped during a run).
    private let drops: [[Int]]
    private let dropCounts: [Int]
    /// Per value, its steps yet to finish in this run.
    private let unfinishedReaders: UnsafeMutablePointer<Atomic<Int>>
    private let remaining = Atomic<Int>(0)
    private let failed = Atomic<Bool>(false)
    private let firstError = Locked<(any Error)?>(nil)

    /// A runner for `plan`, reused run after run (an arena keeps one), so a run allocates
    /// no counters, lists or locks.
    init(plan: Plan) {
        self.plan = plan
        counts = .allocate(capacity: plan.steps.count)
        for i in plan.steps.indices { (counts + i).initialize(to: Atomic(0)) }
        ready = plan.steps.indices.filter { plan.steps[$0].dependencyCount == 0 }
        var dropped = [Bool](repeating: false, count: plan.values.count)
        for step in plan.steps { for v in step.releases { dropped[v] = true } }
        var dropCounts = [Int](repeating: 0, count: plan.values.count)
        drops = plan.steps.map { step in
            var own: [Int] = []
            for v in step.inputs + step.releases where dropped[v] && !own.contains(v) {
                own.append(v)
                dropCounts[v] += 1
            }
            return own
        }
        self.dropCounts = dropCounts
        unfinishedReaders = .allocate(capacity: plan.values.count)
        for v in plan.values.indices { (unfinishedReaders + v).initialize(to: Atomic(0)) }
    }

    deinit {
        counts.deinitialize(count: plan.steps.count)
        counts.deallocate()
        unfinishedReaders.deinitialize(count: plan.values.count)
        unfinishedReaders.deallocate()
    }

    func execute(_ item: Int) { runFrom(item) }

    /// Steps one thread keeps to run itself at most; more ready ones are queued. A stack of
    /// 512 bytes: larger temporary allocations go to the heap (the unrolled RNN's training
    /// step in `check-allocations.sh`, a graph of 618 nodes, allocated once per queued step
    /// on two threads).
    static let maximumKept = 64

    /// Runs `first`, then whatever becomes ready that this thread keeps (on a stack of at
    /// most ``maximumKept`` steps, in temporary memory).
    private func runFrom(_ first: Int) {
        withUnsafeTemporaryAllocation(of: Int.self, capacity: Swift.min(plan.steps.count, Self.maximumKept)) { local in
            local[0] = first
            var kept = 1
            while kept > 0 {
                kept -= 1
                let s = local[kept]
                if !failed.load(ordering: .relaxed) {
                    do { try runStep(s) } catch {
                        firstError.withLock { if $0 == nil { $0 = error } }
                        failed.store(true, ordering: .relaxed)
                    }
                }
                let values = current!.values
                for v in drops[s] where unfinishedReaders[v].subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
                    values[v] = nil
                }
                for successor in plan.steps[s].successors
                where counts[successor].subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
                    if kept == 0 || plan.steps[successor].isCheap && kept < local.count { local[kept] = successor; kept += 1 }
                    else { ThreadPool.shared.submit(self, successor) }
                }
                remaining.subtract(1, ordering: .sequentiallyConsistent)
                ThreadPool.shared.notifyWaiters()
            }
        }
    }

    private func runStep(_ s: Int) throws {
        let run = current!
        try PlanExecutor.runStep(plan.steps[s], plan: plan, values: run.values, state: run.state, arena: run.arena,
                                 intraOpThreads: run.intraOpThreads, parallelLayout: true, observer: run.observer)
    }

    /// Runs the plan to completion on the pool and this thread, over `values` (the run's
    /// value table with feeds and constants in place). One run at a time.
    func run(values: UnsafeMutablePointer<Tensor?>, state: SessionState, arena: Arena, intraOpThreads: Int,
             observer: RunObserver? = nil) throws {
        current = Run(values: values, state: state, arena: arena, intraOpThreads: intraOpThreads, observer: observer)
        defer { current = nil }
        for (i, step) in plan.steps.enumerated() { counts[i].store(step.dependencyCount, ordering: .relaxed) }
        for (v, count) in dropCounts.enumerated() { unfinishedReaders[v].store(count, ordering: .relaxed) }
        remaining.store(plan.steps.count, ordering: .relaxed)
        failed.store(false, ordering: .relaxed)
        firstError.withLock { $0 = nil }
        // Queuing takes the pool's lock, which publishes the stores above to the workers.
        for s in ready.dropFirst() { ThreadPool.shared.submit(self, s) }
        if let s = ready.first { runFrom(s) }
        ThreadPool.shared.wait { remaining.load(ordering: .sequentiallyConsistent) == 0 }
        if let error = firstError.withLock({ $0 }) { throw error }
    }
}
