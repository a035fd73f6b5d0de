import Foundation

/// A Keras-style model over a Soma graph: inputs, outputs, the layers between them, and a
/// session holding the variables (Keras' functional `Model(inputs, outputs)`).
///
/// ```swift
/// let g = Graph()
/// let x = try g.input(shape: [64])
/// let h = try Dense(64, activation: .relu)(x)
/// let model = try Model(inputs: [x], outputs: [Dense(10, activation: .softmax)(h)])
/// try model.compile(optimizer: AdamOptimizer(), loss: .sparseCategoricalCrossentropy(), metrics: [.accuracy])
/// let history = try model.fit(x: images, y: labels, epochs: 10, validationSplit: 0.1)
/// ```
///
/// The graph stays in view: ``graph``, ``session`` and the layers' variables and outputs
/// are the TF1 objects underneath, so any TF1-style step is one line away.
///
/// Thread-safety: a model trains on one thread at a time; its session may serve
/// predictions from several.
open class Model {
    /// The graph the model's ops live in.
    public let graph: Graph
    /// The model's input placeholders (fed by `fit`, `evaluate`, `predict`).
    public let inputs: [Output]
    /// The model's outputs.
    public let outputs: [Output]
    /// The layers between inputs and outputs, in the order they were first called.
    public let layers: [Layer]
    /// Those layers' calls on the way from inputs to outputs, in order.
    let layerCalls: [Graph.LayerCall]
    /// The model's name (Keras' `model.name`).
    public let name: String
    /// The session holding the variables; variables are initialised on first use.
    public let session: Session
    /// Set by a callback (``EarlyStopping``) to end `fit` after the current epoch.
    public var stopTraining = false
    /// What `compile` built; `nil` before.
    var training: TrainingGraph?

    /// A model from `inputs` to `outputs` of one graph; its layers are those whose calls
    /// lie between them.
    public init(inputs: [Output], outputs: [Output], name: String = "model", session: Session? = nil) throws {
        guard let graph = outputs.first?.graph, !inputs.isEmpty else {
            throw SomaError.invalidArgument("Model '\(name)' needs at least one input and one output")
        }
        for t in inputs + outputs where t.graph !== graph {
            throw SomaError.invalidArgument("Model '\(name)': \(t.name) is not of the model's graph")
        }
        self.graph = graph
        self.inputs = inputs
        self.outputs = outputs
        self.name = name
        layerCalls = Model.calls(of: graph, between: inputs, and: outputs)
        var seen = Set<ObjectIdentifier>()
        layers = layerCalls.map(\.layer).filter { seen.insert(ObjectIdentifier($0)).inserted }
        self.session = session ?? Session(graph: graph)
    }

    /// The layer calls on the way from `inputs` to `outputs`, in call order.
    private static func calls(of graph: Graph, between inputs: [Output], and outputs: [Output]) -> [Graph.LayerCall] {
        // Nodes the outputs depend on, walked iteratively (graphs may be deep).
        var needed = Set<ObjectIdentifier>(), stack = outputs.map(\.node)
        let stops = Set(inputs.map { ObjectIdentifier($0.node) })
        while let node = stack.popLast() {
            guard needed.insert(ObjectIdentifier(node)).inserted, !stops.contains(ObjectIdentifier(node)) else { continue }
            stack += node.inputs.map(\.node) + node.controlInputs
        }
        return graph.layerCalls.filter { needed.contains(ObjectIdentifier($0.output.node)) }
    }

    /// Whether the summary shows what each layer is connected to (functional models).
    var showsConnections: Bool { true }

    /// Every variable of the model's layers (all of the graph's when it has no layers: a
    /// loaded model).
    public var variables: [Variable] {
        layers.isEmpty ? graph.variables : layers.flatMap(\.variables)
    }

    /// Runs the initializers of the graph's variables the session holds no value for
    /// (new layers, optimiser slots), leaving trained or restored values alone.
    public func initializeIfNeeded() throws {
        let missing = graph.variables.filter { session.state.value(of: $0.sessionKey) == nil }.compactMap(\.initializer)
        if !missing.isEmpty { _ = try session.run(fetches: [], targets: missing) }
    }

    // MARK: Summary

    /// Keras' model summary: one row per layer (name and type, output shape, parameter
    /// count; for functional models, the model's inputs as `InputLayer` rows and what each
    /// layer is connected to), then the totals — trainable and not — with their size in bytes.
    public func summary() -> String {
        let columns = showsConnections ? [33, 26, 10, 30] : [33, 26, 10], width = columns.reduce(0, +)
        func row(_ cells: [String]) -> String {
            // Every column but the last is cut to its width, as Keras' are; the last runs on.
            let padded = zip(cells, columns).enumerated().map { k, column in
                k + 1 == columns.count ? " " + column.0 : (" " + column.0).padding(toLength: column.1, withPad: " ", startingAt: 0)
            }
            return String(padded.joined().reversed().drop { $0 == " " }.reversed())
        }
        var lines = ["Model: \"\(name)\"", String(repeating: "_", count: width),
                     row(["Layer (type)", "Output Shape", "Param #", "Connected to"]), String(repeating: "=", count: width)]
        var rows: [[String]] = []
        if showsConnections {
            rows += inputs.map { ["\($0.node.name) (InputLayer)", Model.kerasShape($0.shape), "0", ""] }
        }
        for layer in layers {
            let shape = layer.output.map { Model.kerasShape($0.shape) } ?? "?"
            let sources = layerCalls.filter { $0.layer === layer }.flatMap { $0.inputs.map(source) }
            rows.append(["\(layer.name) (\(layer.typeName))", shape, "\(layer.parameterCount)", sources.joined(separator: ", ")])
        }
        for (k, cells) in rows.enumerated() {
            lines.append(row(cells))
            if k + 1 < rows.count { lines.append("") }
        }
        let all = variables, trainable = all.filter(\.trainable)
        func count(_ vs: [Variable]) -> (Int, Int) {
            (vs.reduce(0) { $0 + $1.elementCount }, vs.reduce(0) { $0 + $1.elementCount * $1.dtype.byteSize })
        }
        let (total, totalBytes) = count(all), (train, trainBytes) = count(trainable)
        lines += [String(repeating: "=", count: width),
                  "Total params: \(total) (\(Model.byteSize(totalBytes)))",
                  "Trainable params: \(train) (\(Model.byteSize(trainBytes)))",
                  "Non-trainable params: \(total - train) (\(Model.byteSize(totalBytes - trainBytes)))",
                  String(repeating: "_", count: width)]
        return lines.joined(separator: "\n")
    }

    /// Where a layer's input comes from, as Keras names it: `dense[0][0]` (the layer's
    /// first call), a model input, or the op that made it.
    private func source(_ t: Output) -> String {
        if let k = layerCalls.firstIndex(where: { $0.output == t }) {
            let producer = layerCalls[k].layer
            let call = layerCalls[..<k].filter { $0.layer === producer }.count
            return "\(producer.name)[\(call)][0]"
        }
        return inputs.contains(t) ? "\(t.node.name)[0][0]" : t.node.name
    }

    /// A shape as Keras prints it: `(None, 8, 8, 16)`.
    static func kerasShape(_ shape: TensorShape) -> String {
        guard let dims = shape.dimensions else { return "?" }
        let parts = dims.map { $0.map(String.init) ?? "None" }
        return "(" + parts.joined(separator: ", ") + (parts.count == 1 ? ",)" : ")")
    }

    /// Bytes as Keras prints them: `18.79 KB`.
    static func byteSize(_ bytes: Int) -> String {
        let units = ["Byte", "KB", "MB", "GB"]
        var value = Double(bytes), k = 0
        while value >= 1024, k + 1 < units.count { value /= 1024; k += 1 }
        return String(format: "%.2f %@", value, units[k])
    }

    // MARK: Saving

    /// Saves the model as a TF1-style SavedModel (`serve` tag) whose `serving_default`
    /// signature maps `input`/`input_k` to `output`/`output_k`: TensorFlow loads it with
    /// `tf.saved_model.load`, Soma with ``load(from:)``.
    public func save(to directory: URL) throws {
        try initializeIfNeeded()
        func keyed(_ ts: [Output], _ stem: String) -> [String: Output] {
            Dictionary(uniqueKeysWithValues: ts.enumerated().map { k, t in (k == 0 ? stem : "\(stem)_\(k)", t) })
        }
        try SavedModel.save(graph: graph, session: session, to: directory,
                            signatures: ["serving_default": .init(inputs: keyed(inputs, "input"), outputs: keyed(outputs, "output"))])
    }

    /// A model saved by ``save(to:)`` (or any SavedModel with a `serving_default`
    /// signature), in a fresh graph and session holding the saved values. It predicts and
    /// evaluates; compiled again, it trains (its layers are not recovered: ``layers`` is empty).
    public static func load(from directory: URL) throws -> Model {
        let saved = try SavedModel.load(from: directory)
        guard let signature = saved.signatures["serving_default"] else {
            throw SomaError.notFound("SavedModel '\(directory.path)' has no serving_default signature")
        }
        func ordered(_ infos: [String: SavedModel.Signature.TensorInfo]) -> [Output] {
            infos.sorted { ($0.key.count, $0.key) < ($1.key.count, $1.key) }.map(\.value.output)
        }
        return try Model(inputs: ordered(signature.inputs), outputs: ordered(signature.outputs),
                         name: directory.lastPathComponent, session: saved.session)
    }
}

/// A linear stack of layers on one input (Keras' `Sequential`), built as soon as it is
/// made: `Sequential(inputShape: [8, 8, 1], [Conv2D(…), Flatten(), Dense(10)])`.
public final class Sequential: Model {
    /// Builds the layers in order on an input of `[batch] + inputShape`, in `graph` (a new
    /// one by default).
    public init(inputShape: [Int?], dtype: DType = .float32, _ layers: [Layer], name: String = "sequential",
                graph: Graph = Graph(), file: String = #fileID, line: Int = #line) throws {
        guard !layers.isEmpty else { throw SomaError.invalidArgument("Sequential '\(name)' needs at least one layer") }
        let input = try graph.input(shape: inputShape, dtype: dtype, name: "\(name)_input", file: file, line: line)
        var x = input
        for layer in layers { x = try layer(x, file: file, line: line) }
        try super.init(inputs: [input], outputs: [x], name: name)
    }

    override var showsConnections: Bool { false }
}
