/// Convolution and pooling over NHWC images (TF's `nn_ops`): Conv2D with its two
/// backprops (also the transposed convolution), MaxPool and AvgPool with their gradients.
enum ConvOps {
    static let windowAttrs: [AttrDef] = [
        .ints("strides"), .string("padding", allowed: ["SAME", "VALID", "EXPLICIT"]), .ints("explicit_paddings", default: []),
        .string("data_format", default: "NHWC", allowed: ["NHWC"]), .ints("dilations", default: [1, 1, 1, 1]),
    ]
    static let convAttrs: [AttrDef] = [.type("T", DType.floatingPoint), .bool("use_cudnn_on_gpu", default: true)] + windowAttrs
    /// TF's FusedBatchNormV3 attributes; T is float32 as in TF (float64 is a Soma extension,
    /// for gradient checks), U the statistics' type.
    static let batchNormAttrs: [AttrDef] = [
        .type("T", DType.floatingPoint), .type("U", DType.floatingPoint), .float("epsilon", default: 0.0001),
        .string("data_format", default: "NHWC", allowed: ["NHWC"]), .bool("is_training", default: true),
    ]
    static let depthwiseAttrs: [AttrDef] = [.type("T", DType.floatingPoint)] + windowAttrs
    static let poolAttrs: [AttrDef] = [
        .type("T", DType.floatingPoint), .ints("ksize"), .ints("strides"), .string("padding", allowed: ["SAME", "VALID"]),
        .string("data_format", default: "NHWC", allowed: ["NHWC"]),
    ]

    static let definitions: [OpDef] = [
        // [N, H, W, C] ⊛ [KH, KW, C, OC] → [N, OH, OW, OC].
        OpDef("Conv2D", inputs: ["input: T", "filter: T"], outputs: ["output: T"], attrs: convAttrs) { c in
            let input = try c.withRank(0, 4), filter = try c.withRank(1, 4)
            try requireNonEmptyFilter(filter)
            let window = try Window(c, kernel: filter.map { [$0[0], $0[1]] } ?? [nil, nil])
            var channels = input?[3] ?? nil
            if let inC = channels, let fC = filter?[2] ?? nil {
                guard fC > 0, inC == fC else {
                    throw ShapeError("Depth of input (\(inC)) does not match the input depth of filter (\(fC))")
                }
                channels = inC
            }
            _ = channels
            let (oh, ow) = try window.output(input?[1] ?? nil, input?[2] ?? nil)
            return [TensorShape([input?[0] ?? nil, oh, ow, filter?[3] ?? nil])]
        },
        // The gradient of Conv2D for its input (and the transposed convolution).
        OpDef("Conv2DBackpropInput", inputs: ["input_sizes: int32", "filter: T", "out_backprop: T"], outputs: ["output: T"],
              attrs: convAttrs) { c in
            try c.withRank(1, 4)
            try c.withRank(2, 4)
            let shape = try c.shapeFromInput(0)
            guard shape.rank == nil || shape.rank == 4 else { throw ShapeError("input_sizes must have 4 elements, got \(shape)") }
            return [shape]
        },
        // The gradient of Conv2D for its filter.
        OpDef("Conv2DBackpropFilter", inputs: ["input: T", "filter_sizes: int32", "out_backprop: T"], outputs: ["output: T"],
              attrs: convAttrs) { c in
            try c.withRank(0, 4)
            try c.withRank(2, 4)
            let shape = try c.shapeFromInput(1)
            guard shape.rank == nil || shape.rank == 4 else { throw ShapeError("filter_sizes must have 4 elements, got \(shape)") }
            return [shape]
        },
        // Depthwise: [N, H, W, C] ⊛ [KH, KW, C, M] → [N, OH, OW, C·M], each input channel with
        // its own M filters.
        OpDef("DepthwiseConv2dNative", inputs: ["input: T", "filter: T"], outputs: ["output: T"], attrs: depthwiseAttrs) { c in
            let input = try c.withRank(0, 4), filter = try c.withRank(1, 4)
            if let inC = input?[3] ?? nil, let fC = filter?[2] ?? nil, inC != fC {
                throw ShapeError("input and filter must have the same depth: \(inC) vs \(fC)")
            }
            try requireNonEmptyFilter(filter)
            let window = try Window(c, kernel: filter.map { [$0[0], $0[1]] } ?? [nil, nil])
            let (oh, ow) = try window.output(input?[1] ?? nil, input?[2] ?? nil)
            let channels = try (input?[3] ?? filter?[2] ?? nil).flatMap { inC in try (filter?[3] ?? nil).map { try multiplyDims(inC, $0) } }
            return [TensorShape([input?[0] ?? nil, oh, ow, channels])]
        },
        OpDef("DepthwiseConv2dNativeBackpropInput", inputs: ["input_sizes: int32", "filter: T", "out_backprop: T"],
              outputs: ["output: T"], attrs: depthwiseAttrs) { c in
            try c.withRank(1, 4)
            try c.withRank(2, 4)
            return [try c.shapeFromInput(0)]
        },
        OpDef("DepthwiseConv2dNativeBackpropFilter", inputs: ["input: T", "filter_sizes: int32", "out_backprop: T"],
              outputs: ["output: T"], attrs: depthwiseAttrs) { c in
            try c.withRank(0, 4)
            try c.withRank(2, 4)
            return [try c.shapeFromInput(1)]
        },
        // Batch normalisation over N, H, W per channel C (NHWC): training mode normalises by
        // the batch's statistics (and outputs them, the variance Bessel-corrected, blended
        // into `mean`/`variance` by exponential_avg_factor); inference uses `mean`/`variance`.
        OpDef("FusedBatchNormV3", inputs: ["x: T", "scale: U", "offset: U", "mean: U", "variance: U"],
              outputs: ["y: T", "batch_mean: U", "batch_variance: U", "reserve_space_1: U", "reserve_space_2: U", "reserve_space_3: U"],
              attrs: batchNormAttrs + [.float("exponential_avg_factor", default: 1)]) { c in
            let x = try c.withRank(0, 4)
            var channels = x?[3] ?? nil
            // In training with no averaging, mean and variance are unused (TF feeds empty ones).
            var factor: Float = 1
            if case .float(let f)? = c.attrs["exponential_avg_factor"] { factor = f }
            let usesStatistics = !c.bool("is_training") || factor != 1
            for i in 1...(usesStatistics ? 4 : 2) {
                let v = try c.withRank(i, 1)
                channels = try mergeDim(channels, v?[0] ?? nil)
            }
            let vector = TensorShape([channels])
            return [c.shape(0), vector, vector, vector, vector, TensorShape([0])]
        },
        // FusedBatchNormV3's gradient: x, scale and offset gradients from the saved statistics.
        OpDef("FusedBatchNormGradV3",
              inputs: ["y_backprop: T", "x: T", "scale: U", "reserve_space_1: U", "reserve_space_2: U", "reserve_space_3: U"],
              outputs: ["x_backprop: T", "scale_backprop: U", "offset_backprop: U", "reserve_space_4: U", "reserve_space_5: U"],
              attrs: batchNormAttrs, gradient: .undefined) { c in
            try c.withRank(0, 4)
            let x = try c.withRank(1, 4)
            guard c.shape(0).isCompatible(with: c.shape(1)) else {
                throw ShapeError("y_backprop \(c.shape(0)) and x \(c.shape(1)) must have the same shape")
            }
            // scale and the saved mean and variance: one value per channel.
            var channels = x?[3] ?? nil
            for i in 2...4 {
                let v = try c.withRank(i, 1)
                channels = try mergeDim(channels, v?[0] ?? nil)
            }
            let vector = TensorShape([channels])
            return [c.shape(1), vector, vector, TensorShape([0]), TensorShape([0])]
        },
        OpDef("MaxPool", inputs: ["input: T"], outputs: ["output: T"], attrs: poolAttrs) { c in [try poolShape(c)] },
        OpDef("AvgPool", inputs: ["value: T"], outputs: ["output: T"], attrs: poolAttrs) { c in [try poolShape(c)] },
        // Second-order gradients of pooling (TF's MaxPoolGradGrad) are not written: an error if reached.
        OpDef("MaxPoolGrad", inputs: ["orig_input: T", "orig_output: T", "grad: T"], outputs: ["output: T"], attrs: poolAttrs,
              gradient: .undefined) { c in
            try c.withRank(0, 4)
            return [c.shape(0)]
        },
        OpDef("AvgPoolGrad", inputs: ["orig_input_shape: int32", "grad: T"], outputs: ["output: T"], attrs: poolAttrs,
              gradient: .undefined) { c in
            try c.withRank(1, 4)
            return [try c.shapeFromInput(0)]
        },
    ]

    static func poolShape(_ c: ShapeContext) throws -> TensorShape {
        let input = try c.withRank(0, 4)
        let ksize = c.ints("ksize")
        guard ksize.count == 4 else { throw ShapeError("Sliding window ksize field must specify 4 dimensions") }
        guard ksize[0] == 1, ksize[3] == 1 else {
            throw ShapeError("Pooling is not yet supported on the batch dimension.")
        }
        let window = try Window(c, kernel: [ksize[1], ksize[2]], pooling: true)
        let (oh, ow) = try window.output(input?[1] ?? nil, input?[2] ?? nil)
        return TensorShape([input?[0] ?? nil, oh, ow, input?[3] ?? nil])
    }

    /// Gradients (TF's `nn_grad.py`).
    static let gradients: [String: GradientFunction] = [
        "Conv2D": { c in
            let attrs = c.attrs
            return [try c.graph.output("Conv2DBackpropInput", [shape(c.inputs[0]), c.inputs[1], c.grad()], attrs: attrs,
                                       name: "Conv2DBackpropInput", file: "", line: 0),
                    try c.graph.output("Conv2DBackpropFilter", [c.inputs[0], shape(c.inputs[1]), c.grad()], attrs: attrs,
                                       name: "Conv2DBackpropFilter", file: "", line: 0)]
        },
        "Conv2DBackpropInput": { c in
            let attrs = c.attrs
            return [nil,
                    try c.graph.output("Conv2DBackpropFilter", [c.grad(), shape(c.inputs[1]), c.inputs[2]], attrs: attrs,
                                       name: "Conv2DBackpropFilter", file: "", line: 0),
                    try c.graph.output("Conv2D", [c.grad(), c.inputs[1]], attrs: attrs, name: "Conv2D", file: "", line: 0)]
        },
        "Conv2DBackpropFilter": { c in
            let attrs = c.attrs
            return [try c.graph.output("Conv2DBackpropInput", [shape(c.inputs[0]), c.grad(), c.inputs[2]], attrs: attrs,
                                       name: "Conv2DBackpropInput", file: "", line: 0),
                    nil,
                    try c.graph.output("Conv2D", [c.inputs[0], c.grad()], attrs: attrs, name: "Conv2D", file: "", line: 0)]
        },
        "DepthwiseConv2dNative": { c in
            [try c.graph.output("DepthwiseConv2dNativeBackpropInput", [shape(c.inputs[0]), c.inputs[1], c.grad()], attrs: c.attrs,
                                name: "DepthwiseConv2dNativeBackpropInput", file: "", line: 0),
             try c.graph.output("DepthwiseConv2dNativeBackpropFilter", [c.inputs[0], shape(c.inputs[1]), c.grad()], attrs: c.attrs,
                                name: "DepthwiseConv2dNativeBackpropFilter", file: "", line: 0)]
        },
        "DepthwiseConv2dNativeBackpropInput": { c in
            [nil,
             try c.graph.output("DepthwiseConv2dNativeBackpropFilter", [c.grad(), shape(c.inputs[1]), c.inputs[2]], attrs: c.attrs,
                                name: "DepthwiseConv2dNativeBackpropFilter", file: "", line: 0),
             try c.graph.output("DepthwiseConv2dNative", [c.grad(), c.inputs[1]], attrs: c.attrs, name: "DepthwiseConv2dNative",
                                file: "", line: 0)]
        },
        "DepthwiseConv2dNativeBackpropFilter": { c in
            [try c.graph.output("DepthwiseConv2dNativeBackpropInput", [shape(c.inputs[0]), c.grad(), c.inputs[2]], attrs: c.attrs,
                                name: "DepthwiseConv2dNativeBackpropInput", file: "", line: 0),
             nil,
             try c.graph.output("DepthwiseConv2dNative", [c.inputs[0], c.grad()], attrs: c.attrs, name: "DepthwiseConv2dNative",
                                file: "", line: 0)]
        },
        "FusedBatchNormV3": { c in
            var attrs = c.attrs
            attrs["exponential_avg_factor"] = nil
            let training = c.node.bool("is_training") ?? true
            // Inference differentiates through the given statistics (TF passes mean/variance).
            let saved = training ? [c.outputs[3], c.outputs[4], c.outputs[5]] : [c.inputs[3], c.inputs[4], c.outputs[5]]
            let grads = try c.graph.outputs("FusedBatchNormGradV3", [c.grad(0), c.inputs[0], c.inputs[1]] + saved, attrs: attrs,
                                            name: "FusedBatchNormGradV3", file: "", line: 0)
            return [grads[0], grads[1], grads[2], nil, nil]
        },
        "MaxPool": { c in
            [try c.graph.output("MaxPoolGrad", [c.inputs[0], c.outputs[0], c.grad()], attrs: c.attrs, name: "MaxPoolGrad",
                                file: "", line: 0)]
        },
        "AvgPool": { c in
            [try c.graph.output("AvgPoolGrad", [shape(c.inputs[0]), c.grad()], attrs: c.attrs, name: "AvgPoolGrad", file: "", line: 0)]
        },
    ]
}

/// A sliding window's geometry over H and W: kernel, strides, dilations and padding, with
/// TF's validation and wording; output sizes and leading pads from input sizes.
/// TF's convolution kernels refuse an empty filter (zero output channels, a zero-sized
/// window): "filter must not have zero elements".
func requireNonEmptyFilter(_ filter: [Int?]?) throws {
    guard let filter, filter.contains(where: { $0 == 0 }) else { return }
    throw ShapeError("filter must not have zero elements (i.e. all dimensions must be non-zero)")
}

struct Window: Sendable {
    let kernel: [Int?]
    let strides: [Int]
    let dilations: [Int]
    let padding: String
    /// For EXPLICIT: [top, bottom, left, right].
    let explicit: [Int]
    /// What sets the window, for errors: the `ksize` attribute or the filter input.
    let windowName: String

    init(_ c: ShapeContext, kernel: [Int?], pooling: Bool = false) throws {
        try self.init(attrs: c.attrs, kernel: kernel, pooling: pooling)
    }

    init(attrs: [String: AttrValue], kernel: [Int?], pooling: Bool = false) throws {
        func ints(_ name: String) -> [Int] { if case .ints(let v)? = attrs[name] { v } else { [] } }
        let strides = ints("strides"), dilations = pooling ? [1, 1, 1, 1] : (attrs["dilations"] == nil ? [1, 1, 1, 1] : ints("dilations"))
        // TF's kernels read strides, dilations and ksize as int32 attributes.
        for name in pooling ? ["strides", "ksize"] : ["strides", "dilations"] {
            if let bad = ints(name).first(where: { Int32(exactly: $0) == nil }) {
                throw ShapeError("Attr \(name) has value \(bad) out of range for an int32")
            }
        }
        guard strides.count == 4 else { throw ShapeError("Sliding window strides field must specify 4 dimensions") }
        guard strides[0] == 1, strides[3] == 1 else {
            throw ShapeError("Current implementation does not yet support strides in the batch and depth dimensions.")
        }
        guard strides[1] > 0, strides[2] > 0 else {
            throw ShapeError("Attribute strides must be positive, got [\(strides.map(String.init).joined(separator: ","))]")
        }
        guard dilations.count == 4 else { throw ShapeError("Sliding window dilations field must specify 4 dimensions") }
        guard dilations[0] == 1, dilations[3] == 1 else {
            throw ShapeError("Current implementation does not yet support dilations in the batch and depth dimensions.")
        }
        guard dilations[1] > 0, dilations[2] > 0 else { throw ShapeError("Dilated rates should be larger than 0 (attribute dilations).") }
        windowName = pooling ? "ksize" : "filter"
        for k in kernel { if let k, k <= 0 { throw ShapeError("The \(windowName) window size must be positive, got \(k)") } }
        if case .string(let p)? = attrs["padding"] { padding = p } else { padding = "VALID" }
        var explicit = [0, 0, 0, 0]
        if padding == "EXPLICIT" {
            let e = ints("explicit_paddings")
            guard e.count == 8 else { throw ShapeError("explicit_paddings attribute must contain 8 values, but got: \(e.count)") }
            guard e.allSatisfy({ $0 >= 0 }) else { throw ShapeError("All elements of explicit_paddings must be nonnegative") }
            guard e[0] == 0, e[1] == 0, e[6] == 0, e[7] == 0 else {
                throw ShapeError("Nonzero explicit padding in the batch or depth dimensions is not supported")
            }
            explicit = [e[2], e[3], e[4], e[5]]
        }
        self.kernel = kernel
        self.strides = [strides[1], strides[2]]
        self.dilations = [dilations[1], dilations[2]]
        self.explicit = explicit
    }

    /// Output size and leading pad for dimension `d` (0: H, 1: W) of input size `size`.
    ///
    /// All arithmetic is checked: sizes from a file that would overflow are an error.
    func output(_ size: Int, dimension d: Int) throws -> (size: Int, padBefore: Int) {
        let k = kernel[d]!
        guard let effective = checkedProduct([k - 1, dilations[d]]).flatMap({ $0 < Int.max ? $0 + 1 : nil }) else {
            throw ShapeError("The effective \(windowName) size (\(k) - 1) × dilation \(dilations[d]) + 1 overflows")
        }
        switch padding {
        case "SAME":
            let out = size / strides[d] + (size % strides[d] == 0 ? 0 : 1)
            guard let span = checkedProduct([Swift.max(out - 1, 0), strides[d]]), span <= Int.max - effective else {
                throw ShapeError("The SAME padding of a \(windowName) window of \(effective) with stride \(strides[d]) overflows")
            }
            let total = Swift.max(span + effective - size, 0)
            return (out, total / 2)
        case "EXPLICIT":
            let (before, after) = (explicit[2 * d], explicit[2 * d + 1])
            guard before <= Int.max - size, after <= Int.max - size - before else {
                throw ShapeError("explicit_paddings \(before) and \(after) overflow the padded input size \(size)")
            }
            let padded = size + before + after
            guard padded >= effective else {
                throw ShapeError("Computed output size would be negative: \((padded - effective) / strides[d] + 1) [input_size: \(size), effective_filter_size: \(effective), stride: \(strides[d])]: the \(windowName) window is larger than the padded input")
            }
            return ((padded - effective) / strides[d] + 1, explicit[2 * d])
        default:
            guard size >= effective else {
                throw ShapeError("Computed output size would be negative: \((size - effective) / strides[d] + 1) [input_size: \(size), effective_filter_size: \(effective), stride: \(strides[d])]: the \(windowName) window is larger than the input")
            }
            return ((size - effective) / strides[d] + 1, 0)
        }
    }

    func output(_ h: Int?, _ w: Int?) throws -> (Int?, Int?) {
        let oh = try h.flatMap { kernel[0] == nil ? nil : try output($0, dimension: 0).size }
        let ow = try w.flatMap { kernel[1] == nil ? nil : try output($0, dimension: 1).size }
        return (oh, ow)
    }
}

// MARK: - Builders

/// 2-D convolution of NHWC images with an HWIO filter (`Conv2D`): `strides` and
/// `dilations` are `[h, w]`; padding `"SAME"`, `"VALID"`, or explicit `[[top, bottom], [left, right]]`.
public func conv2D(_ input: Output, filter: Output, strides: [Int] = [1, 1], padding: String = "VALID",
                   explicitPaddings: [[Int]]? = nil, dilations: [Int] = [1, 1], name: String? = nil,
                   file: String = #fileID, line: Int = #line) throws -> Output {
    var attrs: [String: AttrValue] = [
        "strides": .ints([1] + strides + [1]), "dilations": .ints([1] + dilations + [1]),
        "padding": .string(explicitPaddings == nil ? padding : "EXPLICIT"),
    ]
    if let explicitPaddings { attrs["explicit_paddings"] = .ints([0, 0] + explicitPaddings.flatMap { $0 } + [0, 0]) }
    return try input.graph.output("Conv2D", [input, filter], attrs: attrs, name: name, file: file, line: line)
}

/// The transposed convolution (`Conv2DBackpropInput`): the gradient of `conv2D` for an
/// input of `outputShape`, applied to `input`.
public func conv2DTranspose(_ input: Output, filter: Output, outputShape: [Int], strides: [Int] = [1, 1],
                            padding: String = "VALID", name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    let g = input.graph
    let sizes = try g.constant(Tensor(outputShape.map { Int32($0) }), name: "output_shape", file: file, line: line)
    return try g.output("Conv2DBackpropInput", [sizes, filter, input],
                        attrs: ["strides": .ints([1] + strides + [1]), "padding": .string(padding)], name: name ?? "conv2d_transpose",
                        file: file, line: line)
}

/// Depthwise 2-D convolution (`DepthwiseConv2dNative`): filter `[KH, KW, C, M]`, output
/// channels `C·M`; `strides` and `dilations` are `[h, w]`.
public func depthwiseConv2D(_ input: Output, filter: Output, strides: [Int] = [1, 1], padding: String = "VALID",
                            dilations: [Int] = [1, 1], name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
    try input.graph.output("DepthwiseConv2dNative", [input, filter], attrs: [
        "strides": .ints([1] + strides + [1]), "dilations": .ints([1] + dilations + [1]), "padding": .string(padding),
    ], name: name, file: file, line: line)
}

/// Batch normalisation of NHWC `x` per channel (`FusedBatchNormV3`): in training, by the
/// batch's mean and variance (returned, the variance Bessel-corrected, for moving
/// averages); otherwise by `mean` and `variance`. Returns `(y, batchMean, batchVariance)`.
public func fusedBatchNorm(_ x: Output, scale: Output, offset: Output, mean: Output, variance: Output, epsilon: Double = 0.001,
                           isTraining: Bool = true, name: String? = nil, file: String = #fileID, line: Int = #line)
    throws -> (y: Output, batchMean: Output, batchVariance: Output) {
    let outs = try x.graph.outputs("FusedBatchNormV3", [x, scale, offset, mean, variance],
                                   attrs: ["epsilon": .float(Float(epsilon)), "is_training": .bool(isTraining)],
                                   name: name ?? "FusedBatchNormV3", file: file, line: line)
    return (outs[0], outs[1], outs[2])
}

/// Max over `ksize` windows (`MaxPool`); `ksize` and `strides` are `[h, w]`.
public func maxPool(_ input: Output, ksize: [Int], strides: [Int], padding: String = "VALID", name: String? = nil,
                    file: String = #fileID, line: Int = #line) throws -> Output {
    try input.graph.output("MaxPool", [input], attrs: [
        "ksize": .ints([1] + ksize + [1]), "strides": .ints([1] + strides + [1]), "padding": .string(padding),
    ], name: name, file: file, line: line)
}

/// Mean over `ksize` windows, padding excluded (`AvgPool`); `ksize` and `strides` are `[h, w]`.
public func avgPool(_ input: Output, ksize: [Int], strides: [Int], padding: String = "VALID", name: String? = nil,
                    file: String = #fileID, line: Int = #line) throws -> Output {
    try input.graph.output("AvgPool", [input], attrs: [
        "ksize": .ints([1] + ksize + [1]), "strides": .ints([1] + strides + [1]), "padding": .string(padding),
    ], name: name, file: file, line: line)
}
