/// Something that runs a graph for given feeds, fetches and targets.
///
/// The ``Session`` API stays fixed while executors behind it are replaced.
protocol Executor: Sendable {
    func run(graph: Graph, fetches: [NodeOutput], feeds: [NodeOutput: Tensor], targets: [Node],
             state: SessionState, options: SessionOptions, observer: RunObserver?) throws -> [Tensor]
}

/// The reference executor: single-threaded, runs the needed nodes in creation order,
/// inferring concrete shapes with each op's shape function before calling its kernel.
///
/// Simple on purpose: it is the oracle other executors are tested against.
struct ReferenceExecutor: Executor {
    func run(graph: Graph, fetches: [NodeOutput], feeds: [NodeOutput: Tensor], targets: [Node],
             state: SessionState, options: SessionOptions, observer: RunObserver?) throws -> [Tensor] {
        let nodes = graph.nodes
        // Prune: what the fetches and targets need, stopping at fed outputs.
        var needed = [Bool](repeating: false, count: nodes.count)
        var stack: [Node] = fetches.filter { feeds[$0] == nil }.map(\.node) + targets
        while let node = stack.popLast() {
            if needed[node.id] { continue }
            needed[node.id] = true
            for input in node.inputs where feeds[input] == nil { stack.append(input.node) }
            stack.append(contentsOf: node.controlInputs)
        }

        var values = [[Tensor]](repeating: [], count: nodes.count)
        // The variable each identity reads (through identities, stopping at feeds), filled
        // in creation order: one lookup per node however long a chain of identities is.
        var identityReads = [Node?](repeating: nil, count: nodes.count)
        /// The variable an output reads: such reads happen where the value is consumed (at
        /// a consuming node, or at the end of the run for a fetch). Fed outputs read nothing.
        func variableSource(_ endpoint: NodeOutput) -> Node? {
            guard feeds[endpoint] == nil else { return nil }
            let node = endpoint.node
            if node.definition.traits.contains(.variable) { return node }
            return node.op == "Identity" || node.op == "StopGradient" ? identityReads[node.id] : nil
        }
        func value(_ endpoint: NodeOutput, consumer: Node?, isRef: Bool) throws -> Tensor {
            if let fed = feeds[endpoint] { return fed }
            if let variable = variableSource(endpoint) {
                return try state.read(variable.variableKey, dtype: endpoint.dtype, shape: endpoint.shape.concrete, ref: isRef,
                                      reader: consumer?.name, location: variable.locationSuffix)
            }
            return values[endpoint.node.id][endpoint.index]
        }

        for node in nodes where needed[node.id] {
            if node.op == "Identity" || node.op == "StopGradient" { identityReads[node.id] = variableSource(node.inputs[0]) }
            // Variables and identities of them are read by their consumers.
            if node.outputCount > 0, variableSource(NodeOutput(node, 0)) != nil { continue }
            let refs = node.definition.expandedInputArgs(node.attrs).map(\.isRef)
            var inputs: [Tensor] = []
            inputs.reserveCapacity(node.inputs.count)
            for (k, input) in node.inputs.enumerated() {
                inputs.append(try value(input, consumer: node, isRef: refs[k]))
            }
            let kernelNode = KernelNode(node)
            let started = observer?.stepStarts() ?? 0
            values[node.id] = try Kernels.run(kernelNode, definition: node.definition, inputs: inputs, state: state,
                                              maxTensorBytes: options.maxTensorBytes)
            if let observer { try observer.stepFinished(kernelNode, started: started, inputs: inputs, outputs: values[node.id]) }
        }
        return try fetches.map { try value($0, consumer: nil, isRef: false) }
    }
}

extension OpDef {
    /// The argument each input position binds to, list arguments expanded.
    func expandedInputArgs(_ attrs: [String: AttrValue]) -> [ArgDef] {
        inputs.flatMap { arg in Array(repeating: arg, count: arg.count(in: attrs) ?? 0) }
    }

    /// For each input position: whether it names a variable the kernel reaches by key
    /// (`ctx.variableKey(ofInput:)`) rather than a value — a `Ref(T)` input, or a
    /// `resource` input of an op that ``OpTraits/writesVariables``. Executors hand such
    /// inputs over unread (``Tensor/variableTarget``) where shapes are known before the
    /// run: a value held by the kernel's own inputs would make every in-place update copy.
    func variableTargets(_ attrs: [String: AttrValue]) -> [Bool] {
        let writes = traits.contains(.writesVariables)
        return expandedInputArgs(attrs).map { $0.isRef || (writes && $0.type == .fixed(.resource)) }
    }
}
