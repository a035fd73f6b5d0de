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
    let state: SessionState
    let arena: Arena
    let intraOpThreads: Int
    let values: UnsafeMutablePointer<Tensor?>
    let counts: UnsafeMutablePointer<Atomic<Int>>
    let remaining: Atomic<Int>
    let failed = Atomic<Bool>(false)
    let firstError = Locked<(any Error)?>(nil)

    /// A run over `values`, the run's value table with feeds and constants in place.
    init(plan: Plan, values: UnsafeMutablePointer<Tensor?>, state: SessionState, arena: Arena, intraOpThreads: Int) {
        self.plan = plan
        self.state = state
        self.arena = arena
        self.intraOpThreads = intraOpThreads
        self.values = values
        counts = .allocate(capacity: plan.steps.count)
        for (i, step) in plan.steps.enumerated() { (counts + i).initialize(to: Atomic(step.dependencyCount)) }
        remaining = Atomic(plan.steps.count)
    }

    deinit {
        counts.deinitialize(count: plan.steps.count)
        counts.deallocate()
    }

    func execute(_ item: Int) { runFrom(item) }

    /// Runs `first`, then whatever becomes ready that this thread keeps.
    private func runFrom(_ first: Int) {
        var local = [first]
        while let s = local.popLast() {
            if !failed.load(ordering: .relaxed) {
                do { try runStep(s) } catch {
                    firstError.withLock { if $0 == nil { $0 = error } }
                    failed.store(true, ordering: .relaxed)
                }
            }
            for successor in plan.steps[s].successors
            where counts[successor].subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
                if local.isEmpty || plan.steps[successor].isCheap { local.append(successor) }
                else { ThreadPool.shared.submit(self, successor) }
            }
            remaining.subtract(1, ordering: .sequentiallyConsistent)
            ThreadPool.shared.notifyWaiters()
        }
    }

    private func runStep(_ s: Int) throws {
        try PlanExecutor.runStep(plan.steps[s], plan: plan, values: values, state: state, arena: arena,
                                 intraOpThreads: intraOpThreads, parallelLayout: true)
    }

    /// Runs the plan to completion on the pool and this thread.
    func run() throws {
        let ready = plan.steps.indices.filter { plan.steps[$0].dependencyCount == 0 }
        for s in ready.dropFirst() { ThreadPool.shared.submit(self, s) }
        if let s = ready.first { runFrom(s) }
        ThreadPool.shared.wait { remaining.load(ordering: .sequentiallyConsistent) == 0 }
        if let error = firstError.withLock({ $0 }) { throw error }
    }
}
