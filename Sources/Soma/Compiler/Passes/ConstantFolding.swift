/// Constant folding: evaluates nodes whose inputs are all constants with the real CPU
/// kernels, and materialises shapes, sizes and ranks that the static shapes determine.
///
/// Contract: a folded node becomes a `Const` with the same name and value, so fetches by
/// name still work; shapes downstream of folded values are re-inferred on the way. Guards: never a stateful, feedable (placeholder) or variable-reading
/// node; never a node with control inputs; only single-output nodes; never a result over
/// ``PassContext/foldingCapBytes`` — predicted from its shape and skipped, not attempted.
/// A fold whose kernel fails (e.g. integer division by zero) is left for run time, where
/// the same error names the node.
struct ConstantFolding: CompilerPass {
    static let name = "constant_folding"

    func run(_ ir: IRGraph, _ context: PassContext) throws {
        let state = SessionState()
        for node in ir.nodes where !node.isConstant && !node.isFeed {
            // Inputs folded just before may make this node's shape exact.
            try ir.inferShapes(node)
            guard node.controlInputs.isEmpty else { continue }
            let traits = node.def.traits
            guard !traits.contains(.stateful), !traits.contains(.feedable), !traits.contains(.variable),
                  node.outputTypes.count == 1 else { continue }
            // Shapes known statically fold without their input's value.
            if ["Shape", "Size", "Rank"].contains(node.op), let value = KnownValues.constant(IRValue(node, 0)) {
                node.becomeConstant(value)
                continue
            }
            guard !node.inputs.isEmpty, node.inputs.allSatisfy({ $0.node.isConstant }) else { continue }
            guard let dims = node.outputShapes[0].concrete, let count = checkedProduct(dims),
                  count <= context.foldingCapBytes / node.outputTypes[0].byteSize else { continue }
            let inputs = node.inputs.map { $0.node.constantValue! }
            guard let folded = try? Kernels.run(KernelNode(node), definition: node.def, inputs: inputs, state: state,
                                                maxTensorBytes: context.foldingCapBytes) else { continue }
            node.becomeConstant(folded[0].owned())
        }
    }
}

extension KernelNode {
    /// The kernel view of an IR node: variable inputs are those produced by `VariableV2`.
    init(_ node: IRNode) {
        self.init(name: node.name, op: node.op, attrs: node.attrs, outputTypes: node.outputTypes, location: node.location,
                  inputVariableKeys: node.inputs.map {
                      $0.node.def.traits.contains(.variable) ? variableKey(name: $0.node.name, attrs: $0.node.attrs) : nil
                  })
        if node.op == "_SomaFusedElementwise" {
            program = try? ElementwiseProgram(attrs: node.attrs, inputCount: node.inputs.count)
        }
    }
}
