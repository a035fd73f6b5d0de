/// Activations, softmax and bias addition (TF's `nn_ops`).
enum NNOps {
    static func activation(_ name: String, input: String = "features", output: String = "activations",
                           extra: [AttrDef] = []) -> OpDef {
        OpDef(name, inputs: ["\(input): T"], outputs: ["\(output): T"],
              attrs: [.type("T", DType.floatingPoint)] + extra, traits: .elementwise, shape: Shapes.unchanged)
    }

    /// Softmax-like ops normalise over the last axis of a tensor of rank ≥ 1.
    static func softmaxLike(_ name: String, output: String) -> OpDef {
        OpDef(name, inputs: ["logits: T"], outputs: ["\(output): T"], attrs: [.type("T", DType.floatingPoint)]) { c in
            try c.withRankAtLeast(0, 1)
            return [c.shape(0)]
        }
    }

    /// `backprops = f(gradients, other)` elementwise: an activation's gradient from the
    /// incoming gradient and the activation's input (`features`) or output (`outputs`).
    static func activationGradient(_ name: String, second: String = "features", types: [DType] = DType.floatingPoint,
                                   extra: [AttrDef] = []) -> OpDef {
        OpDef(name, inputs: ["gradients: T", "\(second): T"], outputs: ["backprops: T"], attrs: [.type("T", types)] + extra,
              traits: .elementwise, gradient: .notDifferentiable, shape: Shapes.broadcast)
    }

    /// Row-wise softmax cross-entropy: `[batch, classes]` logits → loss `[batch]` and its
    /// gradient `[batch, classes]`.
    static func crossEntropyShapes(_ c: ShapeContext, sparse: Bool) throws -> [TensorShape] {
        let logits = try c.withRank(0, 2)
        var batch = logits?[0] ?? nil
        if sparse {
            let labels = try c.withRank(1, 1)
            batch = try mergeDim(batch, labels?[0] ?? nil)
        } else if let labels = try c.withRank(1, 2) {
            batch = try mergeDim(batch, labels[0])
            _ = try mergeDim(logits?[1] ?? nil, labels[1])
        }
        return [TensorShape([batch]), TensorShape([batch, logits?[1] ?? nil])]
    }

    static let gradientOps: [OpDef] = [
        activationGradient("ReluGrad", types: DType.numeric),
        activationGradient("Relu6Grad", types: DType.numeric),
        activationGradient("LeakyReluGrad", extra: [.float("alpha", default: 0.2)]),
        activationGradient("EluGrad", second: "outputs"),
        activationGradient("SeluGrad", second: "outputs"),
        activationGradient("SoftplusGrad"),
        activationGradient("SoftsignGrad"),
        OpDef("BiasAddGrad", inputs: ["out_backprop: T"], outputs: ["output: T"],
              attrs: [.type("T", DType.numeric), .string("data_format", default: "NHWC", allowed: ["NHWC", "NCHW"])],
              gradient: .notDifferentiable) { c in
            let nchw = c.string("data_format") == "NCHW"
            guard let dims = try c.withRankAtLeast(0, nchw ? 3 : 2) else { return [.unknown(rank: 1)] }
            return [TensorShape([dims[nchw ? 1 : dims.count - 1]])]
        },
        OpDef("SoftmaxCrossEntropyWithLogits", inputs: ["features: T", "labels: T"], outputs: ["loss: T", "backprop: T"],
              attrs: [.type("T", DType.floatingPoint)]) { c in try crossEntropyShapes(c, sparse: false) },
        OpDef("SparseSoftmaxCrossEntropyWithLogits", inputs: ["features: T", "labels: Tlabels"],
              outputs: ["loss: T", "backprop: T"],
              attrs: [.type("T", DType.floatingPoint), .type("Tlabels", DType.indices, default: .int64)]) { c in
            try crossEntropyShapes(c, sparse: true)
        },
    ]

    static let definitions: [OpDef] = gradientOps + [
        OpDef("Relu", inputs: ["features: T"], outputs: ["activations: T"], attrs: [.type("T", DType.numeric)],
              traits: .elementwise, shape: Shapes.unchanged),
        OpDef("Relu6", inputs: ["features: T"], outputs: ["activations: T"], attrs: [.type("T", DType.numeric)],
              traits: .elementwise, shape: Shapes.unchanged),
        activation("LeakyRelu", extra: [.float("alpha", default: 0.2)]),
        activation("Elu"),
        activation("Selu"),
        activation("Softplus"),
        activation("Softsign"),
        activation("Sigmoid", input: "x", output: "y"),
        activation("Tanh", input: "x", output: "y"),
        softmaxLike("Softmax", output: "softmax"),
        softmaxLike("LogSoftmax", output: "logsoftmax"),
        // value [..., C] + bias [C] (NHWC), or value [N, C, ...] + bias [C] (NCHW).
        // Elementwise after the bias's broadcast: the planner may write the output over the
        // value where the value dies here (a transposed convolution's bias, unfused).
        OpDef("BiasAdd", inputs: ["value: T", "bias: T"], outputs: ["output: T"],
              attrs: [.type("T", DType.numeric), .string("data_format", default: "NHWC", allowed: ["NHWC", "NCHW"])],
              traits: .elementwise) { c in
            let nchw = c.string("data_format") == "NCHW"
            try c.withRank(1, 1)
            guard var dims = try c.withRankAtLeast(0, nchw ? 3 : 2) else { return [.unknown] }
            let channel = nchw ? 1 : dims.count - 1
            dims[channel] = try mergeDim(dims[channel], c.shape(1)[0] ?? nil)
            return [TensorShape(dims)]
        },
    ]
}

extension NNOps {
    private static func op(_ c: GradientContext, _ name: String, _ inputs: [Output], _ attrs: [String: AttrValue] = [:]) throws -> Output {
        try c.graph.output(name, inputs, attrs: attrs, name: name, file: "", line: 0)
    }

    /// Gradients, with TF's gradient ops (`nn_grad.py`).
    static let gradients: [String: GradientFunction] = [
        "Relu": { c in [try op(c, "ReluGrad", [c.grad(), c.outputs[0]])] },
        "Relu6": { c in [try op(c, "Relu6Grad", [c.grad(), c.inputs[0]])] },
        "LeakyRelu": { c in [try op(c, "LeakyReluGrad", [c.grad(), c.inputs[0]], ["alpha": c.attrs["alpha"] ?? .float(0.2)])] },
        "Elu": { c in [try op(c, "EluGrad", [c.grad(), c.outputs[0]])] },
        "Selu": { c in [try op(c, "SeluGrad", [c.grad(), c.outputs[0]])] },
        "Softplus": { c in [try op(c, "SoftplusGrad", [c.grad(), c.inputs[0]])] },
        "Softsign": { c in [try op(c, "SoftsignGrad", [c.grad(), c.inputs[0]])] },
        "Sigmoid": { c in [try op(c, "SigmoidGrad", [c.outputs[0], c.grad()])] },
        "Tanh": { c in [try op(c, "TanhGrad", [c.outputs[0], c.grad()])] },
        "Softmax": { c in
            let g = try c.grad(), y = c.outputs[0]
            return [try multiply(subtract(g, reduceSum(multiply(g, y), axis: [-1], keepDims: true)), y)]
        },
        "LogSoftmax": { c in
            let g = try c.grad()
            return [try subtract(g, multiply(reduceSum(g, axis: [-1], keepDims: true), exp(c.outputs[0])))]
        },
        "BiasAdd": { c in
            let g = try c.grad()
            return [g, try op(c, "BiasAddGrad", [g], ["data_format": c.attrs["data_format"] ?? .string("NHWC")])]
        },
        "SoftmaxCrossEntropyWithLogits": { c in
            // d loss / d logits = backprop · grad_loss; d loss / d labels = −log_softmax · grad_loss.
            let g = try expandDims(c.grad(0), axis: -1)
            return [try multiply(g, c.outputs[1]), try multiply(g, negative(logSoftmax(c.inputs[0])))]
        },
        "SparseSoftmaxCrossEntropyWithLogits": { c in
            [try multiply(expandDims(c.grad(0), axis: -1), c.outputs[1]), nil]
        },
    ]
}

// MARK: - Builders

@inline(__always)
private func act(_ op: String, _ x: Output, _ attrs: [String: AttrValue] = [:], _ name: String?, _ file: String, _ line: Int) throws -> Output {
    try x.graph.output(op, [x], attrs: attrs, name: name, file: file, line: line)
}

/// `max(x, 0)` (`Relu`).
public func relu(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try act("Relu", x, [:], name, file, line)
}
/// `min(max(x, 0), 6)` (`Relu6`).
public func relu6(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try act("Relu6", x, [:], name, file, line)
}
/// `x` for `x ≥ 0`, else `alpha·x` (`LeakyRelu`).
public func leakyRelu(_ x: Output, alpha: Float = 0.2, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try act("LeakyRelu", x, ["alpha": .float(alpha)], name, file, line)
}
/// `x` for `x > 0`, else `eˣ − 1` (`Elu`).
public func elu(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try act("Elu", x, [:], name, file, line)
}
/// `scale·elu(x, alpha)` with the self-normalising constants (`Selu`).
public func selu(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try act("Selu", x, [:], name, file, line)
}
/// `ln(1 + eˣ)` (`Softplus`).
public func softplus(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try act("Softplus", x, [:], name, file, line)
}
/// `x / (1 + |x|)` (`Softsign`).
public func softsign(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try act("Softsign", x, [:], name, file, line)
}
/// `1 / (1 + e⁻ˣ)` (`Sigmoid`).
public func sigmoid(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try act("Sigmoid", x, [:], name, file, line)
}
/// Hyperbolic tangent (`Tanh`).
public func tanh(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try act("Tanh", x, [:], name, file, line)
}
/// `eˣ / Σ eˣ` over the last axis (`Softmax`).
public func softmax(_ logits: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try act("Softmax", logits, [:], name, file, line)
}
/// `x − ln Σ eˣ` over the last axis (`LogSoftmax`).
public func logSoftmax(_ logits: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try act("LogSoftmax", logits, [:], name, file, line)
}

/// `value + bias` along the channel axis (`BiasAdd`): `[..., C] + [C] → [..., C]`.
public func biasAdd(_ value: Output, _ bias: Output, dataFormat: String = "NHWC", name: String? = nil,
                    file: String = #fileID, line: Int = #line) throws -> Output {
    try value.graph.output("BiasAdd", [value, bias], attrs: ["data_format": .string(dataFormat)], name: name,
                           file: file, line: line)
}

/// The classic *step* (Heaviside) activation: `1` for `x ≥ 0`, else `0`, in `x`'s dtype —
/// built as `Cast(GreaterEqual(x, 0))`.
public func step(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try x.graph.withNameScope(name ?? "step") {
        let zero = try x.graph.constant(Tensor.scalar(0, dtype: x.dtype), name: "zero", file: file, line: line)
        let positive = try greaterEqual(x, zero, file: file, line: line)
        return try cast(positive, to: x.dtype, file: file, line: line)
    }
}

/// GELU, `x·Φ(x)` (TF's `tf.nn.gelu`), as a composite built as TF builds it: exact
/// `0.5·x·erfc(−x/√2)`, or with `approximate` the tanh form
/// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
public func gelu(_ x: Output, approximate: Bool = false, name: String? = nil,
                 file: String = #fileID, line: Int = #line) throws -> Output {
    let g = x.graph
    return try g.withNameScope(name ?? "Gelu") {
        func c(_ v: Double) throws -> Output { try g.constant(Tensor.scalar(v, dtype: x.dtype), file: file, line: line) }
        if approximate {
            let cube = try multiply(try multiply(x, x, file: file, line: line), x, file: file, line: line)
            let poly = try add(x, try multiply(try c(0.044715), cube, file: file, line: line), file: file, line: line)
            let inner = try tanh(try multiply(try c((2.0 / Double.pi).squareRoot()), poly, file: file, line: line), file: file, line: line)
            let half = try multiply(try c(0.5), x, file: file, line: line)
            return try multiply(half, try add(try c(1), inner, file: file, line: line), file: file, line: line)
        }
        let scaled = try multiply(try negative(x, file: file, line: line), try c(1.0 / 2.0.squareRoot()), file: file, line: line)
        return try multiply(try multiply(try c(0.5), x, file: file, line: line), try erfc(scaled, file: file, line: line),
                            file: file, line: line)
    }
}

/// SiLU / swish, `x·sigmoid(x)` (TF's `tf.nn.silu`), as a composite.
public func silu(_ x: Output, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try x.graph.withNameScope(name ?? "silu") {
        try multiply(x, try sigmoid(x, file: file, line: line), file: file, line: line)
    }
}
