import Foundation
import Soma
import SomaDistributed

/// Timings at this job's rank count: allreduce bandwidth, and training throughput.
enum DistributedBench {
    static func run(json: Bool) throws {
        try MPI.initialize()
        defer { MPI.finalize() }
        var results: [[String: Any]] = []
        // Allreduce: algorithm bandwidth (bytes / time) and bus bandwidth (× 2(n−1)/n, what
        // each link carries in a ring: the figure osu_allreduce-style tables compare).
        var bytes = 1024
        while bytes <= 64 << 20 {
            let iterations = max(5, min(500, (256 << 20) / bytes))
            for raw in [false, true] {
                let seconds = try MPI.timeAllreduce(bytes: bytes, iterations: iterations, raw: raw)
                let algorithm = Double(bytes) / seconds / 1e9
                results.append(["kind": raw ? "MPI_Allreduce" : "soma_allreduce", "bytes": bytes, "us": seconds * 1e6,
                                "algbw_GBps": algorithm, "busbw_GBps": algorithm * 2 * Double(MPI.size - 1) / Double(MPI.size)])
            }
            bytes *= 4
        }
        // Training throughput: samples per second over the whole job.
        for (name, build) in [("mlp", mlp), ("cnn", cnn)] as [(String, () throws -> Model)] {
            let model = try build()
            let digits = try Dataset.digits().scaled(by: 1.0 / 16)
            let shard = try digits.shardedForRank()
            let features = shard.features
            _ = try model.fit(x: features, y: shard.labels, batchSize: 64, epochs: 1, shuffle: false,
                              callbacks: [BroadcastGlobalVariables(root: 0)], verbose: false)  // warm-up: plans compiled
            try MPI.barrier()
            let epochs = 5
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try model.fit(x: features, y: shard.labels, batchSize: 64, epochs: epochs, shuffle: false, verbose: false)
            try MPI.barrier()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let samples = Double(epochs * (shard.count / 64 * 64 + (shard.count % 64 == 0 ? 0 : shard.count % 64)) * MPI.size)
            results.append(["kind": "train_\(name)", "ranks": MPI.size, "batch_per_rank": 64, "samples_per_second": samples / seconds])
        }
        guard MPI.isRoot else { return }
        if json {
            let data = try JSONSerialization.data(withJSONObject: ["ranks": MPI.size, "results": results], options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            for r in results { print(r.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")) }
        }
    }

    static func compileOptions(_ model: Model) throws {
        var optimizer = AdamOptimizer(learningRate: 0.003)
        if MPI.size > 1 { optimizer = DistributedOptimizer(wrapping: optimizer) }
        try model.compile(optimizer: optimizer, loss: .sparseCategoricalCrossentropy(), metrics: [.accuracy])
    }

    static func mlp() throws -> Model {
        let g = Graph()
        g.randomSeed = 1
        let model = try Sequential(inputShape: [64], [Dense(64, activation: .relu), Dense(10, activation: .softmax)], name: "mlp", graph: g)
        try compileOptions(model)
        return model
    }

    static func cnn() throws -> Model {
        let g = Graph()
        g.randomSeed = 1
        let model = try Sequential(inputShape: [64], [
            Reshape([8, 8, 1]), Conv2D(16, kernelSize: (3, 3), padding: .same, activation: .relu), MaxPool2D(), Flatten(),
            Dense(32, activation: .relu), Dense(10, activation: .softmax),
        ], name: "cnn", graph: g)
        try compileOptions(model)
        return model
    }
}
