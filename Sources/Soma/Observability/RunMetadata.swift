import Foundation

/// What one run records beyond its results (TF's `RunOptions`).
public struct RunOptions: Sendable {
    /// Record every step's timing, thread and output bytes into ``RunMetadata/stepStats``
    /// (TF's `trace_level = FULL_TRACE`), the steps of loop and function bodies included (a
    /// loop that runs as one fused recurrent cell per step, `RecurrentLoop`, shows as its `While`).
    /// Off, a run pays one untaken branch per step.
    public var trace: Bool

    public init(trace: Bool = false) { self.trace = trace }
}

/// What a traced run reports (TF's `RunMetadata`).
public struct RunMetadata: Sendable {
    /// The steps the run executed, in the order they finished.
    public var stepStats = StepStats()

    public init() {}
}

/// Per-step timings of one run (TF's `StepStats`, with its one CPU device's `node_stats`).
public struct StepStats: Sendable {
    /// The device the steps ran on, as TF names it.
    public var device = "/job:localhost/replica:0/task:0/device:CPU:0"
    public var nodeStats: [NodeExecStats] = []

    public init() {}
}

/// One step of a run (TF's `NodeExecStats`): a kernel call on one thread.
///
/// Times are nanoseconds on the monotonic clock; ``allStartNanos`` is measured from the
/// start of the run, so a run's steps line up on one time axis.
public struct NodeExecStats: Sendable {
    /// The node (for a fused step, the node the fusion kept: its last op's name).
    public var nodeName: String
    /// The op the kernel implements (`_FusedConv2D` for a fused convolution).
    public var op: String
    /// `name = Op(input shapes)`, TF's timeline label.
    public var timelineLabel: String
    /// A small number per thread, in order of first appearance in the run (0: the thread
    /// that called `run`).
    public var threadID: Int
    public var allStartNanos: UInt64
    public var durationNanos: UInt64
    public var inputShapes: [[Int]]
    public var outputShapes: [[Int]]
    /// Bytes of the step's outputs.
    public var outputBytes: Int
    /// 0 for the run's own steps; 1 for steps inside a loop or function body they call
    /// (named `<function>/<node>`), and so on — a caller's time includes its body's.
    public var depth: Int
}

/// Collects one run's step statistics and checks its outputs for NaN and Inf, for the
/// executors' per-step hook (`nil` when neither is asked for).
///
/// Thread-safety: steps on any thread may report at once.
final class RunObserver: Sendable {
    let trace: Bool
    let checkNumerics: Bool
    /// What a run's observers share: the clock's origin and the records.
    private final class Shared: Sendable {
        struct Records {
            var stats: [NodeExecStats] = []
            var threads: [UInt: Int] = [:]
        }
        let origin = RunObserver.now()
        let records = Locked(Records())
    }
    private let shared: Shared
    /// `<function>/` for each body this observer's steps run inside.
    private let prefix: String
    private let depth: Int

    init(trace: Bool, checkNumerics: Bool) {
        self.trace = trace
        self.checkNumerics = checkNumerics
        self.shared = Shared()
        self.prefix = ""
        self.depth = 0
        if trace { shared.records.withLock { $0.threads[UInt(pthread_self())] = 0 } }
    }

    private init(_ parent: RunObserver, function: String) {
        trace = parent.trace
        checkNumerics = parent.checkNumerics
        shared = parent.shared
        prefix = parent.prefix + function + "/"
        depth = parent.depth + 1
    }

    /// The observer for the steps of a loop or function body `function` runs (itself when
    /// not tracing: only traces name the body).
    func nested(in function: String) -> RunObserver { trace ? RunObserver(self, function: function) : self }

    /// An observer for these options, or `nil` when there is nothing to observe.
    static func make(trace: Bool, checkNumerics: Bool) -> RunObserver? {
        trace || checkNumerics ? RunObserver(trace: trace, checkNumerics: checkNumerics) : nil
    }

    /// Monotonic nanoseconds.
    static func now() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) &* 1_000_000_000 &+ UInt64(t.tv_nsec)
    }

    /// The time a step starts (0 when not tracing).
    func stepStarts() -> UInt64 { trace ? Self.now() : 0 }

    /// Records a finished step and checks its outputs; throws at the first non-finite
    /// float output when checking numerics.
    func stepFinished(name: String, op: String, node: KernelNode, started: UInt64, inputs: UnsafeBufferPointer<Tensor>,
                      outputs: UnsafeBufferPointer<Tensor?>) throws {
        let end = trace ? Self.now() : 0
        if checkNumerics { try NumericsCheck.check(name: name, op: op, node: node, inputs: inputs, outputs: outputs) }
        guard trace else { return }
        var inputShapes = inputs.map { $0.dtype == .resource && $0.shape == [0] ? [] : $0.shape }
        // A filter the plan stored transformed for Winograd tiles (`[S, S, C, OC]`) shows as the
        // graph's `[S − tile + 1, S − tile + 1, C, OC]`, so its arithmetic counts the direct sum's.
        if node.winogradFilter, inputShapes.count > 1, case let f = inputShapes[1], f.count == 4 {
            inputShapes[1] = [f[0] - node.winogradTile + 1, f[1] - node.winogradTile + 1, f[2], f[3]]
        }
        let outputShapes = outputs.map { $0?.shape ?? [] }
        let bytes = outputs.reduce(0) { $0 + ($1?.byteCount ?? 0) }
        let thread = UInt(pthread_self())
        let fullName = prefix + name
        let label = "\(fullName) = \(op)(\(inputShapes.map(shapeString).joined(separator: ", ")))"
        let origin = shared.origin, depth = depth
        shared.records.withLock { r in
            let id: Int
            if let known = r.threads[thread] { id = known } else { id = r.threads.count; r.threads[thread] = id }
            r.stats.append(NodeExecStats(nodeName: fullName, op: op, timelineLabel: label, threadID: id,
                                         allStartNanos: started &- origin, durationNanos: end &- started,
                                         inputShapes: inputShapes, outputShapes: outputShapes, outputBytes: bytes, depth: depth))
        }
    }

    /// The steps recorded so far, in the order they finished.
    var stepStats: StepStats {
        var stats = StepStats()
        stats.nodeStats = shared.records.withLock { $0.stats }
        return stats
    }
}

extension RunObserver {
    /// ``stepFinished(name:op:node:started:inputs:outputs:)`` for a step whose inputs and
    /// outputs are arrays (the reference executor, steps of dynamic shape).
    func stepFinished(_ node: KernelNode, started: UInt64, inputs: [Tensor], outputs: [Tensor]) throws {
        let optionals = outputs.map(Optional.some)
        try inputs.withUnsafeBufferPointer { i in
            try optionals.withUnsafeBufferPointer { o in
                try stepFinished(name: node.name, op: node.op, node: node, started: started, inputs: i, outputs: o)
            }
        }
    }
}
