// Data-parallel training checks and timings under mpirun (Tools/test-mpi.sh runs them).
//
//   soma-distributed-check train OUT.bin [--steps N] [--batch B] [--checkpoint DIR] [--fail-at K]
//       A 64→32→10 MLP trained N steps with gradient descent on the digits. Without mpirun:
//       one process, batches of 2B. Under `mpirun -np 2`: each rank takes its B rows of the
//       same 2B, gradients averaged by DistributedOptimizer. Rank 0 writes the weights to
//       OUT.bin; with --checkpoint it saves after every step and resumes from the latest
//       checkpoint there; with --fail-at K, rank 1 dies at step K; with --stall-at K, it
//       stops there (alive, silent), for the stall watchdog (SOMA_MPI_STALL_SECONDS).
//   soma-distributed-check collectives
//       Allreduce of 1 … 2²⁰ floats (both algorithms): bitwise the rank-order sum.
//   soma-distributed-check compare A.bin B.bin TOLERANCE
//       The largest difference between two weight files; fails above TOLERANCE.
//   soma-distributed-check bench [--json]
//       Allreduce bandwidth (1 KB … 64 MB, Soma's deterministic collective beside a raw
//       MPI_Allreduce) and MLP / CNN training samples per second at this job's rank count.
import Foundation
import Soma
import SomaDistributed

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("soma-distributed-check: \(message)\n".utf8))
    exit(1)
}

nonisolated(unsafe) var arguments = Array(CommandLine.arguments.dropFirst())
func option(_ name: String) -> String? {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
    let value = arguments[i + 1]
    arguments.removeSubrange(i...i + 1)
    return value
}
func flag(_ name: String) -> Bool {
    guard let i = arguments.firstIndex(of: name) else { return false }
    arguments.remove(at: i)
    return true
}

/// Float32 weights as raw little-endian bytes, variable after variable.
func weightBytes(_ values: [Tensor]) -> Data {
    var data = Data()
    for v in values { for x in v.scalars(as: Float.self) { withUnsafeBytes(of: x.bitPattern.littleEndian) { data.append(contentsOf: $0) } } }
    return data
}

func train() throws {
    guard let out = arguments.first else { fail("train OUT.bin [--steps N] [--batch B] [--checkpoint DIR] [--fail-at K]") }
    let steps = Int(option("--steps") ?? "20")!, batch = Int(option("--batch") ?? "16")!
    let checkpoint = option("--checkpoint"), failAt = option("--fail-at").flatMap { Int($0) }
    let stallAt = option("--stall-at").flatMap { Int($0) }
    let distributed = MPI.launchedByMPIRun
    if distributed { try MPI.initialize() }
    let (rank, size) = (MPI.rank, MPI.size)
    let digits = try Dataset.digits().scaled(by: 1.0 / 16)

    let g = Graph()
    g.randomSeed = 7
    let x = try g.placeholder(.float32, shape: [nil, 64], name: "x")
    let y = try g.placeholder(.int64, shape: [nil], name: "y")
    let w1 = try g.variable("w1", shape: [64, 32], initializer: .glorotUniform)
    let b1 = try g.variable(Tensor(repeating: Float(0), shape: [32]), name: "b1")
    let w2 = try g.variable("w2", shape: [32, 10], initializer: .glorotUniform)
    let b2 = try g.variable(Tensor(repeating: Float(0), shape: [10]), name: "b2")
    let hidden = try relu(add(matmul(x, w1.value), b1.value))
    let logits = try add(matmul(hidden, w2.value), b2.value)
    let loss = try Losses.sparseSoftmaxCrossEntropy(labels: y, logits: logits)
    let step = try g.globalStep()
    var optimizer = GradientDescentOptimizer(learningRate: 0.5)
    if distributed { optimizer = DistributedOptimizer(wrapping: optimizer) }
    let trainOp = try optimizer.minimize(loss, globalStep: step)
    let session = Session(graph: g)
    try session.run(target: g.globalVariablesInitializer())
    if distributed { try session.run(target: g.broadcastGlobalVariables(root: 0)) }
    let saver = Saver(graph: g, maxToKeep: 2)
    var first = 0
    if let checkpoint, let latest = Saver.latestCheckpoint(in: URL(fileURLWithPath: checkpoint)) {
        try saver.restore(session, from: latest)
        first = Int(try session.run(step.value).intScalars()![0])
        if rank == 0 { print("resumed from \(URL(fileURLWithPath: latest).lastPathComponent) at step \(first)") }
    }
    for s in first..<steps {
        if s == failAt && rank == 1 {
            FileHandle.standardError.write(Data("rank 1: dying at step \(s) (--fail-at)\n".utf8))
            exit(3)
        }
        if s == stallAt && rank == 1 {
            FileHandle.standardError.write(Data("rank 1: stopping at step \(s) (--stall-at)\n".utf8))
            while true { sleep(1000) }
        }
        // The global batch of step s: 2B rows; rank r takes its B of them.
        let global = s * 2 * batch
        let rows = size == 1 ? Array(global..<global + 2 * batch) : Array(global + rank * batch..<global + (rank + 1) * batch)
        let part = try digits.subset(rows.map { $0 % digits.count })
        try session.run(target: trainOp, feeds: [x: part.features, y: part.labels])
        if let checkpoint, rank == 0 { _ = try saver.save(session, to: "\(checkpoint)/model.ckpt", globalStep: s + 1) }
        if distributed { try MPI.barrier() }  // the checkpoint exists before any rank moves on
    }
    let weights = try session.run(fetches: [w1.value, b1.value, w2.value, b2.value])
    if rank == 0 {
        try weightBytes(weights).write(to: URL(fileURLWithPath: out))
        print("ranks: \(size), steps: \(steps), batch per rank: \(size == 1 ? 2 * batch : batch) → \(out)")
    }
    if distributed { MPI.finalize() }
}

/// Allreduce of buffers small and large (both algorithms), each rank's data a known
/// function of its rank: every result must equal the rank-order sum bit for bit.
func collectives() throws {
    try MPI.initialize()
    defer { MPI.finalize() }
    func value(_ r: Int, _ i: Int) -> Float { Float(sin(Double(i) * 0.37 + Double(r) * 1.3)) * Float(1 + (i % 7)) }
    var checked = 0
    for count in [1, 3, 1000, 16_384, 65_537, 1 << 20] {
        let g = Graph()
        let mine = try g.constant(Tensor((0..<count).map { value(MPI.rank, $0) }, shape: [count]))
        let sum = try allreduce(mine, average: false), mean = try allreduce(mine)
        let session = Session(graph: g)
        let (s, m) = (try session.run(sum).scalars(as: Float.self), try session.run(mean).scalars(as: Float.self))
        for i in 0..<count {
            var total = value(0, i)
            for r in 1..<MPI.size { total += value(r, i) }
            guard s[i].bitPattern == total.bitPattern, m[i].bitPattern == (total / Float(MPI.size)).bitPattern else {
                fail("rank \(MPI.rank): allreduce of \(count) floats differs at \(i): \(s[i]) vs \(total)")
            }
        }
        checked += count
    }
    if MPI.isRoot { print("collectives: \(checked) sums and means bitwise equal to the rank-order sum on \(MPI.size) ranks") }
}

func compare() throws {
    guard arguments.count == 3, let tolerance = Double(arguments[2]) else { fail("compare A.bin B.bin TOLERANCE") }
    let a = try Data(contentsOf: URL(fileURLWithPath: arguments[0])), b = try Data(contentsOf: URL(fileURLWithPath: arguments[1]))
    guard a.count == b.count, a.count % 4 == 0 else { fail("the weight files differ in size: \(a.count) and \(b.count) bytes") }
    func floats(_ d: Data) -> [Float] {
        stride(from: 0, to: d.count, by: 4).map { i in Float(bitPattern: d[i..<i + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }) }
    }
    let difference = zip(floats(a), floats(b)).map { abs($0 - $1) }.max() ?? 0
    print(String(format: "largest weight difference: %.3g (tolerance %.3g)", Double(difference), tolerance))
    if !(Double(difference) <= tolerance) { exit(1) }
}

switch arguments.first {
case "train": arguments.removeFirst(); try train()
case "compare": arguments.removeFirst(); try compare()
case "collectives": arguments.removeFirst(); try collectives()
case "bench": arguments.removeFirst(); try DistributedBench.run(json: flag("--json"))
default: fail("usage: soma-distributed-check train|collectives|compare|bench …")
}
