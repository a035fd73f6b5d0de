import Foundation
import Soma

/// `optimizer`, its gradients averaged over every rank before they are applied (Horovod's
/// `DistributedOptimizer`): small gradients go through one fused allreduce per group of at
/// most `fusionThresholdBytes` (Horovod's fusion buffer, 64 MiB by default; 0: one
/// allreduce per gradient), the groups chained so that every rank runs them in the same
/// order.
///
/// ```swift
/// try MPI.initialize()
/// try model.compile(optimizer: DistributedOptimizer(wrapping: AdamOptimizer(learningRate: 0.003)), loss: …)
/// try model.fit(x: shard.features, y: shard.labels, callbacks: [BroadcastGlobalVariables(root: 0)])
/// ```
public func DistributedOptimizer<O: Optimizer>(wrapping optimizer: O, fusionThresholdBytes: Int = 64 << 20) -> O {
    optimizer.gradientAggregation = { pairs in try averagedGradients(pairs, fusionThresholdBytes: fusionThresholdBytes) }
    return optimizer
}

/// The gradients averaged over every rank, fused in groups, in a fixed order.
func averagedGradients(_ pairs: [(gradient: Output?, variable: Variable)],
                       fusionThresholdBytes: Int) throws -> [(gradient: Output?, variable: Variable)] {
    let present = pairs.indices.filter { pairs[$0].gradient != nil }
    guard let first = present.first, let graph = pairs[first].gradient?.graph else { return pairs }
    // Groups of one dtype and known size, in variable order, up to the threshold; a
    // gradient of unknown size goes alone.
    var groups: [[Int]] = []
    var bytes = 0
    for i in present {
        let g = pairs[i].gradient!
        guard let count = g.shape.elementCount else {
            groups.append([i])
            bytes = Int.max
            continue
        }
        let size = count * g.dtype.byteSize
        if let last = groups.last?.last, pairs[last].gradient!.dtype == g.dtype, bytes <= fusionThresholdBytes - size {
            groups[groups.count - 1].append(i)
            bytes += size
        } else {
            groups.append([i])
            bytes = size
        }
    }
    var result = pairs
    var previous: Node? = nil
    try graph.withNameScope("DistributedOptimizer") {
        for (k, group) in groups.enumerated() {
            let inputs = group.map { pairs[$0].gradient! }
            let reduced = try graph.withControlDependencies(previous.map { [$0] } ?? []) {
                try fusedAllreduce(inputs, average: true, name: "FusedAllreduce_\(k)")
            }
            previous = reduced.first?.node
            for (i, output) in zip(group, reduced) { result[i].gradient = output }
        }
    }
    return result
}

extension Graph {
    /// One op that sets every global variable to rank `root`'s value (`hvd.broadcast_global_variables`):
    /// run it once after initialising, so every rank starts from the same weights.
    public func broadcastGlobalVariables(root: Int = 0, name: String = "broadcast_global_variables") throws -> Node {
        var assignments: [Node] = []
        var previous: Node? = nil
        try withNameScope(name) {
            for v in variables {
                // Chained: every rank broadcasts the variables in the same order.
                let value = try withControlDependencies(previous.map { [$0] } ?? []) { try broadcast(v.value, root: root) }
                let assign = try v.assign(value)
                previous = assign.node
                assignments.append(assign.node)
            }
        }
        return try group(assignments, name: name)
    }
}

/// Broadcasts rank `root`'s initial weights to every rank when `fit` starts (Horovod's
/// `BroadcastGlobalVariablesCallback`).
public final class BroadcastGlobalVariables: Callback {
    public let root: Int
    public init(root: Int = 0) { self.root = root }

    private var op: Node?

    public func onTrainBegin(model: Model) throws {
        _ = try model.weightValues()  // initialises the weights first
        let op = try self.op ?? model.graph.broadcastGlobalVariables(root: root)
        self.op = op
        try model.session.run(target: op)
    }
}

extension Dataset {
    /// This rank's share of the examples: every `MPI.size`-th, starting at `MPI.rank`
    /// (`tf.data.Dataset.shard(num_shards, index)`), after dropping the last `count % size`
    /// examples — every rank gets as many, so every rank runs as many steps (a rank with
    /// one step more would wait for the others' collective forever).
    public func shardedForRank() throws -> Dataset {
        let even = count / MPI.size * MPI.size
        return try subset(Array(0..<even)).shard(count: MPI.size, index: MPI.rank)
    }
}
