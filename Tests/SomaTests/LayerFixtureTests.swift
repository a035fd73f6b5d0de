import Foundation
import Testing
@testable import Soma

/// Each layer, given Keras' weights, must reproduce Keras' output and the gradients of
/// `Σ(output · r)` for its inputs and trainable weights (`Tools/make_keras_fixtures.py`,
/// Keras 3 on TF 2.21), and name its variables as Keras does.
@Suite struct LayerFixtureTests {
    static let root = Bundle.module.url(forResource: "keras", withExtension: nil, subdirectory: "Fixtures")!

    struct Case: Decodable {
        let weights: [String]
        let trainable: [Bool]
        let training: Bool
        let moving: Bool?
    }

    static let manifest: [String: Case] = {
        guard let data = try? Data(contentsOf: root.appendingPathComponent("manifest.json")) else { return [:] }
        return (try? JSONDecoder().decode([String: Case].self, from: data)) ?? [:]
    }()
    static let cases = manifest.keys.sorted()

    static let activations: [String: ActivationFunction] = [
        "linear": .linear, "relu": .relu, "relu6": .relu6, "leaky_relu": .leakyRelu(alpha: 0.2), "elu": .elu, "selu": .selu,
        "sigmoid": .sigmoid, "hard_sigmoid": .hardSigmoid, "tanh": .tanh, "softmax": .softmax, "softplus": .softplus,
        "softsign": .softsign, "gelu": .gelu(approximate: false), "silu": .silu, "mish": .mish, "exponential": .exponential,
    ]

    /// The Soma layer configured as the fixture's Keras layer.
    static func layer(_ name: String) -> Layer? {
        switch name {
        case "dense": Dense(5, activation: .relu)
        case "dense_3d": Dense(4)
        case "conv2d_same_stride2": Conv2D(4, kernelSize: (3, 3), strides: (2, 2), padding: .same, activation: .tanh)
        case "conv2d_valid": Conv2D(3, kernelSize: (2, 2))
        case "conv2d_transpose_same": Conv2DTranspose(3, kernelSize: (3, 3), strides: (2, 2), padding: .same)
        case "conv2d_transpose_valid": Conv2DTranspose(2, kernelSize: (3, 3), strides: (2, 2))
        case "depthwise_conv2d": DepthwiseConv2D(kernelSize: (3, 3), padding: .same, depthMultiplier: 2)
        case "separable_conv2d": SeparableConv2D(4, kernelSize: (3, 3), activation: .relu)
        case "max_pooling2d": MaxPool2D()
        case "average_pooling2d_same": AvgPool2D(poolSize: (3, 3), strides: (2, 2), padding: .same)
        case "global_average_pooling2d": GlobalAveragePooling2D()
        case "flatten": Flatten()
        case "reshape": Reshape([4, -1])
        case "batch_normalization_inference", "batch_normalization_dense": BatchNormalization()
        case "batch_normalization_training": BatchNormalization(momentum: 0.9)
        case "layer_normalization": LayerNormalization()
        case "embedding": Embedding(inputDim: 10, outputDim: 3)
        case "lstm": LSTM(4)
        case "lstm_sequences": LSTM(3, returnSequences: true)
        case "gru_sequences": GRU(3, returnSequences: true)
        case "simple_rnn": SimpleRNN(4)
        case "multi_head_attention", "multi_head_attention_masked": MultiHeadAttention(numHeads: 2, keyDim: 3)
        case "multi_head_attention_causal": MultiHeadAttention(numHeads: 2, keyDim: 2, causal: true)
        case "add": Add()
        case "concatenate": Concatenate()
        default:
            name.hasPrefix("activation_") ? activations[String(name.dropFirst("activation_".count))].map { Activation($0) } : nil
        }
    }

    @Test func everyLayerKindHasAFixture() {
        #expect(Self.cases.count >= 40, "found \(Self.cases)")
        for name in Self.cases { #expect(Self.layer(name) != nil, "no Soma layer for fixture \(name)") }
    }

    @Test(arguments: cases)
    func matchesKeras(name: String) throws { try check(name) }

    /// With the time dimension unknown, the recurrent layers run in a `While` loop.
    @Test(arguments: ["lstm", "lstm_sequences", "gru_sequences", "simple_rnn"])
    func recurrentLayersMatchKerasOnSequencesOfUnknownLength(name: String) throws {
        try check(name, unknownTime: true)
    }

    func check(_ name: String, unknownTime: Bool = false) throws {
        let spec = try #require(Self.manifest[name])
        let folder = Self.root.appendingPathComponent(name)
        func load(_ file: String) throws -> Tensor { try Tensor(contentsOfNPY: folder.appendingPathComponent(file)) }
        func exists(_ file: String) -> Bool { FileManager.default.fileExists(atPath: folder.appendingPathComponent(file).path) }

        let layer = try #require(Self.layer(name))
        let g = Graph()
        var xs: [Tensor] = []
        while exists("x\(xs.count).npy") { xs.append(try load("x\(xs.count).npy")) }
        let inputs = try xs.enumerated().map { k, x in
            let shape = unknownTime ? TensorShape([nil, nil, x.shape[2]]) : TensorShape(x.shape)
            return try g.placeholder(x.dtype, shape: shape, name: "x\(k)")
        }
        if spec.training { layer.training = try g.constant(true) }
        let out = try name == "multi_head_attention_masked"
            ? (layer as! MultiHeadAttention)(query: inputs[0], value: inputs[1], attentionMask: inputs[2])
            : inputs.count == 1 ? layer(inputs[0]) : layer(inputs)
        if unknownTime { #expect(g.nodes.contains { $0.op == "While" || $0.op == "StatelessWhile" }) }

        // Keras' weight names (the layer's own name may differ by its uniquifying suffix).
        #expect(layer.variables.count == spec.weights.count)
        for (v, path) in zip(layer.variables, spec.weights) {
            #expect(v.name.split(separator: "/").dropFirst() == path.split(separator: "/").dropFirst(), "\(v.name) vs Keras \(path)")
        }
        let r = try load("r.npy")
        let objective = try reduceSum(multiply(out, g.constant(r)))
        let floatInputs = inputs.indices.filter { xs[$0].dtype.isFloatingPoint }
        let trainable = layer.variables.indices.filter { spec.trainable[$0] }
        let grads = try g.gradients(of: [objective], wrt: floatInputs.map { inputs[$0] } + trainable.map { layer.variables[$0].value })

        let s = Session(graph: g)
        for (k, v) in layer.variables.enumerated() { try v.load(load("w\(k).npy"), into: s) }
        let feeds = Dictionary(uniqueKeysWithValues: zip(inputs, xs))
        let results = try s.run(fetches: [out] + grads.map { try #require($0) }, feeds: feeds)
        // Float32 arithmetic in a different order (and, for GELU, erf's implementation).
        let tolerance = 2e-4
        #expect(matches(results[0], try load("out.npy"), tolerance: tolerance), "\(name): output \(results[0]) vs Keras")
        let expectedGrads = try floatInputs.map { try load("dx\($0).npy") } + trainable.map { try load("dw\($0).npy") }
        for (k, (actual, expected)) in zip(results.dropFirst(), expectedGrads).enumerated() {
            #expect(matches(actual, expected, tolerance: tolerance), "\(name): gradient \(k) \(actual) vs Keras \(expected)")
        }
        if spec.moving == true, let bn = layer as? BatchNormalization {
            _ = try s.run(fetches: [out], feeds: feeds, targets: g.collection(Graph.updateOps))
            let moving = try s.run(fetches: [bn.movingMean!.value, bn.movingVariance!.value])
            #expect(matches(moving[0], try load("moving_mean.npy"), tolerance: tolerance), "\(name): moving mean")
            #expect(matches(moving[1], try load("moving_variance.npy"), tolerance: tolerance), "\(name): moving variance")
        }
    }
}
