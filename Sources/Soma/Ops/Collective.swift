/// Collective ops with Horovod's names and semantics (`HorovodAllreduce`,
/// `HorovodAllgather`, `HorovodBroadcast`, plus `_SomaFusedAllreduce`, Horovod's tensor
/// fusion as one op): what synchronous data-parallel training runs between processes.
///
/// The ops live in the core library like every other op; their kernels run on a
/// ``CollectiveBackend`` that a transport installs — `SomaDistributed`'s
/// `MPI.initialize()` (Open MPI) — so the core needs no MPI. Every rank must run the
/// same collectives in the same order (chain them with control dependencies, as
/// `DistributedOptimizer` does), on tensors of the same shape (an allgather's may differ
/// in the first dimension only): unlike Horovod's coordinator, nothing checks this at run
/// time, and MPI fails or waits — until the stall watchdog ends the job.
enum CollectiveOps {
    /// Horovod's `reduce_op` values.
    static let average = 0, sum = 1

    static let definitions: [OpDef] = [
        OpDef("HorovodAllreduce", inputs: ["tensor: T"], outputs: ["sum: T"],
              attrs: [.type("T", DType.numeric.filter { $0 != .uint8 }), .int("reduce_op", default: 1),
                      .float("prescale_factor", default: 1), .float("postscale_factor", default: 1),
                      .bool("ignore_name_scope", default: false)],
              traits: [.stateful], shape: Shapes.unchanged),
        OpDef("_SomaFusedAllreduce", inputs: ["tensors: N * T"], outputs: ["sums: N * T"],
              attrs: [.type("T", DType.numeric.filter { $0 != .uint8 }), .int("N", minimum: 1), .int("reduce_op", default: 1)],
              traits: [.stateful]) { c in (0..<c.inputCount).map(c.shape) },
        OpDef("HorovodAllgather", inputs: ["tensor: T"], outputs: ["output: T"],
              attrs: [.type("T", DType.numeric + [.bool]), .bool("ignore_name_scope", default: false)], traits: [.stateful]) { c in
            guard let dims = c.shape(0).dimensions else { return [.unknown] }
            guard !dims.isEmpty else { throw ShapeError("HorovodAllgather needs a tensor of rank 1 or more, not a scalar") }
            return [TensorShape([nil] + dims.dropFirst())]
        },
        OpDef("HorovodBroadcast", inputs: ["tensor: T"], outputs: ["output: T"],
              attrs: [.type("T", DType.numeric + [.bool]), .int("root_rank", default: 0),
                      .bool("ignore_name_scope", default: false)],
              traits: [.stateful], shape: Shapes.unchanged),
    ]

    /// Horovod's gradients: an allreduce's (fused or not) is the same allreduce of the incoming gradient;
    /// a broadcast's is the sum of every rank's gradient, kept by the root; an allgather's
    /// is this rank's rows of the summed gradient.
    static let gradients: [String: GradientFunction] = [
        "HorovodAllreduce": { c in
            let op = c.node.int("reduce_op") ?? sum
            let scale = (c.node.float("prescale_factor") ?? 1) * (c.node.float("postscale_factor") ?? 1)
            return [try allreduce(c.grad(), average: op == average, scale: scale, name: "\(c.node.name)_grad")]
        },
        "_SomaFusedAllreduce": { c in
            // Each output's gradient, reduced together as the forward pass did.
            let incoming = try (0..<c.node.outputCount).map { k in
                c.hasGrad(k) ? try c.grad(k) : try zerosLike(c.outputs[k])
            }
            return try c.graph.outputs("_SomaFusedAllreduce", incoming, attrs: ["reduce_op": .int(c.node.int("reduce_op") ?? sum)],
                                       name: "\(c.node.name)_grad", file: "", line: 0)
        },
        "HorovodBroadcast": { c in
            let summed = try allreduce(c.grad(), average: false, name: "\(c.node.name)_grad")
            let root = c.node.int("root_rank") ?? 0
            return [try Collectives.current().rank == root ? summed : multiply(summed, c.graph.constant(Tensor.scalar(0, dtype: summed.dtype)))]
        },
        "HorovodAllgather": { c in
            let g = c.graph
            let summed = try allreduce(c.grad(), average: false, name: "\(c.node.name)_grad")
            let rows = try slice(shape(c.inputs[0]), begin: [0], size: [1])
            let counts = try allgather(rows, name: "\(c.node.name)_grad_counts")
            let rank = try Collectives.current().rank
            let offset = try reduceSum(slice(counts, begin: [0], size: [rank]))
            let begin = try concat([reshape(offset, [1]), g.constant(Tensor([Int32](repeating: 0, count: max(c.inputs[0].shape.rank ?? 1, 1) - 1)))], axis: 0)
            return [try g.output("Slice", [summed, begin, shape(c.inputs[0])], name: "\(c.node.name)_grad_rows", file: "", line: 0)]
        },
    ]
}

/// What the collective ops run on: one process's view of a group of processes that run
/// the same graph. Installed with ``Collectives/install(_:)`` by a transport (`SomaDistributed`).
///
/// Results must be bitwise identical on every rank and from run to run for the same
/// inputs. Thread-safety: calls may come from any executor thread; an implementation
/// serialises them.
public protocol CollectiveBackend: AnyObject, Sendable {
    var rank: Int { get }
    var size: Int { get }
    /// Sums `count` elements of `dtype` at `buffer` over every rank, in place (divided by
    /// ``size`` when `average`).
    func allreduce(_ buffer: UnsafeMutableRawPointer, count: Int, dtype: DType, average: Bool) throws
    /// Every rank's `send` bytes, concatenated in rank order into `receive`; `byteCounts[r]`
    /// is rank r's length (from ``allgatherCounts(_:)``).
    func allgather(_ send: UnsafeRawBufferPointer, into receive: UnsafeMutableRawBufferPointer, byteCounts: [Int]) throws
    /// Every rank's `count`, in rank order.
    func allgatherCounts(_ count: Int) throws -> [Int]
    /// Root's `buffer` copied into every rank's.
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws
}

/// The process's collective backend.
public enum Collectives {
    private static let installed = Locked<(any CollectiveBackend)?>(nil)

    /// Makes `backend` the one the collective ops use (`nil` removes it).
    public static func install(_ backend: (any CollectiveBackend)?) { installed.withLock { $0 = backend } }

    /// The installed backend, if any.
    public static var backend: (any CollectiveBackend)? { installed.withLock { $0 } }

    /// Whether this process is rank 0 (or alone): the one that prints, logs and checkpoints
    /// — `fit`'s progress and the `ModelCheckpoint`, `CSVLogger` and `TensorBoard`
    /// callbacks stay quiet on the other ranks.
    public static var isRoot: Bool { (backend?.rank ?? 0) == 0 }

    /// The installed backend, or an error saying how to get one.
    static func current() throws -> any CollectiveBackend {
        guard let backend else {
            throw SomaError.failedPrecondition(
                "collective ops need a backend: call MPI.initialize() (SomaDistributed) first, under mpirun")
        }
        return backend
    }
}

/// The sum (or, with `average`, the mean) of `tensor` over every rank (`hvd.allreduce`),
/// times `scale`.
public func allreduce(_ tensor: Output, average: Bool = true, scale: Float = 1, name: String? = nil,
                      file: String = #fileID, line: Int = #line) throws -> Output {
    try tensor.graph.output("HorovodAllreduce", [tensor],
                            attrs: ["reduce_op": .int(average ? CollectiveOps.average : CollectiveOps.sum),
                                    "postscale_factor": .float(scale)],
                            name: name ?? "HorovodAllreduce", file: file, line: line)
}

/// Each rank's `tensor` concatenated along the first dimension in rank order (`hvd.allgather`).
public func allgather(_ tensor: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try tensor.graph.output("HorovodAllgather", [tensor], name: name ?? "HorovodAllgather", file: file, line: line)
}

/// Rank `root`'s `tensor` on every rank (`hvd.broadcast`).
public func broadcast(_ tensor: Output, root: Int = 0, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try tensor.graph.output("HorovodBroadcast", [tensor], attrs: ["root_rank": .int(root)], name: name ?? "HorovodBroadcast",
                            file: file, line: line)
}

/// Several tensors allreduced together through one buffer (Horovod's tensor fusion):
/// one collective instead of one per tensor.
public func fusedAllreduce(_ tensors: [Output], average: Bool = true, name: String? = nil,
                           file: String = #fileID, line: Int = #line) throws -> [Output] {
    guard let first = tensors.first else { return [] }
    return try first.graph.outputs("_SomaFusedAllreduce", tensors,
                                   attrs: ["reduce_op": .int(average ? CollectiveOps.average : CollectiveOps.sum)],
                                   name: name ?? "FusedAllreduce", file: file, line: line)
}
