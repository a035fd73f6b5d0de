extension Graph {
    /// The graph computing `outputs` with every variable they read replaced by a constant of
    /// its value in `session` — TF's `convert_variables_to_constants`: a deployable GraphDef
    /// with no variables, initializers, savers or training ops.
    ///
    /// Only what `outputs` need is kept (data and control inputs, minus control edges to
    /// ops that write variables). `VariableV2` and `VarHandleOp` become `Const`s of the same
    /// name; `ReadVariableOp` becomes `Identity`, `ResourceGather` a `GatherV2`. Names are
    /// kept, so `outputs` are found in the frozen graph under the same names.
    ///
    /// - Throws: `FailedPrecondition` naming an uninitialised variable; `InvalidArgument`
    ///   when an output depends on an op that writes a variable.
    public func frozen(session: Session, outputs: [Output]) throws -> Graph {
        let nodes = self.nodes
        func writesVariables(_ node: Node) -> Bool {
            node.definition.inputs.contains { $0.isRef } || node.definition.traits.contains(.writesVariables)
                || ["SaveV2", "MergeV2Checkpoints"].contains(node.op)
        }
        var needed = [Bool](repeating: false, count: nodes.count)
        var stack = outputs.map(\.node)
        while let node = stack.popLast() {
            guard !needed[node.id] else { continue }
            if writesVariables(node), !node.definition.traits.contains(.variable) {
                throw SomaError.invalidArgument("cannot freeze: the outputs depend on '\(node.name)' (op: '\(node.op)'), which writes a variable")
            }
            needed[node.id] = true
            stack += node.inputs.map(\.node)
            stack += node.controlInputs.filter { !writesVariables($0) }
        }
        let frozen = Graph()
        frozen.versions = versions
        var built: [Int: Node] = [:]
        // Nodes that passed a resource handle and now pass its frozen value: the dtype.
        var frozenHandles: [Int: DType] = [:]
        for node in nodes where needed[node.id] {
            let inputs = node.inputs.map { Output(graph: frozen, node: built[$0.node.id]!, index: $0.index) }
            let controls = node.controlInputs.compactMap { built[$0.id] }
            var op = node.op, attrs = node.attrs
            var newInputs = inputs
            if node.definition.traits.contains(.variable) {
                let key = node.variableKey
                guard let value = session.state.value(of: key) else {
                    throw SomaError.failedPrecondition("cannot freeze: variable \(node.name) is uninitialized in the session")
                }
                (op, attrs, newInputs) = ("Const", ["value": .tensor(value), "dtype": .type(value.dtype)], [])
                if node.outputTypes[0] == .resource { frozenHandles[node.id] = value.dtype }
            } else if node.op == "Identity", let source = node.inputs.first, let dtype = frozenHandles[source.node.id] {
                // A handle forwarded (into an inlined function, say) now forwards the value.
                attrs["T"] = .type(dtype)
                frozenHandles[node.id] = dtype
            } else if node.op == "ReadVariableOp" {
                (op, attrs) = ("Identity", ["T": .type(node.outputTypes[0])])
            } else if node.op == "ResourceGather" {
                let axis = try frozen.addNode(op: "Const", inputs: [], attrs: ["value": .tensor(Tensor(Int32(0))), "dtype": .type(.int32)],
                                              name: node.name + "/axis", controlInputs: [], device: node.device, uniquifyName: false)
                (op, attrs) = ("GatherV2", ["batch_dims": .int(0)])
                newInputs = inputs + [Output(graph: frozen, node: axis, index: 0)]
            }
            built[node.id] = try frozen.addNode(op: op, inputs: newInputs, attrs: attrs, name: node.name, controlInputs: controls,
                                                device: node.device, location: node.location, uniquifyName: false)
        }
        return frozen
    }
}
