import Synchronization

/// State that outlives a single run: variable values, by variable key.
///
/// Thread-safety: all access goes through a mutex; runs on many threads may read and
/// assign variables concurrently (each read sees one whole value).
final class SessionState: Sendable {
    private let variables = Locked<[String: Tensor]>([:])

    func value(of key: String) -> Tensor? { variables.withLock { $0[key] } }

    func assign(_ key: String, _ value: Tensor) { variables.withLock { $0[key] = value } }

    /// Replaces the value with `update(old)` atomically; fails when uninitialised.
    func update(_ key: String, _ update: (Tensor) throws -> Tensor) throws -> Tensor {
        try variables.withLock { vars in
            guard let old = vars[key] else {
                throw KernelError("Attempting to use uninitialized value \(key)")
            }
            let new = try update(old)
            vars[key] = new
            return new
        }
    }
}
