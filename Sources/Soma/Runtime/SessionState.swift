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
    /// ``SessionOptions/fusesRecurrentLoops``.
    let fusesRecurrentLoops: Bool

    init(budget: MemoryBudget = MemoryBudget(), fusesRecurrentLoops: Bool = true) {
        self.budget = budget
        self.fusesRecurrentLoops = fusesRecurrentLoops
    }

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

    /// The keys of the variables that hold values.
    var keys: [String] { variables.withLock { Array($0.keys) } }

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

    /// Stores a copy of `value` (which may view a plan's arena, reused by the next run): into
    /// the variable's own memory when it has the same dtype and shape and nothing else holds
    /// it, else into fresh memory reserved from the budget. Returns the stored value.
    /// - Throws: ``SomaError`` (`ResourceExhausted`) when the budget says no.
    func assignCopy(_ key: String, _ value: Tensor) throws -> Tensor {
        try variables.withLock { vars in
            if vars[key]?.dtype == value.dtype, vars[key]?.shape == value.shape, value.dtype.isNumeric,
               vars[key]!.isUniquelyOwnedInPlace() {
                let stored = vars[key]!
                if stored.rawPointer != value.rawPointer {
                    stored.rawPointer.copyMemory(from: value.rawPointer, byteCount: value.byteCount)
                }
                return stored
            }
            let stored = try value.owned(budget: budget)
            vars[key] = stored
            return stored
        }
    }

    /// Runs `body` on the values of the variables `key(0)`, …, `key(count - 1)`, all under
    /// the lock, each first made uniquely owned: updated in place when nothing else holds
    /// it, copied once when something does (a value fetched or read earlier never changes
    /// under its holder). Fails when one is uninitialised. Allocates nothing in the common,
    /// unshared case.
    func update<R>(_ count: Int, key: (Int) throws -> String,
                   _ body: (UnsafeMutableBufferPointer<Tensor>) throws -> R) throws -> R {
        try variables.withLock { vars in
            try withUnsafeTemporaryAllocation(of: Tensor.self, capacity: count) { values in
                var taken = 0
                defer { values.baseAddress!.deinitialize(count: taken) }
                for i in 0..<count {
                    let k = try key(i)
                    guard vars[k] != nil else {
                        throw KernelError("Attempting to use uninitialized value \(k)" + SessionState.initializerHint)
                    }
                    vars[k]!.makeUniquelyOwned()
                    values.initializeElement(at: i, to: vars[k]!)
                    taken += 1
                }
                return try body(values)
            }
        }
    }
}
