import Foundation

/// Saves and restores a session's variables in TF's checkpoint format, as TF1's
/// `tf.compat.v1.train.Saver` does.
///
/// Each variable is stored under its name (`dense/kernel`, its optimiser slots
/// `dense/kernel/Adam`, …, `global_step`), or under the key a name map gives, so TF's Saver
/// and `tf.train.load_checkpoint` read Soma's checkpoints and Soma restores theirs.
///
/// ```swift
/// let saver = Saver(graph: g, maxToKeep: 3)
/// let path = try saver.save(session, to: folder.appendingPathComponent("model.ckpt").path, globalStep: step)
/// // later, in another process:
/// try Saver(graph: g).restore(session, from: Saver.latestCheckpoint(in: folder)!)
/// ```
///
/// A save writes the data file, then the index (each atomically), then the `checkpoint`
/// state file, and only then deletes checkpoints beyond `maxToKeep`: a crash at any point
/// leaves the latest checkpoint the state file names restorable. Saving over an existing
/// prefix (no global step) replaces its two files one after the other, so a crash between
/// the two renames spoils that prefix, as in TF; numbered saves never overwrite.
///
/// What resumes exactly: variable values, optimiser slots and the global step — training
/// N steps, saving, restoring in a fresh process and training M more gives bitwise the
/// weights of N + M uninterrupted steps. Random ops (dropout, initialisers) draw from
/// per-session streams that restart in a new session, as TF's do, so a resumed run with
/// dropout draws other masks than an uninterrupted one would.
///
/// A saver's first save adopts the checkpoints the folder's `checkpoint` file lists (as
/// TF2's `CheckpointManager` does), so `maxToKeep` counts across restarts.
///
/// Thread-safety: one saver per thread; saving while another thread trains saves each
/// variable's value at some point during the save.
public final class Saver {
    /// Checkpoint key → variable.
    public let variables: [String: Variable]
    /// Checkpoints kept; older ones are deleted by `save` (0 or less: keep all).
    public let maxToKeep: Int
    /// This saver's checkpoints, oldest first (TF1's `last_checkpoints`).
    public private(set) var lastCheckpoints: [String] = []
    /// Whether this saver has saved: its first save adopts the folder's state file.
    private var hasSaved = false

    /// A saver for every variable of `graph` (trainable or not: slots and the global step
    /// included), keyed by name.
    public convenience init(graph: Graph, maxToKeep: Int = 5) {
        self.init(variables: graph.variables, maxToKeep: maxToKeep)
    }

    /// A saver for `variables`, keyed by name.
    public convenience init(variables: [Variable], maxToKeep: Int = 5) {
        self.init(names: Dictionary(variables.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a }), maxToKeep: maxToKeep)
    }

    /// A saver with explicit checkpoint keys (TF1's `var_list` dictionary): to read a
    /// checkpoint written under other names.
    public init(names: [String: Variable], maxToKeep: Int = 5) {
        self.variables = names
        self.maxToKeep = maxToKeep
    }

    /// Saves the variables' current values to `prefix` (or `prefix-<globalStep>`), updates
    /// the folder's `checkpoint` file and deletes checkpoints beyond ``maxToKeep``.
    /// - Returns: the checkpoint's path prefix.
    /// - Throws: `FailedPrecondition` naming an uninitialised variable; file errors.
    @discardableResult
    public func save(_ session: Session, to prefix: String, globalStep: Int? = nil) throws -> String {
        let path = globalStep.map { "\(prefix)-\($0)" } ?? prefix
        var writer = CheckpointWriter(prefix: path)
        for (key, variable) in variables.sorted(by: { $0.key < $1.key }) {
            guard let value = session.state.value(of: variable.sessionKey) else {
                throw SomaError.failedPrecondition("Attempting to save uninitialized value \(variable.name) (run its initializer or restore it first)")
            }
            try writer.add(key, value)
        }
        try writer.write()
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        if !hasSaved, let state = try? CheckpointState.read(in: folder) {
            // A new process saving where an earlier one did: keep counting its checkpoints.
            lastCheckpoints = state.all.map { CheckpointState.resolve($0, in: folder) }
        }
        hasSaved = true
        var kept = lastCheckpoints.filter { $0 != path } + [path]
        var doomed: [String] = []
        if maxToKeep > 0 && kept.count > maxToKeep {
            doomed = Array(kept.prefix(kept.count - maxToKeep))
            kept.removeFirst(doomed.count)
        }
        func relative(_ p: String) -> String {
            URL(fileURLWithPath: p).deletingLastPathComponent().standardizedFileURL == folder.standardizedFileURL
                ? URL(fileURLWithPath: p).lastPathComponent : p
        }
        func writeState(_ all: [String]) throws {
            let now = Date().timeIntervalSince1970
            try CheckpointState(latest: relative(path), all: all.map(relative),
                                timestamps: Array(repeating: now, count: all.count)).write(in: folder)
        }
        // The state names the doomed checkpoints until they are gone, so a save that
        // crashes while deleting leaves them to the next save rather than orphaned.
        try writeState(doomed + kept)
        lastCheckpoints = doomed + kept
        guard !doomed.isEmpty else { return path }
        for old in doomed { try Self.delete(old) }
        try writeState(kept)
        lastCheckpoints = kept
        return path
    }

    /// Sets the variables from the checkpoint at `prefix`.
    /// - Throws: `NotFound` in TF's words for a key the checkpoint lacks;
    ///   `InvalidArgument` naming the variable when a dtype or shape differs; read errors.
    public func restore(_ session: Session, from prefix: String) throws {
        let reader = try CheckpointReader(prefix: prefix, budget: session.state.budget)
        var values: [(Variable, Tensor)] = []
        for (key, variable) in variables.sorted(by: { $0.key < $1.key }) {
            guard reader.entries[key] != nil else {
                throw SomaError.notFound("Key \(key) not found in checkpoint '\(prefix)' (for variable \(variable.name))")
            }
            let value = try reader.tensor(key)
            guard value.dtype == variable.dtype else {
                throw SomaError.invalidArgument("checkpoint tensor \(key) is \(value.dtype), but variable \(variable.name) is \(variable.dtype)")
            }
            if !variable.shape.isCompatible(with: TensorShape(value.shape)) {
                throw SomaError.invalidArgument("checkpoint tensor \(key) has shape \(shapeString(value.shape)), but variable \(variable.name) has \(variable.shape)")
            }
            values.append((variable, value))
        }
        // All or nothing: assign only once every value has been read and checked.
        for (variable, value) in values { session.state.assign(variable.sessionKey, value) }
    }

    /// The latest checkpoint named by `folder/checkpoint` whose index exists, or `nil`.
    public static func latestCheckpoint(in folder: URL) -> String? {
        guard let state = try? CheckpointState.read(in: folder) else { return nil }
        let path = CheckpointState.resolve(state.latest, in: folder)
        return FileManager.default.fileExists(atPath: TensorBundle.indexPath(path)) ? path : nil
    }

    /// Deletes a checkpoint's files (index first, so no index outlives its data).
    static func delete(_ prefix: String) throws {
        let shards = (try? CheckpointReader(prefix: prefix))?.shardCount ?? 1
        try CrashPoints.pass()
        unlink(TensorBundle.indexPath(prefix))
        for shard in 0..<shards {
            try CrashPoints.pass()
            unlink(TensorBundle.dataPath(prefix, shard: shard, of: shards))
        }
        unlink(prefix + ".meta")
    }
}
