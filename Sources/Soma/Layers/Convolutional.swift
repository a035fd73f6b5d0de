/// Keras' padding modes for convolution and pooling layers.
public enum Padding: String, Sendable {
    /// No padding: the output shrinks by the window (TF's `VALID`).
    case valid = "VALID"
    /// Zero padding so that stride 1 keeps the size (TF's `SAME`).
    case same = "SAME"
}

/// Shared parts of the convolution layers: window, strides, padding, activation, bias.
public class ConvolutionLayer: Layer {
    public let kernelSize: (Int, Int)
    public let strides: (Int, Int)
    public let padding: Padding
    public let activation: ActivationFunction
    public let useBias: Bool
    public internal(set) var bias: Variable?

    init(kind: String, kernelSize: (Int, Int), strides: (Int, Int), padding: Padding, activation: ActivationFunction,
         useBias: Bool, name: String?) {
        self.kernelSize = kernelSize
        self.strides = strides
        self.padding = padding
        self.activation = activation
        self.useBias = useBias
        super.init(kind: kind, name: name)
    }

    /// The input's channel count (NHWC, known).
    func channels(_ input: Output) throws -> Int {
        _ = try dimensions(input, rank: 4)
        return try lastDimension(input)
    }

    /// The bias of `count` channels (zeros), when the layer has one.
    func addBias(_ count: Int) throws {
        if useBias { bias = try addWeight("bias", shape: [count], initializer: .zeros) }
    }

    /// The depthwise convolution of `x` by `kernel` with the layer's strides and padding.
    func depthwise(_ x: Output, _ kernel: Variable) throws -> Output {
        try depthwiseConv2D(x, filter: kernel.value, strides: [strides.0, strides.1], padding: padding.rawValue)
    }

    /// `activation(y + bias)`.
    func finish(_ y: Output) throws -> Output {
        try activation.apply(bias.map { try biasAdd(y, $0.value) } ?? y)
    }
}

/// A 2-D convolution over NHWC images, `[N, H, W, C]` → `[N, H', W', filters]` (Keras'
/// `Conv2D`): weights `kernel [kh, kw, C, filters]` (Glorot uniform), `bias [filters]`.
public final class Conv2D: ConvolutionLayer {
    public let filters: Int
    public let dilation: (Int, Int)
    let kernelInitializer: Initializer
    let kernelRegularizer: Regularizer?
    public private(set) var kernel: Variable?

    public init(_ filters: Int, kernelSize: (Int, Int), strides: (Int, Int) = (1, 1), padding: Padding = .valid,
                dilation: (Int, Int) = (1, 1), activation: ActivationFunction = .linear, useBias: Bool = true,
                kernelInitializer: Initializer = .glorotUniform, kernelRegularizer: Regularizer? = nil, name: String? = nil) {
        self.filters = filters
        self.dilation = dilation
        self.kernelInitializer = kernelInitializer
        self.kernelRegularizer = kernelRegularizer
        super.init(kind: "conv2d", kernelSize: kernelSize, strides: strides, padding: padding, activation: activation,
                   useBias: useBias, name: name)
    }

    override public func build(_ inputs: [Output]) throws {
        kernel = try addWeight("kernel", shape: [kernelSize.0, kernelSize.1, channels(inputs[0]), filters],
                               initializer: kernelInitializer, regularizer: kernelRegularizer)
        try addBias(filters)
    }

    override public func call(_ inputs: [Output]) throws -> Output {
        try finish(conv2D(inputs[0], filter: kernel!.value, strides: [strides.0, strides.1], padding: padding.rawValue,
                          dilations: [dilation.0, dilation.1]))
    }
}

/// The transpose of a 2-D convolution ("deconvolution"), upsampling by `strides` (Keras'
/// `Conv2DTranspose`): `[N, H, W, C]` → `[N, H·s (SAME) or (H−1)·s + k (VALID), …, filters]`;
/// weights `kernel [kh, kw, filters, C]`, `bias [filters]`.
public final class Conv2DTranspose: ConvolutionLayer {
    public let filters: Int
    public private(set) var kernel: Variable?

    public init(_ filters: Int, kernelSize: (Int, Int), strides: (Int, Int) = (1, 1), padding: Padding = .valid,
                activation: ActivationFunction = .linear, useBias: Bool = true, name: String? = nil) {
        self.filters = filters
        super.init(kind: "conv2d_transpose", kernelSize: kernelSize, strides: strides, padding: padding,
                   activation: activation, useBias: useBias, name: name)
    }

    override public func build(_ inputs: [Output]) throws {
        kernel = try addWeight("kernel", shape: [kernelSize.0, kernelSize.1, filters, channels(inputs[0])],
                               initializer: .glorotUniform)
        try addBias(filters)
    }

    override public func call(_ inputs: [Output]) throws -> Output {
        let x = inputs[0], g = x.graph
        let dims = try dimensions(x, rank: 4)
        guard dims[1] > 0, dims[2] > 0 else {
            throw SomaError.invalidArgument("conv2d_transpose '\(name)': the height and width of \(x.name) must be known, "
                                            + "but its shape is \(x.shape)")
        }
        func size(_ n: Int, _ k: Int, _ s: Int) -> Int { padding == .same ? n * s : (n - 1) * s + k }
        let batch = try stridedSlice(shape(x), begin: [0], end: [1])
        let rest = try g.constant(Tensor([size(dims[1], kernelSize.0, strides.0), size(dims[2], kernelSize.1, strides.1),
                                          filters].map { Int32($0) }))
        let outputShape = try concat([batch, rest], axis: 0, name: "output_shape")
        let y = try g.output("Conv2DBackpropInput", [outputShape, kernel!.value, x], attrs: [
            "strides": .ints([1, strides.0, strides.1, 1]), "padding": .string(padding.rawValue),
        ], name: "conv2d_transpose", file: "", line: 0)
        return try finish(y)
    }
}

/// A depthwise 2-D convolution: each input channel convolved with its own
/// `depthMultiplier` filters (Keras' `DepthwiseConv2D`): `[N, H, W, C]` →
/// `[N, H', W', C·depthMultiplier]`; weights `depthwise_kernel [kh, kw, C, m]`, `bias [C·m]`.
public final class DepthwiseConv2D: ConvolutionLayer {
    public let depthMultiplier: Int
    public private(set) var depthwiseKernel: Variable?

    public init(kernelSize: (Int, Int), strides: (Int, Int) = (1, 1), padding: Padding = .valid, depthMultiplier: Int = 1,
                activation: ActivationFunction = .linear, useBias: Bool = true, name: String? = nil) {
        self.depthMultiplier = depthMultiplier
        super.init(kind: "depthwise_conv2d", kernelSize: kernelSize, strides: strides, padding: padding,
                   activation: activation, useBias: useBias, name: name)
    }

    override public func build(_ inputs: [Output]) throws {
        let c = try channels(inputs[0])
        depthwiseKernel = try addWeight("kernel", shape: [kernelSize.0, kernelSize.1, c, depthMultiplier],
                                        initializer: .glorotUniform)
        try addBias(c * depthMultiplier)
    }

    override public func call(_ inputs: [Output]) throws -> Output { try finish(depthwise(inputs[0], depthwiseKernel!)) }
}

/// A depthwise convolution followed by a 1×1 convolution mixing channels (Keras'
/// `SeparableConv2D`): weights `depthwise_kernel [kh, kw, C, m]`,
/// `pointwise_kernel [1, 1, C·m, filters]`, `bias [filters]`.
public final class SeparableConv2D: ConvolutionLayer {
    public let filters: Int
    public let depthMultiplier: Int
    public private(set) var depthwiseKernel: Variable?
    public private(set) var pointwiseKernel: Variable?

    public init(_ filters: Int, kernelSize: (Int, Int), strides: (Int, Int) = (1, 1), padding: Padding = .valid,
                depthMultiplier: Int = 1, activation: ActivationFunction = .linear, useBias: Bool = true, name: String? = nil) {
        self.filters = filters
        self.depthMultiplier = depthMultiplier
        super.init(kind: "separable_conv2d", kernelSize: kernelSize, strides: strides, padding: padding,
                   activation: activation, useBias: useBias, name: name)
    }

    override public func build(_ inputs: [Output]) throws {
        let c = try channels(inputs[0])
        depthwiseKernel = try addWeight("depthwise_kernel", shape: [kernelSize.0, kernelSize.1, c, depthMultiplier],
                                        initializer: .glorotUniform)
        pointwiseKernel = try addWeight("pointwise_kernel", shape: [1, 1, c * depthMultiplier, filters],
                                        initializer: .glorotUniform)
        try addBias(filters)
    }

    override public func call(_ inputs: [Output]) throws -> Output {
        try finish(conv2D(depthwise(inputs[0], depthwiseKernel!), filter: pointwiseKernel!.value))
    }
}

/// Max or average pooling over NHWC windows (Keras' `MaxPool2D`, `AvgPool2D`); strides
/// default to the window.
public final class Pooling2D: Layer {
    public enum Reduction: Sendable { case max, average }
    public let reduction: Reduction
    public let poolSize: (Int, Int)
    public let strides: (Int, Int)
    public let padding: Padding

    init(_ reduction: Reduction, poolSize: (Int, Int), strides: (Int, Int)?, padding: Padding, name: String?) {
        self.reduction = reduction
        self.poolSize = poolSize
        self.strides = strides ?? poolSize
        self.padding = padding
        super.init(kind: reduction == .max ? "max_pooling2d" : "average_pooling2d", name: name)
    }

    override public var typeName: String { reduction == .max ? "MaxPooling2D" : "AveragePooling2D" }

    override public func call(_ inputs: [Output]) throws -> Output {
        let window = [poolSize.0, poolSize.1], step = [strides.0, strides.1]
        return reduction == .max
            ? try maxPool(inputs[0], ksize: window, strides: step, padding: padding.rawValue)
            : try avgPool(inputs[0], ksize: window, strides: step, padding: padding.rawValue)
    }
}

/// Keras' `MaxPool2D`: the maximum of each `poolSize` window.
public func MaxPool2D(poolSize: (Int, Int) = (2, 2), strides: (Int, Int)? = nil, padding: Padding = .valid,
                      name: String? = nil) -> Pooling2D {
    Pooling2D(.max, poolSize: poolSize, strides: strides, padding: padding, name: name)
}

/// Keras' `AvgPool2D`: the mean of each `poolSize` window (SAME padding averages only the
/// in-image elements, as TF does).
public func AvgPool2D(poolSize: (Int, Int) = (2, 2), strides: (Int, Int)? = nil, padding: Padding = .valid,
                      name: String? = nil) -> Pooling2D {
    Pooling2D(.average, poolSize: poolSize, strides: strides, padding: padding, name: name)
}

/// The mean over height and width: `[N, H, W, C]` → `[N, C]` (Keras' `GlobalAveragePooling2D`).
public final class GlobalAveragePooling2D: Layer {
    public init(name: String? = nil) { super.init(kind: "global_average_pooling2d", name: name) }

    override public func call(_ inputs: [Output]) throws -> Output {
        _ = try dimensions(inputs[0], rank: 4)
        return try reduceMean(inputs[0], axis: [1, 2])
    }
}
