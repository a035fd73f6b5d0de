// Compiler benchmarks (run with Tools/bench-compiler.sh, a release build):
//   1. compile time of generated graphs of ~1k, ~10k and ~100k nodes;
//   2. planned arena ÷ lower bound and ÷ no-reuse on the TF fixture graphs and the
//      executor workloads (single_op_run, chain1000, mlp_infer_b256, wide8_matmul256,
//      lstm_infer_b32_t32, attention_block).
import Foundation
import Soma

/// Prints a line and flushes it, so progress shows in a pipe or file as it happens.
func print(_ line: String) {
    Swift.print(line)
    fflush(nil)
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func uniform(_ shape: [Int], _ rng: inout SplitMix64, scale: Float = 0.1) -> Tensor {
    try! Tensor((0..<shape.reduce(1, *)).map { _ in Float.random(in: -scale...scale, using: &rng) }, shape: shape)
}

/// A residual stack of dense blocks, ~12 nodes a block, sized to `nodes`.
func generatedGraph(nodes target: Int) throws -> (Graph, Output, [Output: Tensor]) {
    var rng = SplitMix64(seed: 7)
    let g = Graph()
    let x = try g.placeholder(.float32, shape: [nil, 16], name: "x")
    var h = x
    var i = 0
    while g.nodes.count < target {
        h = try g.withNameScope("block\(i)") {
            let w = try g.constant(uniform([16, 16], &rng)), b = try g.constant(uniform([16], &rng))
            let d = try relu(biasAdd(matmul(h, w), b))
            let scaled = try d * 0.5 + h * 1
            return try tanh(scaled) - reshape(reshape(scaled, [-1]), [-1, 16]) * 0
        }
        i += 1
    }
    return (g, h, [x: uniform([8, 16], &rng)])
}

func planFigures(_ g: Graph, _ fetches: [Output], _ feeds: [Output: Tensor]) throws -> Plan {
    try Session(graph: g).plan(fetches: fetches, feeds: feeds)!
}

print("== compile time (Session.plan: prune, passes, schedule, buffer plan; release build) ==")
var previous: (n: Int, t: Double)? = nil
for target in [1_000, 10_000, 100_000] {
    let (g, out, feeds) = try generatedGraph(nodes: target)
    var times: [Double] = []
    var plan: Plan? = nil
    for _ in 0..<(target >= 100_000 ? 3 : 5) { times.append(try seconds { plan = try planFigures(g, [out], feeds) }) }
    let t = times.sorted()[times.count / 2]
    var growth = ""
    if let p = previous {
        let n = Double(g.nodes.count) / Double(p.n)
        growth = String(format: "  ×%.1f time for ×%.1f nodes (n log n would be ×%.1f)", t / p.t, n,
                        n * log(Double(g.nodes.count)) / log(Double(p.n)))
    }
    print(String(format: "%7d nodes → %5d steps: %8.1f ms", g.nodes.count, plan!.steps.count, t * 1000) + growth)
    if CommandLine.arguments.contains("--passes") { plan!.passReports.forEach { print("    \($0)") } }
    previous = (g.nodes.count, t)
}

print("\n== planned arena vs lower bound and no reuse ==")
func report(_ name: String, _ plan: Plan) {
    let ratio = plan.lowerBoundBytes == 0 ? 1 : Double(plan.arenaBytes) / Double(plan.lowerBoundBytes)
    let reuse = plan.noReuseBytes == 0 ? 1 : Double(plan.arenaBytes) / Double(plan.noReuseBytes)
    print(name.padding(toLength: 22, withPad: " ", startingAt: 0) + String(format: "steps %5d  arena %10d B  lower bound %10d B  no reuse %10d B  peak/lb %.3f  arena/no-reuse %.3f",
                 plan.steps.count, plan.arenaBytes, plan.lowerBoundBytes, plan.noReuseBytes, ratio, reuse))
}

let fixtures = URL(fileURLWithPath: CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "Tests/SomaTests/Fixtures/tf")
for model in (try FileManager.default.contentsOfDirectory(atPath: fixtures.path)).sorted() {
    let folder = fixtures.appendingPathComponent(model)
    let g = try Graph(contentsOf: folder.appendingPathComponent("model.pb"))
    let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("manifest.json"))) as! [String: Any]
    var feeds: [Output: Tensor] = [:]
    for (name, file) in manifest["inputs"] as! [String: String] {
        feeds[g.output(named: name)!] = try Tensor(contentsOfNPY: folder.appendingPathComponent(file))
    }
    let fetches = (manifest["fetches"] as! [[String: Any]]).map { g.output(named: $0["name"] as! String)! }
    report("tf/\(model)", try planFigures(g, fetches, feeds))
}

var rng = SplitMix64(seed: 11)
do {  // single_op_run: x[1] + 1
    let g = Graph()
    let x = try g.placeholder(.float32, shape: [1], name: "x")
    report("single_op_run", try planFigures(g, [try x + 1], [x: uniform([1], &rng)]))
}
do {  // chain1000: 1,000 alternating +1 and ×0.999
    let g = Graph()
    let x = try g.placeholder(.float32, shape: [1], name: "x")
    var h = x
    for i in 0..<1000 { h = try i % 2 == 0 ? h + 1 : h * 0.999 }
    report("chain1000", try planFigures(g, [h], [x: uniform([1], &rng)]))
}
do {  // mlp_infer_b256: 784→512→512→10 with ReLU
    let g = Graph()
    let x = try g.placeholder(.float32, shape: [nil, 784], name: "x")
    var h = x
    for (i, (n, m)) in [(784, 512), (512, 512), (512, 10)].enumerated() {
        h = try biasAdd(matmul(h, g.constant(uniform([n, m], &rng))), g.constant(uniform([m], &rng)))
        if i < 2 { h = try relu(h) }
    }
    report("mlp_infer_b256", try planFigures(g, [h], [x: uniform([256, 784], &rng)]))
}
do {  // wide8_matmul256: eight branches relu(matmul(relu(matmul(x, w_i)), w_i)), summed
    let g = Graph()
    let x = try g.placeholder(.float32, shape: [256, 256], name: "x")
    var branches: [Output] = []
    for _ in 0..<8 {
        let w = try g.constant(uniform([256, 256], &rng))
        branches.append(try relu(matmul(relu(matmul(x, w)), w)))
    }
    var sum = branches[0]
    for b in branches.dropFirst() { sum = try sum + b }
    report("wide8_matmul256", try planFigures(g, [sum], [x: uniform([256, 256], &rng)]))
}
do {  // lstm_infer_b32_t32: hand-unrolled LSTM cell, input 64, hidden 128, 32 steps, then dense 10
    let g = Graph()
    let (batch, input, hidden, steps) = (32, 64, 128, 32)
    let xs = try g.placeholder(.float32, shape: [batch, steps, input], name: "x")
    let w = try g.constant(uniform([input + hidden, 4 * hidden], &rng)), b = try g.constant(uniform([4 * hidden], &rng))
    var h = try g.zeros(shape: [batch, hidden]), c = try g.zeros(shape: [batch, hidden])
    for t in 0..<steps {
        let xt = try stridedSlice(xs, begin: [0, t, 0], end: [0, t + 1, 0], beginMask: 5, endMask: 5, shrinkAxisMask: 2)
        let gates = try biasAdd(matmul(concat([xt, h], axis: 1), w), b)
        let parts = try split(gates, count: 4, axis: 1)
        c = try sigmoid(parts[1]) * c + sigmoid(parts[0]) * tanh(parts[2])
        h = try sigmoid(parts[3]) * tanh(c)
    }
    let logits = try matmul(h, g.constant(uniform([hidden, 10], &rng)))
    report("lstm_infer_b32_t32", try planFigures(g, [logits], [xs: uniform([batch, steps, input], &rng)]))
}

do {  // attention_block: one head of self-attention on [2, 16, 8] — BatchMatMul, Softmax, Transpose
    let g = Graph()
    let (batch, length, width) = (2, 16, 8)
    let x = try g.placeholder(.float32, shape: [batch, length, width], name: "x")
    func project(_ name: String) throws -> Output { try batchMatmul(x, g.constant(uniform([width, width], &rng)), name: name) }
    let q = try project("query"), k = try project("key"), v = try project("value")
    let scores = try batchMatmul(q, transpose(k, perm: [0, 2, 1])) * Double(1 / Float(width).squareRoot())
    let attended = try batchMatmul(softmax(scores), v)
    let out = try transpose(attended, perm: [1, 0, 2])
    report("attention_block", try planFigures(g, [out], [x: uniform([batch, length, width], &rng)]))
}

print("\n== deep chains: every phase O(n log n) or better, no recursion (release build) ==")
/// `x → Identity → … → Identity` (data edges), then the same length of `NoOp`s chained by
/// control edges; `nodes` in each.
func chainGraphDef(nodes: Int, control: Bool) -> [UInt8] {
    let g = Graph()
    if control {
        var previous = try! g.addNode(op: "NoOp", inputs: [], name: "n0", uniquifyName: false)
        for i in 1..<nodes {
            previous = try! g.addNode(op: "NoOp", inputs: [], name: "n\(i)", controlInputs: [previous], uniquifyName: false)
        }
    } else {
        var h = try! g.placeholder(.float32, shape: [2], name: "x")
        for i in 1..<nodes { h = try! identity(h, name: "n\(i)") }
    }
    return g.graphDef()
}

let graphtool = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("graphtool")
let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("soma-chain-bench-\(getpid())")
try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: scratch) }
for control in [false, true] {
    var previousTotal: (n: Int, t: Double)? = nil
    for n in [10_000, 100_000, 1_000_000] {
        let bytes = chainGraphDef(nodes: n, control: control)
        let file = scratch.appendingPathComponent("chain\(n).pb")
        try Data(bytes).write(to: file)
        var g: Graph! = nil
        let load = try seconds { g = try Graph(graphDef: bytes) }
        let last = g.node(named: "n\(n - 1)")!
        var compile = 0.0, run = 0.0, gradient = 0.0, optimize = 0.0
        if control {
            let session = Session(graph: g)
            compile = try seconds { _ = try session.plan(fetches: [], targets: [last]) }
            run = try seconds { try session.run(target: last) }
        } else {
            let x = g.output(named: "x")!, y = g.output(of: last)
            let feeds = [x: try Tensor([1, 2] as [Float], shape: [2])]
            let session = Session(graph: g)
            compile = try seconds { _ = try session.plan(fetches: [y], feeds: feeds) }
            run = try seconds { _ = try session.run(y, feeds: feeds) }
            gradient = try seconds { _ = try g.gradients(of: [y], wrt: [x]) }
            optimize = try seconds { _ = try Compiler.optimize(g, fetches: [y]) }
        }
        let save = try seconds { try g.save(to: scratch.appendingPathComponent("saved\(n).pb")) }
        let release = seconds { g = nil }
        let inspect = try seconds {
            let p = Process()
            p.executableURL = graphtool
            p.arguments = ["inspect", file.path]
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { fatalError("graphtool inspect failed on \(file.path)") }
        }
        let total = load + compile + run + gradient + optimize + save + release
        var growth = ""
        if let p = previousTotal {
            growth = String(format: "  total ×%.1f for ×%.0f nodes", total / p.t, Double(n) / Double(p.n))
        }
        previousTotal = (n, total)
        print(String(format: "%@ %8d nodes: load %7.0f ms  compile %7.0f  run %6.0f  gradients %6.0f  optimize %6.0f  save %6.0f  release %5.0f  graphtool inspect %6.0f ms",
                     control ? "control" : "data   ", n, load * 1e3, compile * 1e3, run * 1e3, gradient * 1e3, optimize * 1e3,
                     save * 1e3, release * 1e3, inspect * 1e3) + growth)
    }
}
