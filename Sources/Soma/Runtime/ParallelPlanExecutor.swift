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

    init(plan: Plan, feeds: [Tensor], state: SessionState, arena: Arena, intraOpThreads: Int) {
        self.plan = plan
        self.state = state
        self.arena = arena
        self.intraOpThreads = intraOpThreads
        values = .allocate(capacity: plan.values.count)
        values.initialize(repeating: nil, count: plan.values.count)
        for (i, value) in plan.values.enumerated() {
            switch value.storage {
            case .feed(let k): values[i] = feeds[k]
            case .constant: values[i] = value.constant
            default: break
            }
        }
        counts = .allocate(capacity: plan.steps.count)
        for (i, step) in plan.steps.enumerated() { (counts + i).initialize(to: Atomic(step.dependencyCount)) }
        remaining = Atomic(plan.steps.count)
    }

    deinit {
        values.deinitialize(count: plan.values.count)
        values.deallocate()
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
            remaining.subtract(1, ordering: .releasing)
        }
    }

    private func runStep(_ s: Int) throws {
        let step = plan.steps[s]
        var inputs: [Tensor] = []
        inputs.reserveCapacity(step.inputs.count)
        for (k, v) in step.inputs.enumerated() {
            inputs.append(try PlanExecutor.read(v, plan: plan, values: values, state: state, by: step, ref: step.refInputs[k]))
        }
        let outputs = try PlanExecutor.runKernel(step, inputs: inputs, plan: plan, state: state, arena: arena,
                                                 intraOpThreads: intraOpThreads, parallelLayout: true)
        for (k, v) in step.outputs.enumerated() { values[v] = outputs[k] }
    }

    /// Runs the plan to completion on the pool and this thread.
    func run() throws -> [Tensor] {
        let ready = plan.steps.indices.filter { plan.steps[$0].dependencyCount == 0 }
        for s in ready.dropFirst() { ThreadPool.shared.submit(self, s) }
        if let s = ready.first { runFrom(s) }
        while remaining.load(ordering: .acquiring) > 0 {
            if !ThreadPool.shared.helpOnce() { sched_yield() }
        }
        if let error = firstError.withLock({ $0 }) { throw error }
        return try plan.fetches.map {
            try PlanExecutor.read($0, plan: plan, values: values, state: state, by: nil, ref: false).owned()
        }
    }
}
