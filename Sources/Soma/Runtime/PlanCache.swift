import Synchronization

/// Compiled plans by run signature, least recently used evicted first.
///
/// Thread-safety: all access under a mutex; compiling happens outside it, so two threads
/// may compile the same signature once each (the second insert wins, harmlessly).
final class PlanCache: Sendable {
    struct Feed: Hashable {
        let endpoint: NodeOutput
        let shape: [Int]
    }

    /// Fetches, targets, and feeds with their concrete shapes.
    struct Key: Hashable {
        let fetches: [NodeOutput]
        let targets: [Int]
        let feeds: [Feed]
    }

    private struct Entries {
        var plans: [Key: PlanExecutor?] = [:]
        var order: [Key] = []
    }

    private let entries = Locked(Entries())
    let capacity: Int

    init(capacity: Int) { self.capacity = Swift.max(capacity, 1) }

    /// The plan for `key`: `.some(nil)` when the signature is known to need the reference
    /// executor, `nil` when it was never compiled.
    func lookup(_ key: Key) -> PlanExecutor?? {
        entries.withLock { e in
            guard let plan = e.plans[key] else { return nil }
            if let i = e.order.firstIndex(of: key) { e.order.remove(at: i) }
            e.order.append(key)
            return .some(plan)
        }
    }

    func insert(_ key: Key, _ plan: PlanExecutor?) {
        entries.withLock { e in
            if e.plans.updateValue(plan, forKey: key) == nil { e.order.append(key) }
            while e.order.count > capacity { e.plans[e.order.removeFirst()] = nil }
        }
    }

    var count: Int { entries.withLock { $0.plans.count } }
}
