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
    case .resource: fatalError("no op case holds a resource handle")
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
