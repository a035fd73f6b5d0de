import Synchronization

/// State that outlives a single run: variable values, by variable key.
///
/// Thread-safety: all access goes through a mutex; runs on many threads may read and
/// assign variables concurrently (each read sees one whole value).
final class SessionState: Sendable {
    private let variables = Locked<[String: Tensor]>([:])
    private let randomRuns = Locked<[String: UInt64]>([:])
    /// Seeds random ops without seeds: fresh per session, as in TF.
    let sessionEntropy = UInt64.random(in: 1...UInt64.max)
    /// What this session's runs may hold: arenas, outputs, fetches, variables, scratch.
    let budget: MemoryBudget

    init(budget: MemoryBudget = MemoryBudget()) { self.budget = budget }

    /// How many times the random op `node` has run in this session before now (TF's
    /// random kernels advance their generator from run to run).
    func nextRandomRun(_ node: String) -> UInt64 {
        randomRuns.withLock { runs in
            let k = runs[node, default: 0]
            runs[node] = k + 1
            return k
        }
    }

    func value(of key: String) -> Tensor? { variables.withLock { $0[key] } }

    /// A variable's value for a consumer. An uninitialised variable is a valid target for
    /// a ref input (Assign's `ref`): it reads as zeros of its declared `shape`, so the
    /// consumer's shape checks still apply. Otherwise it is TF's failed-precondition error.
    func read(_ key: String, dtype: DType, shape: [Int]?, ref: Bool, reader: String?, location: String = "") throws -> Tensor {
        if let v = value(of: key) { return v }
        if ref, let shape { return Tensor(zeros: dtype, shape: shape) }
        let by = reader.map { " (read by '\($0)')" } ?? ""
        throw SomaError.failedPrecondition("Attempting to use uninitialized value \(key)\(by)\(location)"
                                           + SessionState.initializerHint)
    }

    /// What to do about an uninitialised variable.
    static let initializerHint = "; run the initializer first (session.run(target: graph.globalVariablesInitializer())) "
        + "or restore a checkpoint"

    func assign(_ key: String, _ value: Tensor) { variables.withLock { $0[key] = value } }

    /// Replaces the value with `update(old)` atomically; fails when uninitialised.
    func update(_ key: String, _ update: (Tensor) throws -> Tensor) throws -> Tensor {
        try variables.withLock { vars in
            guard let old = vars[key] else {
                throw KernelError("Attempting to use uninitialized value \(key)" + SessionState.initializerHint)
            }
            let new = try update(old)
            vars[key] = new
            return new
        }
    }
}
