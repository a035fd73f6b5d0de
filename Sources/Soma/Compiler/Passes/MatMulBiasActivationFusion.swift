/// MatMul + BiasAdd (+ activation) → `_FusedMatMul`, TensorFlow's remapper pattern; in
/// plans also Conv2D / DepthwiseConv2dNative + bias (+ activation) → `_SomaFusedConv2D` /
/// `_SomaFusedDepthwiseConv2dNative`, and `act(Conv2D(x, f))` with no bias into the fused form
/// with `fused_ops = [act]` and no bias argument.
///
/// Contract: `act(BiasAdd(MatMul(a, b), bias))` becomes one `_FusedMatMul(a, b, bias)`
/// with `fused_ops = [BiasAdd, act]`, named like the last node it replaces, computing the
/// same values bitwise (the same GEMM, then the same bias and activation loops). In plans,
/// `act(Conv2D(x, f) + bias)` — the bias a BiasAdd, or an AddV2 of a vector of the output's
/// channel count — becomes `_SomaFusedConv2D(x, f, bias)` the same way (a depthwise
/// convolution `_SomaFusedDepthwiseConv2dNative`), and swish on a convolution (or one plus
/// a bias), `Mul(y, Sigmoid(y))`, with `fused_ops` ending in `Swish` — bitwise the
/// `_SomaFusedElementwise` swish the two would become.
/// Also in plans, the backward pass of a ReLU before max pooling: `ReluGrad(MaxPoolGrad(y,
/// pool, g), y)` → `_SomaFusedMaxPoolGrad(y, pool, g)` with `fused_ops = [ReluGrad]`, the
/// same values bitwise, one pass over the activation fewer. And a batched product only a
/// Transpose reads, the last dimension kept last: `Transpose(BatchMatMulV2(x, y), perm)` →
/// `_SomaFusedBatchMatMul(x, y)` with `perm`, each batch's product written where the
/// Transpose would put it, bitwise.
/// Guards: float32 (and float64 in plans); NHWC bias; every replaced node but the last has
/// a single consumer, is not fetched and has no control edges in or out; activations TF
/// runs fused (Relu, Relu6, Elu) in saved graphs, also Tanh and Sigmoid in plans; the
/// ReluGrad's features exactly the pooling gradient's original input.
struct MatMulBiasActivationFusion: CompilerPass {
    static let name = "remapper"

    func run(_ ir: IRGraph, _ context: PassContext) throws {
        let consumers = ir.consumerCounts(), fetched = ir.fetchedNodeIDs(), controlSources = ir.controlSources()
        let activations = context.forPlan ? FusedOps.activations : FusedOps.tensorFlowActivations
        /// Whether `node` has exactly `readers` readers, is not fetched and has no control edges.
        func isInterior(_ node: IRNode, readers: Int) -> Bool {
            consumers[node.id] == readers && !fetched.contains(node.id) && !controlSources.contains(node.id)
                && node.controlInputs.isEmpty
        }
        func isInterior(_ node: IRNode) -> Bool { isInterior(node, readers: 1) }
        var replaced = Set<Int>()
        if context.forPlan {
            fuseSwishConvolutions(ir, isInterior: isInterior, replaced: &replaced)
            fuseConvolutions(ir, activations: activations, isInterior: isInterior, replaced: &replaced)
            fusePoolingGradients(ir, isInterior: isInterior)
            fuseTransposedProducts(ir, isInterior: isInterior)
        }
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

    /// `ReluGrad(MaxPoolGrad(y, pool, g), y)` → `_SomaFusedMaxPoolGrad(y, pool, g)`.
    private func fusePoolingGradients(_ ir: IRGraph, isInterior: (IRNode) -> Bool) {
        for node in ir.nodes where node.op == "ReluGrad" && node.controlInputs.isEmpty {
            let pooling = node.inputs[0].node
            guard pooling.op == "MaxPoolGrad", node.inputs[0].index == 0, isInterior(pooling), node.inputs[1] == pooling.inputs[0],
                  node.outputTypes[0].isFloatingPoint else { continue }
            var attrs = pooling.attrs
            attrs["fused_ops"] = .strings(["ReluGrad"])
            node.def = OpRegistry.lookup("_SomaFusedMaxPoolGrad")!
            node.inputs = pooling.inputs
            node.attrs = attrs
        }
    }

    /// `Transpose(BatchMatMulV2(x, y), perm)` with `perm` keeping the last dimension last →
    /// `_SomaFusedBatchMatMul(x, y)`, each batch's product written in its strided place: the
    /// same kernel calls, so the same bits. A `y` several batches of `x` share stays unfused
    /// (its product runs as one GEMM of all their rows).
    private func fuseTransposedProducts(_ ir: IRGraph, isInterior: (IRNode) -> Bool) {
        for node in ir.nodes where node.op == "Transpose" && node.controlInputs.isEmpty {
            let product = node.inputs[0].node
            guard product.op == "BatchMatMulV2", node.inputs[0].index == 0, isInterior(product), product.outputTypes[0].isFloatingPoint,
                  let perm = KnownValues.constant(node.inputs[1])?.intScalars(), let rank = product.outputShapes[0].rank,
                  LinalgKernels.TransposedProduct.ordersKeepingLast(perm, rank: rank), perm != Array(0..<rank),
                  let x = product.inputs[0].shape.dimensions, let y = product.inputs[1].shape.dimensions else { continue }
            // A shared `y` with several batches of `x` runs as one GEMM of all their rows.
            let yShared = y.dropLast(2).allSatisfy { $0 == 1 }, oneBatch = x.dropLast(2).allSatisfy { $0 == 1 }
            guard !yShared || oneBatch || product.bool("adj_x") == true else { continue }
            node.def = OpRegistry.lookup("_SomaFusedBatchMatMul")!
            node.inputs = product.inputs
            node.attrs = ["T": .type(product.outputTypes[0]), "adj_x": product.attrs["adj_x"] ?? .bool(false),
                          "adj_y": product.attrs["adj_y"] ?? .bool(false), "perm": .ints(perm), "fused_ops": .strings(["Transpose"])]
        }
    }

    /// Each convolution and its fused form.
    static let fusedConvolutions = ["Conv2D": "_SomaFusedConv2D", "DepthwiseConv2dNative": "_SomaFusedDepthwiseConv2dNative"]

    /// `Mul(y, Sigmoid(y))` (operands in either order; EfficientNet's swish) where `y` is a
    /// convolution or a convolution plus bias that only the two read → the fused convolution
    /// with `fused_ops = [FusedOps.swish]` (`[BiasAdd, FusedOps.swish]`), named like the Mul.
    private func fuseSwishConvolutions(_ ir: IRGraph, isInterior: (IRNode, Int) -> Bool, replaced: inout Set<Int>) {
        for node in ir.nodes.reversed() where node.op == "Mul" && !replaced.contains(node.id) && node.controlInputs.isEmpty {
            for (s, v) in [(0, 1), (1, 0)] {
                let sigmoid = node.inputs[s].node, y = node.inputs[v], producer = y.node
                // y is read by the Sigmoid and the Mul alone, and is otherwise interior.
                guard node.inputs[s].index == 0, sigmoid.op == "Sigmoid", sigmoid.inputs[0] == y, isInterior(sigmoid, 1), y.index == 0,
                      isInterior(producer, 2), !replaced.contains(producer.id), producer.outputTypes[0].isFloatingPoint
                else { continue }
                if Self.fusedConvolutions[producer.op] != nil {
                    replaced.formUnion([producer.id, sigmoid.id])
                    Self.fuse(node, producer, bias: nil, [FusedOps.swish])
                    break
                }
                guard let (conv, bias) = Self.convolutionAndBias(producer), isInterior(conv, 1), !replaced.contains(conv.id),
                      conv.outputTypes[0] == bias.dtype else { continue }
                replaced.formUnion([producer.id, conv.id, sigmoid.id])
                Self.fuse(node, conv, bias: bias, ["BiasAdd", FusedOps.swish])
                break
            }
        }
    }

    /// The convolution and bias of a bias addition on a convolution's output, if it is one.
    private static func convolutionAndBias(_ add: IRNode) -> (conv: IRNode, bias: IRValue)? {
        switch add.op {
        case "BiasAdd":
            guard add.string("data_format") ?? "NHWC" == "NHWC", fusedConvolutions[add.inputs[0].node.op] != nil else { return nil }
            return (add.inputs[0].node, add.inputs[1])
        case "AddV2", "Add":
            for (c, b) in [(0, 1), (1, 0)] where fusedConvolutions[add.inputs[c].node.op] != nil && add.inputs[c].index == 0 {
                let channels = add.inputs[c].shape.dimensions?.last ?? nil
                guard let channels, add.inputs[b].shape == TensorShape([channels]), add.outputShapes[0] == add.inputs[c].shape else {
                    continue
                }
                return (add.inputs[c].node, add.inputs[b])
            }
            return nil
        default: return nil
        }
    }

    /// `last` becomes `conv`'s fused form with `bias` (if any) and `fused_ops`.
    private static func fuse(_ last: IRNode, _ conv: IRNode, bias: IRValue?, _ fusedOps: [String]) {
        var attrs = conv.attrs
        attrs["fused_ops"] = .strings(fusedOps)
        attrs["num_args"] = .int(bias == nil ? 0 : 1)
        last.def = OpRegistry.lookup(fusedConvolutions[conv.op]!)!
        last.inputs = [conv.inputs[0], conv.inputs[1]] + (bias.map { [$0] } ?? [])
        last.attrs = attrs
    }

    /// `act(Conv2D(x, f) ⊕ bias)` → `_SomaFusedConv2D(x, f, bias)`, where ⊕ is BiasAdd or an
    /// AddV2/Add with a vector of the output's channel count.
    private func fuseConvolutions(_ ir: IRGraph, activations: [String], isInterior: (IRNode) -> Bool, replaced: inout Set<Int>) {
        let split = Self.convolutionAndBias
        for node in ir.nodes.reversed() where !replaced.contains(node.id) {
            var add = node, activation: IRNode? = nil
            if activations.contains(node.op), isInterior(node.inputs[0].node), split(node.inputs[0].node) != nil {
                activation = node
                add = node.inputs[0].node
            }
            guard let (conv, bias) = split(add) else {
                // act(Conv2D(x, f)) with no bias: a batch norm folded into the filter with a zero shift.
                let conv = node.inputs.first?.node
                guard activations.contains(node.op), let conv, node.inputs[0].index == 0, Self.fusedConvolutions[conv.op] != nil,
                      !replaced.contains(conv.id), isInterior(conv), node.controlInputs.isEmpty, conv.outputTypes[0].isFloatingPoint
                else { continue }
                replaced.insert(conv.id)
                Self.fuse(node, conv, bias: nil, [node.op])
                continue
            }
            guard !replaced.contains(add.id), isInterior(conv), add.controlInputs.isEmpty, node.controlInputs.isEmpty,
                  conv.outputTypes[0].isFloatingPoint, conv.outputTypes[0] == bias.dtype else { continue }
            replaced.formUnion([add.id, conv.id])
            Self.fuse(activation ?? add, conv, bias: bias, ["BiasAdd"] + (activation.map { [$0.op] } ?? []))
        }
    }
}
