import Foundation
import Testing
@testable import Soma

/// Data sets of any dtype and shape, their readers, and `tf.data`-style pipelines.
@Suite struct DataPipelineTests {
    /// 10 examples: features [i, 2i] (float32), labels i (int64).
    func counting() throws -> Dataset {
        try Dataset(features: Tensor((0..<10).flatMap { [Float($0), Float(2 * $0)] }, shape: [10, 2]),
                    labels: Tensor((0..<10).map { Int64($0) }, shape: [10]), classCount: 10)
    }

    func drain(_ p: DataPipeline) throws -> [Example] {
        var it = p.makeIterator(), out: [Example] = []
        while let e = try it.next() { out.append(e) }
        return out
    }

    func labels(_ es: [Example]) -> [Int] { es.flatMap { $0.labels.intScalars()! } }

    @Test func datasetsHoldAnyDtypeAndShapeAndReadCSVAndNPY() throws {
        let tokens = try Dataset(features: Tensor((0..<24).map { Int32($0 % 7) }, shape: [3, 8]),
                                 labels: Tensor((0..<24).map { Int32($0 % 5) }, shape: [3, 8]))
        #expect(tokens.count == 3 && tokens.featureCount == 8 && tokens.features.dtype == .int32)
        #expect(try tokens.subset([2, 0]).labels.shape == [2, 8])
        #expect(throws: SomaError.self) { try Dataset(features: Tensor(zeros: .float32, shape: [3, 2]), labels: Tensor(zeros: .int64, shape: [4])) }
        #expect(throws: SomaError.self) { try Dataset(features: Tensor(zeros: .float32, shape: [1, 2]), labels: Tensor([Int64(7)]), classCount: 5) }

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("soma-data-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let csv = folder.appendingPathComponent("houses.csv")
        try "rooms,area,price\n3,120.5,300\n2, 80,210\n\n4,150,390\n".write(to: csv, atomically: true, encoding: .utf8)
        let houses = try Dataset(csv: csv, labelColumns: [2])
        #expect(houses.features.shape == [3, 2] && houses.labels.shape == [3, 1])
        #expect(houses.features.scalars(as: Float.self) == [3, 120.5, 2, 80, 4, 150] && houses.labels.scalars(as: Float.self) == [300, 210, 390])
        try "a,b\n1,x\n".write(to: csv, atomically: true, encoding: .utf8)
        #expect(throws: SomaError.self) { try Dataset(csv: csv, labelColumns: [1]) }
        // Class labels must be whole numbers in range.
        let classes = try Dataset(csv: Array("c,x\n2,0.5\n0,1\n".utf8), name: "c.csv", labelColumns: [0], classCount: 3)
        #expect(classes.labels == Tensor([2, 0] as [Int64]) && classes.classCount == 3)
        for bad in ["c,x\n3,1\n", "c,x\n1.5,1\n", "c,x\nnan,1\n"] {
            #expect(throws: SomaError.self) { try Dataset(csv: Array(bad.utf8), name: "c.csv", labelColumns: [0], classCount: 3) }
        }

        let data = try counting()
        try data.features.saveNPY(to: folder.appendingPathComponent("x.npy"))
        try data.labels.saveNPY(to: folder.appendingPathComponent("y.npy"))
        let loaded = try Dataset(featuresNPY: folder.appendingPathComponent("x.npy"), labelsNPY: folder.appendingPathComponent("y.npy"),
                                 classCount: 10)
        #expect(loaded.features == data.features && loaded.labels == data.labels)
        // map works per example, without the batch dimension.
        let doubled = try data.map { f, l in (try Tensor(f.scalars(as: Float.self).map { $0 * 2 }, shape: f.shape), l) }
        #expect(doubled.features.scalars(as: Float.self)[2...3] == [2, 4])
    }

    @Test func pipelinesShuffleBatchRepeatTakeAndPrefetch() throws {
        let data = try counting()
        let batched = data.pipeline().batch(4)
        #expect(batched.cardinality == 3 && data.pipeline().batch(4, dropRemainder: true).cardinality == 2)
        let batches = try drain(batched)
        #expect(batches.map(\.features.shape) == [[4, 2], [4, 2], [2, 2]] && labels(batches) == Array(0..<10))

        let shuffled = data.pipeline().shuffle(buffer: 10, seed: 3)
        let first = labels(try drain(shuffled)), second = labels(try drain(shuffled))
        #expect(first.sorted() == Array(0..<10) && first != Array(0..<10) && second != first, "a new order each pass")
        #expect(labels(try drain(data.pipeline().shuffle(buffer: 10, seed: 3))) == first, "seeded")
        #expect(labels(try drain(data.pipeline().shuffle(buffer: 1, seed: 3))) == Array(0..<10))

        #expect(labels(try drain(data.pipeline().repeat(2).take(13))) == Array(0..<10) + [0, 1, 2])
        #expect(data.pipeline().repeat(2).cardinality == 20 && data.pipeline().repeat().cardinality == nil)

        let mapped = data.pipeline().map { e in Example(features: e.features, labels: Tensor(Int64(e.labels.intScalars()![0] * 10))) }
        #expect(labels(try drain(mapped.batch(5).prefetch(2))) == (0..<10).map { $0 * 10 })
        // A stage's error reaches the consumer through the prefetch thread.
        struct Broken: Error {}
        let failing = data.pipeline().map { e in if e.labels.intScalars()![0] == 6 { throw Broken() }; return e }.prefetch(1)
        var it = failing.makeIterator(), seen = 0
        #expect(throws: Broken.self) { while try it.next() != nil { seen += 1 } }
        #expect(seen == 6)
        // Dropping an iterator early lets its producer go (no hang, no leak of a blocked thread).
        for _ in 0..<20 {
            var early = data.pipeline().repeat().prefetch(1).makeIterator()
            _ = try early.next()
        }
    }

    @Test func fitOnAPipelineMatchesFitOnTensors() throws {
        let data = try ModelTests.regressionData()
        func trained(_ body: (Model) throws -> History) throws -> [Double] {
            let g = Graph()
            let (x, y, _) = try ModelTests.regression(g)
            let model = try Model(inputs: [x], outputs: [y])
            try model.compile(optimizer: GradientDescentOptimizer(learningRate: 0.05), loss: .meanSquaredError)
            return try body(model)["loss"]
        }
        let onTensors = try trained { try $0.fit(x: data.x, y: data.y, batchSize: 16, epochs: 3, shuffle: false, verbose: false) }
        let set = try Dataset(features: data.x, labels: data.y)
        let onPipeline = try trained { try $0.fit(set.pipeline().batch(16).prefetch(), epochs: 3, verbose: false) }
        #expect(onTensors == onPipeline)
        let endless = try trained { try $0.fit(set.pipeline().batch(16).repeat(), epochs: 3, stepsPerEpoch: 3, verbose: false) }
        #expect(endless == onTensors)
    }
}
