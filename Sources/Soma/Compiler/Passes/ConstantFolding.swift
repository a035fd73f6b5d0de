/// Constant folding: evaluates nodes whose inputs are all constants with the real CPU
/// kernels, and materialises shapes, sizes and ranks that the static shapes determine.
///
/// Contract: a folded node becomes a `Const` with the same name and value, so fetches by
/// name still work; shapes downstream of folded values are re-inferred on the way. Guards: never a stateful, feedable (placeholder) or variable-reading
/// node; never a node with control inputs; a multi-output node (BroadcastGradientArgs, a
/// Split of constants) only when none of its outputs is fetched — each output becomes its
/// own `Const` named `<node>/output_<k>`; never a result over
/// ``PassContext/foldingCapBytes`` — predicted from its shape and skipped, not attempted.
/// A fold whose kernel fails (e.g. integer division by zero) is left for run time, where
/// the same error names the node.
struct ConstantFolding: CompilerPass {
    static let name = "constant_folding"

    func run(_ ir: IRGraph, _ context: PassContext) throws {
        let state = SessionState()
        let chains = IdentityChains()
        let fetched = ir.fetchedNodeIDs()
        var names = Set(ir.nodes.map(\.name))
        /// Each output of a multi-output node becomes its own constant, `<node>/output_<k>`;
        /// the node itself is left for dead-node removal.
        func replaceOutputs(of node: IRNode, with values: [Tensor]) {
            for (k, value) in values.enumerated() {
                let constant = ir.insertConstant(value, named: "\(node.name)/output_\(k)", before: node, avoiding: &names)
                ir.replaceUses(of: IRValue(node, k), with: IRValue(constant, 0))
            }
        }
        for node in ir.nodes where !node.isConstant && !node.isFeed {
            // Inputs folded just before may make this node's shape exact.
            try ir.inferShapes(node, chains: chains)
            guard node.controlInputs.isEmpty else { continue }
            let traits = node.def.traits
            // Never run a loop or a branch at compile time (a loaded loop may not end), and
            // never make a constant of a TensorList (it has no GraphDef form).
            guard !traits.contains(.stateful), !traits.contains(.feedable), !traits.contains(.variable),
                  !traits.contains(.callsFunctions), !node.outputTypes.contains(.variant),
                  node.outputTypes.count == 1 || (node.outputTypes.count > 1 && !fetched.contains(node.id)) else { continue }
            // Shapes known statically fold without their input's value.
            if ["Shape", "Size", "Rank"].contains(node.op), let value = KnownValues.constant(IRValue(node, 0)) {
                node.becomeConstant(value)
                continue
            }
            if node.op == "ShapeN", !fetched.contains(node.id) {
                let values = (0..<node.outputTypes.count).compactMap { KnownValues.constant(IRValue(node, $0)) }
                if values.count == node.outputTypes.count {
                    replaceOutputs(of: node, with: values)
                    continue
                }
            }
            guard !node.inputs.isEmpty, node.inputs.allSatisfy({ $0.node.isConstant }) else { continue }
            var bytes = 0
            for (shape, dtype) in zip(node.outputShapes, node.outputTypes) {
                guard let dims = shape.concrete, let count = checkedProduct(dims),
                      count <= (context.foldingCapBytes - bytes) / dtype.byteSize else { bytes = .max; break }
                bytes += count * dtype.byteSize
            }
            guard bytes <= context.foldingCapBytes else { continue }
            let inputs = node.inputs.map { $0.node.constantValue! }
            guard let folded = try? Kernels.run(KernelNode(node), definition: node.def, inputs: inputs, state: state,
                                                maxTensorBytes: context.foldingCapBytes) else { continue }
            if folded.count == 1 {
                node.becomeConstant(try folded[0].owned())
                continue
            }
            replaceOutputs(of: node, with: try folded.map { try $0.owned() })
        }
    }
}

extension KernelNode {
    /// The kernel view of an IR node: variable inputs are those produced by a variable op
    /// (`VariableV2`, `VarHandleOp`), directly or through identities.
    init(_ node: IRNode, chains: IdentityChains = IdentityChains()) {
        self.init(name: node.name, op: node.op, attrs: node.attrs, outputTypes: node.outputTypes, location: node.location,
                  inputVariableKeys: node.inputs.map { input in
                      chains.variableSource(input).map { variableKey(name: $0.name, attrs: $0.attrs) }
                  })
        if node.op == "_SomaFusedElementwise" {
            program = try? ElementwiseProgram(attrs: node.attrs, inputCount: node.inputs.count)
        }
        if node.weightPanels { weightPanels = true }
        if node.winogradFilter { winogradTile = node.winogradTile }
    }
}

extension KernelNode {
    /// Work a plan can do once for the step instead of every run, where shapes and the
    /// deciding inputs are fixed: a StridedSlice's walk, a reduction's layout, a
    /// convolution's or pooling's geometry, a fused product's transposed layout.
    func prepared(for node: IRNode, chains: IdentityChains) -> KernelNode {
        var copy = self
        func constant(_ value: IRValue) -> Tensor? { KnownValues.constant(value, resolve: chains.resolve) }
        if node.op == "StridedSlice", let dims = node.inputs[0].shape.concrete,
           let b = constant(node.inputs[1])?.intScalars(), let e = constant(node.inputs[2])?.intScalars(),
           let s = constant(node.inputs[3])?.intScalars(),
           let spec = try? StridedSliceSpec(inputShape: dims, begin: b, end: e, strides: s, attrs: node.attrs) {
            copy.stridedRead = ArrayKernels.StridedRead(inputShape: dims, begin: spec.begin, stride: spec.stride, size: spec.size.map { $0! })
        }
        if node.op == "Slice", let dims = node.inputs[0].shape.concrete, let size = node.outputShapes[0].concrete,
           let b = constant(node.inputs[1])?.intScalars(), b.count == dims.count, size.count == dims.count,
           (0..<dims.count).allSatisfy({ b[$0] >= 0 && size[$0] >= 0 && b[$0] <= dims[$0] - size[$0] }) {
            copy.stridedRead = ArrayKernels.StridedRead(inputShape: dims, begin: b, stride: Array(repeating: 1, count: dims.count), size: size)
        }
        if ["Sum", "Mean", "Max", "Min", "Prod", "All", "Any"].contains(node.op), let dims = node.inputs[0].shape.concrete,
           let axes = constant(node.inputs[1])?.intScalars(),
           axes.allSatisfy({ $0 >= -dims.count && $0 < dims.count }) {
            copy.reductionLayout = ReductionLayout(shape: dims, axes: axes)
        }
        if node.op == "BiasAddGrad", let dims = node.inputs[0].shape.concrete, dims.count >= 2 {
            copy.reductionLayout = ReductionLayout(biasGradientOf: dims, attrs: node.attrs)
        }
        copy.convGeometry = ConvKernels.preparedGeometry(node)
        if node.op == "Einsum", let equation = node.string("equation") {
            let shapes = node.inputs.compactMap(\.shape.concrete)
            if shapes.count == node.inputs.count { copy.einsumLayout = try? EinsumLayout(equation, shapes: shapes) }
        }
        if node.op == "_SomaFusedBatchMatMul", let dims = node.outputShapes[0].concrete, let perm = node.ints("perm") {
            copy.transposedProduct = LinalgKernels.TransposedProduct(outputShape: dims, perm: perm)
        }
        return copy
    }
}
