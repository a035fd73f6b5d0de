/// MatMul + BiasAdd (+ activation) → `_FusedMatMul`, TensorFlow's remapper pattern.
///
/// Contract: `act(BiasAdd(MatMul(a, b), bias))` becomes one `_FusedMatMul(a, b, bias)`
/// with `fused_ops = [BiasAdd, act]`, named like the last node it replaces, computing the
/// same values bitwise (the same GEMM, then the same bias and activation loops).
/// Guards: float32 (and float64 in plans); NHWC bias; every replaced node but the last has
/// a single consumer, is not fetched and has no control edges in or out; activations TF
/// runs fused (Relu, Relu6, Elu) in saved graphs, also Tanh and Sigmoid in plans.
struct MatMulBiasActivationFusion: CompilerPass {
    static let name = "remapper"

    func run(_ ir: IRGraph, _ context: PassContext) throws {
        let consumers = ir.consumerCounts(), fetched = ir.fetchedNodeIDs(), controlSources = ir.controlSources()
        let activations = context.forPlan ? FusedOps.activations : FusedOps.tensorFlowActivations
        func isInterior(_ node: IRNode) -> Bool {
            consumers[node.id] == 1 && !fetched.contains(node.id) && !controlSources.contains(node.id)
                && node.controlInputs.isEmpty
        }
        var replaced = Set<Int>()
        // Last nodes first, so an activation claims its BiasAdd before the BiasAdd alone could.
        for node in ir.nodes.reversed() where !replaced.contains(node.id) {
            // The pattern's last node: an activation of a BiasAdd, or a BiasAdd.
            var biasAdd = node, activation: IRNode? = nil
            if activations.contains(node.op) {
                guard node.inputs[0].node.op == "BiasAdd", isInterior(node.inputs[0].node) else { continue }
                activation = node
                biasAdd = node.inputs[0].node
            }
            guard biasAdd.op == "BiasAdd", biasAdd.string("data_format") ?? "NHWC" == "NHWC",
                  (activation == nil ? biasAdd : activation!).controlInputs.isEmpty else { continue }
            let matmul = biasAdd.inputs[0].node
            guard matmul.op == "MatMul", isInterior(matmul), matmul.inputs[0].shape.rank == 2 else { continue }
            let dtype = matmul.outputTypes[0]
            guard dtype == .float32 || (context.forPlan && dtype == .float64) else { continue }
            let last = activation ?? biasAdd
            replaced.formUnion([biasAdd.id, matmul.id])
            let fusedOps: [String] = ["BiasAdd"] + (activation.map { [$0.op] } ?? [])
            last.def = OpRegistry.lookup("_FusedMatMul")!
            last.inputs = [matmul.inputs[0], matmul.inputs[1], biasAdd.inputs[1]]
            last.attrs = [
                "T": .type(dtype), "transpose_a": matmul.attrs["transpose_a"] ?? .bool(false),
                "transpose_b": matmul.attrs["transpose_b"] ?? .bool(false), "num_args": .int(1),
                "fused_ops": .strings(fusedOps), "epsilon": .float(0.0001), "leakyrelu_alpha": .float(0.2),
            ]
        }
    }
}
