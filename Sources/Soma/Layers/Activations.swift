/// An element-wise activation, by Keras' name: the classic table (step, sign, linear,
/// ReLU, sigmoid, tanh) and the modern ones. Each builds the TF ops Keras builds.
public enum ActivationFunction: Sendable, Equatable {
    /// The identity (Keras' `linear`, the default of every layer).
    case linear
    /// Heaviside: 1 for x ≥ 0, else 0 (no useful gradient: for perceptron-style models).
    case step
    /// −1, 0 or 1 by the sign of x.
    case sign
    case relu
    case relu6
    /// `max(αx, x)` (Keras' `LeakyReLU`, α = 0.2 by default).
    case leakyRelu(alpha: Float = 0.2)
    case elu
    case selu
    case sigmoid
    /// Keras 3's `hard_sigmoid`: `relu6(x + 3) / 6`.
    case hardSigmoid
    case tanh
    case softmax
    case softplus
    case softsign
    /// GELU, exact (`0.5·x·erfc(−x/√2)`) or the tanh approximation.
    case gelu(approximate: Bool = false)
    /// `x·sigmoid(x)` (Keras' `silu`, a.k.a. swish).
    case silu
    /// `x·tanh(softplus(x))`.
    case mish
    case exponential

    /// The activation applied to `x`.
    public func apply(_ x: Output) throws -> Output {
        switch self {
        case .linear: return x
        case .step: return try Soma.step(x)
        case .sign: return try Soma.sign(x)
        case .relu: return try Soma.relu(x)
        case .relu6: return try Soma.relu6(x)
        case .leakyRelu(let alpha): return try Soma.leakyRelu(x, alpha: alpha)
        case .elu: return try Soma.elu(x)
        case .selu: return try Soma.selu(x)
        case .sigmoid: return try Soma.sigmoid(x)
        case .hardSigmoid: return try Soma.relu6(x + 3) / 6
        case .tanh: return try Soma.tanh(x)
        case .softmax: return try Soma.softmax(x)
        case .softplus: return try Soma.softplus(x)
        case .softsign: return try Soma.softsign(x)
        case .gelu(let approximate): return try Soma.gelu(x, approximate: approximate)
        case .silu: return try Soma.silu(x)
        case .mish: return try x * Soma.tanh(Soma.softplus(x))
        case .exponential: return try Soma.exp(x)
        }
    }

    /// The activation's Keras name (`relu`, `leaky_relu`).
    public var kerasName: String {
        switch self {
        case .linear: "linear"
        case .step: "step"
        case .sign: "sign"
        case .relu: "relu"
        case .relu6: "relu6"
        case .leakyRelu: "leaky_relu"
        case .elu: "elu"
        case .selu: "selu"
        case .sigmoid: "sigmoid"
        case .hardSigmoid: "hard_sigmoid"
        case .tanh: "tanh"
        case .softmax: "softmax"
        case .softplus: "softplus"
        case .softsign: "softsign"
        case .gelu: "gelu"
        case .silu: "silu"
        case .mish: "mish"
        case .exponential: "exponential"
        }
    }
}

/// Applies an activation function (Keras' `Activation`).
public final class Activation: Layer {
    public let function: ActivationFunction

    public init(_ function: ActivationFunction, name: String? = nil) {
        self.function = function
        super.init(kind: "activation", name: name)
    }

    override public func call(_ inputs: [Output]) throws -> Output { try function.apply(inputs[0]) }
}
