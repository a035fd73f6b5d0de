import Foundation
import Synchronization

/// Runs a plan's steps on the shared pool as their dependencies complete (inter-op
/// parallelism), the calling thread included.
///
/// Each step has an atomic count of unfinished predecessors; the thread that finishes a
/// step releases its successors, keeps one to run itself (cheap steps always run inline,
/// as TF's executor does) and queues the rest. Results are the same as the sequential
/// executor's: every step is deterministic and variable effects are ordered by the plan.
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
    }

    deinit {
        counts.deinitialize(count: plan.steps.count)
        counts.deallocate()
    }

    func execute(_ item: Int) { runFrom(item) }

    /// Runs `first`, then whatever becomes ready that this thread keeps (on a stack of at
    /// most every step, in temporary memory).
    private func runFrom(_ first: Int) {
        withUnsafeTemporaryAllocation(of: Int.self, capacity: plan.steps.count) { local in
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
                for successor in plan.steps[s].successors
                where counts[successor].subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
                    if kept == 0 || plan.steps[successor].isCheap { local[kept] = successor; kept += 1 }
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
