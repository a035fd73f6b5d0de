// Writes graphs built by Soma, with Soma's own outputs, for TensorFlow to import and check
// (`Tools/check_tf_import.py`; `Tools/tf-interop.sh` runs both).
//
//   interop-export OUT_DIR [OP_CASES_JSON]
//
// OUT_DIR/op_cases.pb   every NumPy op case (Tests/SomaTests/Fixtures/op_cases.json) as a
//                       Const-fed subgraph `case_<i>/op`
// OUT_DIR/<model>/      Soma-built models with variables: model.pb, inputs, Soma's outputs
//                       (expected_<k>.npy) and manifest.json
import Foundation
import Soma


func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("interop-export: \(message)\n".utf8))
    exit(1)
}

let arguments = CommandLine.arguments
guard arguments.count >= 2 else { fail("usage: interop-export OUT_DIR [OP_CASES_JSON]") }
let out = URL(fileURLWithPath: arguments[1])
let casesURL = URL(fileURLWithPath: arguments.count > 2 ? arguments[2] : "Tests/SomaTests/Fixtures/op_cases.json")
try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)

// MARK: Every op case as one graph

func dtype(_ name: String) -> DType { DType.allCases.first { $0.name == name }! }

func tensor(_ json: [String: Any]) throws -> Tensor {
    let d = dtype(json["dtype"] as! String), shape = json["shape"] as! [Int], raw = json["values"] as! [Any]
    func double(_ v: Any) -> Double {
        if let s = v as? String { return s == "nan" ? .nan : (s == "inf" ? .infinity : -.infinity) }
        if let b = v as? Bool { return b ? 1 : 0 }
        return (v as! NSNumber).doubleValue
    }
    switch d {
    case .float32: return try Tensor(raw.map { Float(double($0)) }, shape: shape)
    case .float64: return try Tensor(raw.map(double), shape: shape)
    case .int32: return try Tensor(raw.map { Int32(($0 as! NSNumber).int64Value) }, shape: shape)
    case .int64: return try Tensor(raw.map { ($0 as! NSNumber).int64Value }, shape: shape)
    case .uint8: return try Tensor(raw.map { UInt8(($0 as! NSNumber).int64Value) }, shape: shape)
    case .bool: return try Tensor(raw.map { $0 as! Bool }, shape: shape)
    case .string: return try Tensor(strings: raw.map { $0 as! String }, shape: shape)
    case .resource, .variant: fatalError("no op case holds a \(d) tensor")
    }
}

func attr(_ json: [String: Any]) -> AttrValue {
    if let b = json["b"] as? Bool { return .bool(b) }
    if let i = json["i"] as? Int { return .int(i) }
    if let f = json["f"] as? Double { return .float(Float(f)) }
    if let s = json["s"] as? String { return .string(s) }
    if let t = json["type"] as? String { return .type(dtype(t)) }
    if let v = json["ints"] as? [Int] { return .ints(v) }
    fail("unknown attr encoding \(json)")
}

let root = try JSONSerialization.jsonObject(with: Data(contentsOf: casesURL)) as! [String: Any]
let cases = root["cases"] as! [[String: Any]]
let g = Graph()
for (i, c) in cases.enumerated() {
    try g.withNameScope("case_\(i)") {
        let inputs = try (c["inputs"] as! [[String: Any]]).enumerated().map { k, t in
            try g.constant(tensor(t), name: "in_\(k)")
        }
        var attrs: [String: AttrValue] = [:]
        for (key, value) in c["attrs"] as! [String: [String: Any]] { attrs[key] = attr(value) }
        _ = try g.addNode(op: c["op"] as! String, inputs: inputs, attrs: attrs, name: "op")
    }
}
try g.save(to: out.appendingPathComponent("op_cases.pb"))
print("op_cases.pb: \(cases.count) cases, \(g.nodes.count) nodes")

// MARK: Models with variables, run in Soma

func writeModel(_ name: String, _ graph: Graph, inputs: [(Output, Tensor)], fetches: [Output], initializer: Node?,
                train: (op: Node, steps: Int)? = nil) throws {
    let folder = out.appendingPathComponent(name)
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    try graph.save(to: folder.appendingPathComponent("model.pb"))
    let session = Session(graph: graph)
    if let initializer { try session.run(target: initializer) }
    var feeds: [Output: Tensor] = [:]
    var manifestInputs: [String: String] = [:]
    for (placeholder, value) in inputs {
        feeds[placeholder] = value
        try value.saveNPY(to: folder.appendingPathComponent("\(placeholder.node.name).npy"))
        manifestInputs[placeholder.node.name] = "\(placeholder.node.name).npy"
    }
    if let train { for _ in 0..<train.steps { try session.run(target: train.op, feeds: feeds) } }
    let results = try session.run(fetches: fetches, feeds: feeds)
    var manifestFetches: [[String: Any]] = []
    for (k, (fetch, value)) in zip(fetches, results).enumerated() {
        try value.saveNPY(to: folder.appendingPathComponent("expected_\(k).npy"))
        manifestFetches.append(["name": fetch.name, "file": "expected_\(k).npy", "tolerance": 1e-5])
    }
    var manifest: [String: Any] = [
        "inputs": manifestInputs, "fetches": manifestFetches, "initializer": initializer?.name ?? "",
    ]
    if let train { manifest["train"] = ["op": train.op.name, "steps": train.steps] }
    try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
        .write(to: folder.appendingPathComponent("manifest.json"))
    print("\(name): \(graph.nodes.count) nodes")
}

func uniform(_ shape: [Int], _ rng: inout SplitMix64) throws -> Tensor {
    try Tensor((0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) }, shape: shape)
}

do {
    var rng = SplitMix64(seed: 42)
    let m = Graph()
    let x = try m.placeholder(.float32, shape: [nil, 6], name: "x")
    let w1 = try m.variable(uniform([6, 8], &rng), name: "w1"), b1 = try m.variable(uniform([8], &rng), name: "b1")
    let w2 = try m.variable(uniform([8, 3], &rng), name: "w2")
    let h = try m.withNameScope("dense") { try relu(biasAdd(matmul(x, w1.value), b1.value)) }
    let logits = try m.withNameScope("dense_1") { try matmul(h, w2.value) }
    let probs = try softmax(logits, name: "probs")
    let classes = try argmax(logits, axis: 1, name: "classes")
    let g1 = try gelu(logits, name: "gelu")
    let flat = try reshape(h, stack([stridedSlice(shape(h), begin: [0], end: [1], shrinkAxisMask: 1), m.constant(Int32(-1))]))
    let initializer = try m.globalVariablesInitializer()
    let input = try uniform([5, 6], &rng)
    try writeModel("mlp", m, inputs: [(x, input)], fetches: [probs, classes, g1, flat], initializer: initializer)
    // The same model optimised by Soma (_FusedMatMul and all) must still run in TF.
    let (optimized, _) = try Compiler.optimize(m, fetches: [probs, classes, g1, flat], targets: [initializer])
    try writeModel("mlp_optimized", optimized, inputs: [(optimized.output(named: "x")!, input)],
                   fetches: [probs, classes, g1, flat].map { optimized.output(named: $0.name)! },
                   initializer: optimized.node(named: initializer.name))
}

// A training graph: Soma's gradient subgraph (TF's gradient ops) and optimiser updates
// (ApplyAdam, ApplyMomentum, ApplyRMSProp), trained for 5 steps in Soma and in TF from
// the same start. One layer, so no gradient reads a variable another update writes: TF1
// runs ref-variable updates in any order, and only such a graph has one answer there.
do {
    var rng = SplitMix64(seed: 7)
    let t = Graph()
    let x = try t.placeholder(.float32, shape: [nil, 6], name: "x")
    let y = try t.placeholder(.int64, shape: [nil], name: "y")
    let w = try t.variable(uniform([6, 3], &rng), name: "w"), b = try t.variable(uniform([3], &rng), name: "b")
    let v = try t.variable(uniform([3], &rng), name: "v")
    let logits = try add(biasAdd(matmul(tanh(x), w.value), b.value), multiply(v.value, v.value))
    let loss = try add(Losses.sparseSoftmaxCrossEntropy(labels: y, logits: logits),
                       Losses.huber(labels: y, predictions: reduceSum(sigmoid(logits), axis: [1])), name: "loss")
    let step = try t.globalStep()
    let adam = try AdamOptimizer(learningRate: 0.05).minimize(loss, varList: [w], globalStep: step)
    let momentum = try MomentumOptimizer(learningRate: 0.05, momentum: 0.9, useNesterov: true).minimize(loss, varList: [b])
    let rms = try RMSPropOptimizer(learningRate: 0.01, momentum: 0.5).minimize(loss, varList: [v])
    let trainOp = try t.group([adam, momentum, rms], name: "train")
    let initializer = try t.globalVariablesInitializer()
    let labels = try Tensor([Int64(0), 2, 1, 1, 0], shape: [5])
    try writeModel("training", t, inputs: [(x, try uniform([5, 6], &rng)), (y, labels)],
                   fetches: [loss, w.value, b.value, v.value, step.value], initializer: initializer, train: (trainOp, 5))
}

// Control flow: a training switch (`cond`, StatelessIf), a `whileLoop` (StatelessWhile)
// over the branch's value with a fed trip count and a `switchCase` (StatelessCase), all
// differentiated (If/Case over gradient branches, a gradient loop over TensorList
// accumulators calling the body's gradient) and trained — the functions travel in the
// GraphDef's library.
do {
    var rng = SplitMix64(seed: 11)
    let c = Graph()
    let x = try c.placeholder(.float32, shape: [nil, 4], name: "x")
    let n = try c.placeholder(.int32, shape: .scalar, name: "n")
    let training = try placeholderWithDefault(c.constant(true), shape: .scalar, name: "training")
    let w = try c.variable(uniform([4, 3], &rng), name: "w")
    let h = try matmul(x, w.value)
    let branch = try cond(training, then: { try tanh(h) }, else: { try multiply(h, c.constant(Float(0.5))) }, name: "branch")
    let one = try c.constant(Int32(1)), decay = try c.constant(Float(0.9))
    let looped = try whileLoop(cond: { v in try less(v[0], n) },
                               body: { v in [try add(v[0], one), try add(multiply(v[1], decay), branch)] },
                               loopVars: [try c.constant(Int32(0)), try zerosLike(branch)], name: "decayed")
    let picked = try switchCase(floorMod(n, c.constant(Int32(3))), branches: [{ [try exp(branch)] }, { [try negative(branch)] }],
                                name: "picked")[0]
    // The loss runs through the loop too: its gradient is a gradient loop over accumulators.
    let loss = try add(reduceMean(square(branch)), reduceMean(multiply(looped[1], picked)), name: "loss")
    let train = try GradientDescentOptimizer(learningRate: 0.1).minimize(loss)
    try writeModel("control_flow", c, inputs: [(x, try uniform([5, 4], &rng)), (n, Tensor(Int32(3)))],
                   fetches: [branch, looped[1], picked, loss, w.value], initializer: try c.globalVariablesInitializer(),
                   train: (train, 3))
}

// MARK: TF's own fixture graphs, optimised by Soma, with TF's original outputs

let tfFixtures = casesURL.deletingLastPathComponent().appendingPathComponent("tf")
for model in (try? FileManager.default.contentsOfDirectory(atPath: tfFixtures.path))?.sorted() ?? [] {
    let source = tfFixtures.appendingPathComponent(model)
    let manifestData = try Data(contentsOf: source.appendingPathComponent("manifest.json"))
    let manifest = try JSONSerialization.jsonObject(with: manifestData) as! [String: Any]
    let graph = try Graph(contentsOf: source.appendingPathComponent("model.pb"))
    let fetches = (manifest["fetches"] as! [[String: Any]]).map { graph.output(named: $0["name"] as! String)! }
    let (optimized, report) = try Compiler.optimize(graph, fetches: fetches)
    let folder = out.appendingPathComponent("tf_optimized_\(model)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    try optimized.save(to: folder.appendingPathComponent("model.pb"))
    for file in try FileManager.default.contentsOfDirectory(atPath: source.path) where file.hasSuffix(".npy") || file == "manifest.json" {
        try FileManager.default.copyItem(at: source.appendingPathComponent(file), to: folder.appendingPathComponent(file))
    }
    let removed = report.reduce(0) { $0 - $1.delta }
    print("tf_optimized_\(model): \(graph.nodes.count) → \(optimized.nodes.count) nodes (\(removed) removed)")
}

// MARK: Checkpoints, SavedModels and frozen graphs, for TF to read

/// OUT_DIR/persistence/: what `Tools/check_tf_persistence.py` reads with TensorFlow's own
/// readers — a checkpoint of every dtype, a trained model's Saver checkpoints, a SavedModel
/// and the model frozen — with Soma's values beside them.
let persistence = out.appendingPathComponent("persistence")
try FileManager.default.createDirectory(at: persistence, withIntermediateDirectories: true)
func writeJSON(_ object: Any, _ url: URL) throws {
    try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]).write(to: url)
}

do {
    // Every dtype Soma stores, scalars, empty and large tensors, names needing escapes.
    var rng = SplitMix64(seed: 3)
    let tensors: [(String, Tensor)] = [
        ("float32/matrix", try uniform([300, 200], &rng)),
        ("float64", try Tensor([Double.pi, -0.0, 1e-300, .infinity], shape: [2, 2])),
        ("int32", try Tensor([Int32.min, -1, 0, Int32.max], shape: [4])),
        ("int64/scalar", Tensor(Int64(1) << 40)),
        ("uint8", try Tensor([UInt8(0), 127, 255], shape: [3])),
        ("bool", try Tensor([true, false, true], shape: [3, 1])),
        ("empty", try Tensor([Float](), shape: [0, 5])),
        ("strings", try Tensor(strings: ["alpha", "", "βeta", String(repeating: "x", count: 300)], shape: [2, 2])),
        ("name with spaces/and:colons", Tensor(Float(7))),
    ]
    let folder = persistence.appendingPathComponent("checkpoint")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    var writer = CheckpointWriter(prefix: folder.appendingPathComponent("all_dtypes").path)
    var manifest: [String: Any] = [:]
    for (k, (name, t)) in tensors.enumerated() {
        try writer.add(name, t)
        var entry: [String: Any] = ["dtype": t.dtype.name, "shape": t.shape]
        if t.dtype == .string {
            entry["strings"] = t.strings!
        } else {
            try t.saveNPY(to: folder.appendingPathComponent("t\(k).npy"))
            entry["file"] = "t\(k).npy"
        }
        manifest[name] = entry
    }
    let bytes = try writer.write()
    try writeJSON(["prefix": "all_dtypes", "tensors": manifest], folder.appendingPathComponent("manifest.json"))
    print("persistence/checkpoint: \(tensors.count) tensors, \(bytes) bytes")
}

do {
    // A classifier trained by Adam: Saver checkpoints (slots and step included), the
    // SavedModel, and the frozen graph, with Soma's outputs.
    var rng = SplitMix64(seed: 11)
    let g = Graph()
    let x = try g.placeholder(.float32, shape: [nil, 6], name: "x")
    let y = try g.placeholder(.int64, shape: [nil], name: "y")
    let w = try g.variable(uniform([6, 4], &rng), name: "dense/kernel")
    let b = try g.variable(uniform([4], &rng), name: "dense/bias")
    let logits = try biasAdd(matmul(x, w.value), b.value)
    let probs = try softmax(logits, name: "probs")
    let loss = try Losses.sparseSoftmaxCrossEntropy(labels: y, logits: logits)
    let step = try g.globalStep()
    let train = try AdamOptimizer(learningRate: 0.05).minimize(loss, globalStep: step)
    let session = Session(graph: g)
    try session.run(target: g.globalVariablesInitializer())
    let input = try uniform([5, 6], &rng), labels = try Tensor([Int64(0), 3, 1, 2, 0], shape: [5])
    let folder = persistence.appendingPathComponent("trained")
    let checkpoints = folder.appendingPathComponent("checkpoints")
    try FileManager.default.createDirectory(at: checkpoints, withIntermediateDirectories: true)
    let saver = Saver(graph: g, maxToKeep: 2)
    var prefix = ""
    for k in 1...3 {
        try session.run(target: train, feeds: [x: input, y: labels])
        prefix = try saver.save(session, to: checkpoints.appendingPathComponent("model.ckpt").path, globalStep: k)
    }
    var variables: [String: String] = [:]
    for (k, v) in g.variables.sorted(by: { $0.name < $1.name }).enumerated() {
        try session.run(v.value).saveNPY(to: folder.appendingPathComponent("var\(k).npy"))
        variables[v.name] = "var\(k).npy"
    }
    try input.saveNPY(to: folder.appendingPathComponent("x.npy"))
    try session.run(probs, feeds: [x: input]).saveNPY(to: folder.appendingPathComponent("probs.npy"))
    try SavedModel.save(graph: g, session: session, to: folder.appendingPathComponent("saved_model"),
                        signatures: ["serving_default": .init(inputs: ["x": x], outputs: ["probs": probs])])
    try g.frozen(session: session, outputs: [probs]).save(to: folder.appendingPathComponent("frozen.pb"))
    try writeJSON(["latest": URL(fileURLWithPath: prefix).lastPathComponent, "kept": saver.lastCheckpoints.map { URL(fileURLWithPath: $0).lastPathComponent },
                   "variables": variables, "input": "x.npy", "probs": "probs.npy"],
                  folder.appendingPathComponent("manifest.json"))
    print("persistence/trained: \(g.variables.count) variables, checkpoints, SavedModel, frozen graph")
}

do {
    // TF's Keras CNN SavedModel, frozen by Soma (functions inlined, handles as constants).
    let source = casesURL.deletingLastPathComponent().appendingPathComponent("saved_models/keras_cnn")
    let model = try SavedModel.load(from: source)
    let signature = model.signatures["serving_default"]!
    let frozen = try model.graph.frozen(session: model.session, outputs: [signature.outputs["output_0"]!.output])
    let folder = persistence.appendingPathComponent("frozen_keras_cnn")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    try frozen.save(to: folder.appendingPathComponent("frozen.pb"))
    for file in ["serving_default_in_image.npy", "serving_default_out_output_0.npy"] {
        try FileManager.default.copyItem(at: source.appendingPathComponent(file), to: folder.appendingPathComponent(file))
    }
    try writeJSON(["input": signature.inputs["image"]!.name, "output": signature.outputs["output_0"]!.name,
                   "input_file": "serving_default_in_image.npy", "output_file": "serving_default_out_output_0.npy"],
                  folder.appendingPathComponent("manifest.json"))
    print("persistence/frozen_keras_cnn: \(model.graph.nodes.count) → \(frozen.nodes.count) nodes")
}

// MARK: TensorBoard event files, for TensorBoard's own reader (Tools/check_tensorboard.py)

do {
    let logs = out.appendingPathComponent("tensorboard")
    var rng = SplitMix64(seed: 11)
    var manifest: [String: Any] = [:]

    // Summary ops in a graph with name scopes, fetched each step and written.
    let g = Graph()
    let x = try g.placeholder(.float32, shape: [3, 4, 5, 3], name: "x")
    let activations = try g.withNameScope("layer1") { try relu(multiply(x, g.constant(Float(2)), name: "scale"), name: "relu") }
    let mean = try reduceMean(activations, name: "mean")
    _ = try scalarSummary("loss", mean)
    _ = try histogramSummary("activations", x)
    _ = try imageSummary("inputs", x, maxImages: 2)
    _ = try textSummary("note", g.constant("**Soma** writes *TensorBoard* logs"))
    let merged = try g.mergeAllSummaries()!
    let session = Session(graph: g)
    let writer = try SummaryWriter(logDirectory: logs.appendingPathComponent("ops"), graph: g)
    var means: [Double] = []
    for step in 0..<3 {
        var input = try uniform([3, 4, 5, 3], &rng)
        if step == 2 {  // a NaN pixel: drawn in bad_color
            var values = input.scalars(as: Float.self)
            values[7] = .nan
            input = try Tensor(values, shape: [3, 4, 5, 3])
        }
        try input.saveNPY(to: logs.appendingPathComponent("x_\(step).npy"))
        if step < 2 {
            let out = try session.run(fetches: [merged, mean], feeds: [x: input])
            try writer.add(summary: out[0], step: step)
            means.append(out[1].doubleScalars()[0])
        } else {  // the histogram of a NaN fails, as in TF: only the image and the scalar
            let image = try session.run(g.node(named: "inputs").map { g.output(of: $0) }!, feeds: [x: input])
            try writer.add(summary: image, step: step)
        }
    }
    try writer.close()
    manifest["ops"] = ["file": writer.fileURL.lastPathComponent, "loss": means,
                       "graph_nodes": ["layer1/scale", "layer1/relu", mean.node.name, "x"]]

    // The writer's direct methods.
    let direct = try SummaryWriter(logDirectory: logs.appendingPathComponent("direct"))
    let pixelValues: [UInt8] = (0..<(2 * 6 * 7 * 4)).map { (i: Int) -> UInt8 in UInt8(truncatingIfNeeded: i * 37) }
    let pixels = try Tensor(pixelValues, shape: [2, 6, 7, 4])
    try pixels.saveNPY(to: logs.appendingPathComponent("pixels.npy"))
    let weights = try uniform([1000], &rng)
    try weights.saveNPY(to: logs.appendingPathComponent("weights.npy"))
    for step in 0..<4 { try direct.addScalar("direct/value", Double(step) * 0.25 - 1, step: step) }
    try direct.addHistogram("direct/weights", weights, step: 1)
    try direct.addImages("direct/pixels", pixels, maxImages: 1, step: 2)
    try direct.addText("direct/text", "line one\nline two", step: 3)
    try direct.close()

    // Keras' TensorBoard callback on `fit`.
    let fg = Graph()
    fg.randomSeed = 3
    let model = try Sequential(inputShape: [4], [Dense(8, activation: .relu), Dense(1)], name: "regressor", graph: fg)
    try model.compile(optimizer: AdamOptimizer(learningRate: 0.01), loss: .meanSquaredError)
    let features = try uniform([64, 4], &rng)
    let featureValues = features.scalars(as: Float.self)
    let targetValues: [Float] = (0..<64).map { (i: Int) -> Float in featureValues[4 * i..<4 * i + 4].reduce(0, +) }
    let targets = try Tensor(targetValues, shape: [64, 1])
    let history = try model.fit(x: features, y: targets, batchSize: 16, epochs: 3, validationSplit: 0.25, seed: 1,
                                callbacks: [TensorBoard(logDirectory: logs.appendingPathComponent("fit"), histogramFrequency: 1)],
                                verbose: false)
    manifest["fit"] = ["loss": history.history["loss"]!, "val_loss": history.history["val_loss"]!,
                       "variables": model.variables.map(\.name)]
    try writeJSON(manifest, logs.appendingPathComponent("manifest.json"))
    print("tensorboard: summary ops over 3 steps, the writer's direct methods, and fit's TensorBoard callback")
}
