/// A compiled program: plain data that an executor only reads.
///
/// Steps are in schedule order; every tensor is an integer-indexed ``Value`` with its
/// storage decided at compile time — a feed, a constant, a variable read, a region of the
/// run's arena, storage of its own (fetched values), or an alias of another value
/// (reshapes, identities). Each step carries its dependency count and successors for a
/// parallel executor.
public struct Plan: Sendable {
    /// Where a value lives during a run.
    public enum Storage: Sendable, Equatable {
        /// The feed at this position of ``Plan/feeds``.
        case feed(Int)
        case constant
        /// A variable's current value, read when a step consumes it.
        case variable(key: String)
        /// `bytes` at `offset` in the arena.
        case arena(offset: Int, bytes: Int)
        /// Allocated by its kernel (fetched values, which outlive the run).
        case owned
        /// The same tensor as another value (an op that forwards its input).
        case alias(of: Int)
    }

    public struct Value: Sendable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        public let storage: Storage
        /// For constants, the tensor.
        let constant: Tensor?
        /// Schedule positions of the producing step and the last consuming step (`-1`
        /// when produced before the first step; `steps.count` when fetched).
        public let firstUse: Int
        public let lastUse: Int
        /// The shape is known only when the value is computed (`shape` is then `[]`).
        public let isDynamic: Bool
    }

    /// One kernel call. A class, so that walking the steps costs one reference count
    /// each, not one per field (it matters for loop bodies run thousands of times a run).
    public final class Step: Sendable {
        public let name: String
        public let op: String
        let node: KernelNode
        let kernel: CPUKernel
        public let inputs: [Int]
        public let outputs: [Int]
        /// Which inputs name variables the kernel reaches by key (Assign's `ref`, the
        /// variable and slots of `ResourceApply*`): ``OpDef/variableTargets(_:)``.
        let variableTargets: [Bool]
        let outputShapes: [[Int]?]
        /// Arena offsets the kernel writes its outputs to (`nil`: its own storage, or a
        /// forwarded input).
        let outputOffsets: [Int?]
        /// The offsets in the parallel layout, where no two values share memory: steps
        /// that run at the same time never overwrite what another still reads.
        let parallelOutputOffsets: [Int?]
        /// For each output, the fetch whose tensor a caller may supply for the kernel to
        /// write instead of the arena (``Session/Callable/run(_:into:)``, which then copies
        /// nothing): numeric outputs placed in the arena, of a static shape, not in place of
        /// an input, fetched themselves or through a forward of the same dtype (`Identity`,
        /// `Reshape`), at their first place in the fetch list. `nil` for the rest.
        let fetchSlots: [Int?]
        /// Number of earlier steps this one waits for (data and control).
        public let dependencyCount: Int
        /// Steps that wait for this one.
        public let successors: [Int]
        /// Too little work to be worth handing to another thread.
        public let isCheap: Bool
        /// For a step whose output shapes are known only at run time: its op, whose shape
        /// function runs on the actual inputs before the kernel.
        let dynamicDefinition: OpDef?
        public var isDynamic: Bool { dynamicDefinition != nil }
        /// Values outside the arena (kernel-owned outputs, forwarded inputs) whose last
        /// reader is this step, unless fetched: a sequential run drops them after it, so
        /// their memory goes back early and a variable value a read forwarded is no longer
        /// held when a later step updates the variable in place.
        let releases: [Int]

        init(name: String, op: String, node: KernelNode, kernel: @escaping CPUKernel, inputs: [Int], outputs: [Int],
             variableTargets: [Bool], outputShapes: [[Int]?], outputOffsets: [Int?], parallelOutputOffsets: [Int?],
             fetchSlots: [Int?], dependencyCount: Int, successors: [Int], isCheap: Bool, dynamicDefinition: OpDef?, releases: [Int]) {
            self.name = name
            self.op = op
            self.node = node
            self.kernel = kernel
            self.inputs = inputs
            self.outputs = outputs
            self.variableTargets = variableTargets
            self.outputShapes = outputShapes
            self.outputOffsets = outputOffsets
            self.parallelOutputOffsets = parallelOutputOffsets
            self.fetchSlots = fetchSlots
            self.dependencyCount = dependencyCount
            self.successors = successors
            self.isCheap = isCheap
            self.dynamicDefinition = dynamicDefinition
            self.releases = releases
        }
    }

    public let steps: [Step]
    public let values: [Value]
    /// The fed outputs, in the order a run supplies them.
    public let feeds: [NodeOutput]
    /// Values returned, in fetch order.
    public let fetches: [Int]
    /// The arena size: the planned peak of intermediate tensors.
    public let arenaBytes: Int
    /// The largest total of simultaneously live intermediate bytes at any step: no
    /// placement can use less arena than this.
    public let lowerBoundBytes: Int
    /// What the intermediates would need with no reuse at all.
    public let noReuseBytes: Int
    /// The arena of the parallel executor, whose steps may run in any order their
    /// dependencies allow: values share bytes only where no such order overlaps their
    /// lifetimes (``noReuseBytes`` for plans too large to work that out).
    public let parallelArenaBytes: Int
    /// What each compiler pass did.
    public let passReports: [PassReport]
    /// Whether some steps could run at the same time (more than one is ever ready).
    public let hasParallelism: Bool

    /// Whether runs under `options` take the parallel executor (and its arena).
    func runsInParallel(_ options: SessionOptions) -> Bool { options.resolvedInterOpThreads > 1 && hasParallelism }

    /// The arena a run under `options` takes: ``parallelArenaBytes`` or ``arenaBytes``.
    public func runArenaBytes(_ options: SessionOptions) -> Int { runsInParallel(options) ? parallelArenaBytes : arenaBytes }

    /// The schedule and buffer plan, one line per step.
    public var listing: String {
        var lines = ["plan: \(steps.count) steps, arena \(arenaBytes) bytes (lower bound \(lowerBoundBytes), parallel \(parallelArenaBytes), "
                     + "no reuse \(noReuseBytes))"]
        for (i, step) in steps.enumerated() {
            let outs = step.outputs.map { v -> String in
                let value = values[v]
                let place: String
                switch value.storage {
                case .arena(let offset, let bytes): place = "arena[\(offset)..<\(offset + bytes)]"
                case .alias(let of): place = "alias of \(values[of].name)"
                case .owned: place = "own storage"
                default: place = "\(value.storage)"
                }
                return "\(value.name) \(value.dtype)\(value.isDynamic ? "[dynamic]" : shapeString(value.shape)) @ \(place)"
            }
            lines.append("  \(i): \(step.name) = \(step.op)(\(step.inputs.map { values[$0].name }.joined(separator: ", "))) → "
                         + outs.joined(separator: "; "))
        }
        return lines.joined(separator: "\n")
    }
}
