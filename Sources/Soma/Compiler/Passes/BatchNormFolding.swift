/// Inference batch norms and per-channel scales folded into the weights of the convolution
/// or matrix product before them (TF's graph-transform `fold_batch_norms` and
/// `fold_old_batch_norms`).
///
/// Contract: for `P(x, W)` a `Conv2D`, `DepthwiseConv2dNative` or `MatMul` (not transposing
/// `W`) with a constant `W`, optionally followed by `BiasAdd(·, b)` with a constant `b`:
/// - `Mul(P, s)` (either order), `s` a constant scalar or per-output-channel vector
///   (`[C]` or `[1, …, 1, C]`) that does not broadcast the product → `P(x, W·s)` (plus
///   `BiasAdd(·, b·s)` when there was a bias);
/// - `FusedBatchNorm`/`FusedBatchNormV3` in inference mode (`is_training` false, NHWC,
///   scale, offset, mean and variance constant, only `y` used) →
///   `BiasAdd(P(x, W·f), b·f + offset − mean·f)` with `f = scale / √(variance + ε)`.
/// The last node replaced keeps its name; the folded filter is a new constant, so a filter
/// shared with other nodes is left as it is. Guards: float32/float64; every replaced node
/// but the last has one consumer, is not fetched and has no control edges. Outputs equal
/// the unfolded graph's up to rounding (the scale multiplies the weights, not the
/// products), which is why it runs in plans only: saved graphs keep TF's exact arithmetic.
struct BatchNormFolding: CompilerPass {
    static let name = "fold_batch_norms"

    func run(_ ir: IRGraph, _ context: PassContext) throws {
        guard context.forPlan else { return }
        let consumers = ir.consumerCounts(), fetched = ir.fetchedNodeIDs(), controlSources = ir.controlSources()
        var usedOutputs = Set<IRValue>(ir.fetches)
        for node in ir.nodes { usedOutputs.formUnion(node.inputs) }
        func isInterior(_ node: IRNode) -> Bool {
            consumers[node.id] == 1 && !fetched.contains(node.id) && !controlSources.contains(node.id) && node.controlInputs.isEmpty
        }
        var names = Set(ir.nodes.map(\.name)), replaced = Set<Int>()
        for node in ir.nodes where !replaced.contains(node.id) && node.controlInputs.isEmpty {
            guard let (input, scale, shift) = foldable(node, usedOutputs: usedOutputs),
                  let chain = product(feeding: input, isInterior: isInterior), !replaced.contains(chain.product.id) else { continue }
            let dtype = chain.product.outputTypes[0], filter = chain.filter
            let channels = filter.shape.count == 4 && chain.product.op == "DepthwiseConv2dNative" ? filter.shape[2] * filter.shape[3]
                : filter.shape.last ?? 0
            guard let factors = Self.perChannel(scale, channels: channels) else { continue }
            let weights = filter.doubleScalars()
            let folded = weights.indices.map { weights[$0] * factors[$0 % channels] }
            let constant = ir.insertConstant(try Self.tensor(folded, shape: filter.shape, dtype: dtype),
                                             named: "\(chain.product.name)/folded_filter", before: chain.product, avoiding: &names)
            replaced.formUnion([node.id, chain.product.id] + (chain.biasAdd.map { [$0.id] } ?? []))
            if chain.bias == nil && shift == nil {
                // Mul(P, s) → P(x, W·s), named as the Mul.
                node.def = chain.product.def
                node.inputs = [chain.product.inputs[0], IRValue(constant, 0)]
                node.attrs = chain.product.attrs
                node.outputTypes = [dtype]
                node.outputShapes = [chain.product.outputShapes[0]]
                continue
            }
            let bias = (0..<channels).map { c in (chain.bias?[c] ?? 0) * factors[c] + (shift?[c] ?? 0) }
            let biasConstant = ir.insertConstant(try Self.tensor(bias, shape: [channels], dtype: dtype), named: "\(node.name)/folded_bias",
                                                 before: chain.product, avoiding: &names)
            chain.product.inputs[1] = IRValue(constant, 0)
            node.def = OpRegistry.lookup("BiasAdd")!
            node.inputs = [IRValue(chain.product, 0), IRValue(biasConstant, 0)]
            node.attrs = ["T": .type(dtype), "data_format": .string("NHWC")]
            node.outputTypes = [dtype]
            node.outputShapes = [chain.product.outputShapes[0]]
        }
    }

    /// What `node` does to its input if it is a foldable scale: the input, the scale
    /// (scalar or per channel) and, for a batch norm, the per-channel shift.
    private func foldable(_ node: IRNode, usedOutputs: Set<IRValue>) -> (IRValue, Tensor, [Double]?)? {
        switch node.op {
        case "Mul":
            for (p, s) in [(0, 1), (1, 0)] {
                guard let scale = KnownValues.constant(node.inputs[s]), node.outputShapes[0] == node.inputs[p].shape,
                      scale.dtype == node.outputTypes[0] else { continue }
                return (node.inputs[p], scale, nil)
            }
            return nil
        case "FusedBatchNorm", "FusedBatchNormV3":
            guard node.bool("is_training") == false, node.string("data_format") ?? "NHWC" == "NHWC",
                  (1..<node.outputTypes.count).allSatisfy({ !usedOutputs.contains(IRValue(node, $0)) }),
                  let scale = KnownValues.constant(node.inputs[1]), let offset = KnownValues.constant(node.inputs[2]),
                  let mean = KnownValues.constant(node.inputs[3]), let variance = KnownValues.constant(node.inputs[4]),
                  [offset, mean, variance].allSatisfy({ $0.shape == scale.shape }), scale.rank == 1 else { return nil }
            let epsilon = Double(node.float("epsilon") ?? 0.0001)
            let (g, b, m, v) = (scale.doubleScalars(), offset.doubleScalars(), mean.doubleScalars(), variance.doubleScalars())
            let factors = g.indices.map { g[$0] / (v[$0] + epsilon).squareRoot() }
            guard let factorTensor = try? Self.tensor(factors, shape: scale.shape, dtype: .float64) else { return nil }
            return (node.inputs[0], factorTensor, g.indices.map { b[$0] - m[$0] * factors[$0] })
        default:
            return nil
        }
    }

    /// The product (and bias) computing `value`, when its weights are constant and every node
    /// of the chain is interior.
    private func product(feeding value: IRValue, isInterior: (IRNode) -> Bool)
        -> (product: IRNode, filter: Tensor, biasAdd: IRNode?, bias: [Double]?)? {
        var node = value.node, biasAdd: IRNode? = nil, bias: [Double]? = nil
        guard value.index == 0, isInterior(node) else { return nil }
        if node.op == "BiasAdd" {
            guard node.string("data_format") ?? "NHWC" == "NHWC", let b = KnownValues.constant(node.inputs[1]),
                  node.inputs[0].index == 0, isInterior(node.inputs[0].node) else { return nil }
            (biasAdd, bias) = (node, b.doubleScalars())
            node = node.inputs[0].node
        }
        guard ["Conv2D", "DepthwiseConv2dNative", "MatMul"].contains(node.op),
              node.op != "MatMul" || node.bool("transpose_b") != true,
              node.op != "Conv2D" || node.string("data_format") ?? "NHWC" == "NHWC",
              [.float32, .float64].contains(node.outputTypes[0]),
              let filter = KnownValues.constant(node.inputs[1]), filter.dtype == node.outputTypes[0] else { return nil }
        return (node, filter, biasAdd, bias)
    }

    /// A scale as one factor per output channel: a scalar, `[C]` or `[1, …, 1, C]`.
    static func perChannel(_ scale: Tensor, channels: Int) -> [Double]? {
        guard channels > 0 else { return nil }
        let values = scale.doubleScalars()
        if values.count == 1 { return Array(repeating: values[0], count: channels) }
        guard scale.shape.last == channels, scale.shape.dropLast().allSatisfy({ $0 == 1 }) else { return nil }
        return values
    }

    static func tensor(_ values: [Double], shape: [Int], dtype: DType) throws -> Tensor {
        dtype == .float64 ? try Tensor(values, shape: shape) : try Tensor(values.map { Float($0) }, shape: shape)
    }
}
