import Foundation

/// A labelled data set in memory: `features` and `labels` tensors of any dtype and shape
/// whose first dimension counts the examples — images `[n, 8, 8, 1]` with class indices
/// `[n]`, token sequences `[n, 8]` int32 with targets `[n, 8]`, regression inputs `[n, 3]`
/// with targets `[n, 1]`. The usual preparation steps (seeded shuffling, splits,
/// normalisation, per-example `map`, batching) return new data sets; ``pipeline()`` streams
/// it through `shuffle(buffer:)`/`batch`/`repeat`/`prefetch` like `tf.data`.
public struct Dataset: Sendable {
    public var features: Tensor
    public var labels: Tensor
    /// How many classes integer labels index, when they are class indices.
    public var classCount: Int?

    /// The number of examples.
    public var count: Int { features.shape[0] }
    /// Values per example's features (the product of the trailing dimensions).
    public var featureCount: Int { features.shape.dropFirst().reduce(1, *) }

    /// A data set of `features` and `labels` with equal first dimensions; with `classCount`,
    /// the labels must be integers in `[0, classCount)`.
    public init(features: Tensor, labels: Tensor, classCount: Int? = nil) throws {
        guard features.rank >= 1, labels.rank >= 1, features.shape[0] == labels.shape[0] else {
            throw SomaError.invalidArgument("Dataset: features \(features.shape) and labels \(labels.shape) need the same "
                                            + "number of examples (first dimension)")
        }
        for t in [features, labels] where [DType.string, .variant, .resource].contains(t.dtype) {
            throw SomaError.invalidArgument("Dataset: \(t.dtype) tensors are not supported")
        }
        if let classCount {
            guard let ints = labels.intScalars() else {
                throw SomaError.invalidArgument("Dataset: class labels must be integers, not \(labels.dtype)")
            }
            if let bad = ints.first(where: { $0 < 0 || $0 >= classCount }) {
                throw SomaError.invalidArgument("Dataset: label \(bad) is outside [0, \(classCount))")
            }
        }
        self.features = features
        self.labels = labels
        self.classCount = classCount
    }

    /// Float features `[count, featureCount]` (row-major) with class-index labels (int64).
    public init(features: [Float], labels: [Int], featureCount: Int, classCount: Int) throws {
        guard featureCount > 0, features.count == labels.count * featureCount else {
            throw SomaError.invalidArgument(
                "Dataset: \(features.count) feature values for \(labels.count) examples of \(featureCount) features")
        }
        try self.init(features: Tensor(features, shape: [labels.count, featureCount]),
                      labels: Tensor(labels.map { Int64($0) }, shape: [labels.count]), classCount: classCount)
    }

    /// The examples at `indices`, in that order.
    public func subset(_ indices: [Int]) throws -> Dataset {
        var copy = self
        copy.features = try features.rows(indices)
        copy.labels = try labels.rows(indices)
        return copy
    }

    /// Every `count`-th example starting at `index` (`tf.data.Dataset.shard`): one
    /// process's share in data-parallel training, the shards disjoint and together all.
    public func shard(count shards: Int, index: Int) throws -> Dataset {
        guard shards >= 1, (0..<shards).contains(index) else {
            throw SomaError.invalidArgument("shard: index \(index) must be in [0, \(shards)) for \(shards) shards")
        }
        return try subset(Array(stride(from: index, to: count, by: shards)))
    }

    /// The examples in a seeded random order (Fisher–Yates with ``SplitMix64``).
    public func shuffled(seed: UInt64) -> Dataset {
        var rng = SplitMix64(seed: seed)
        return try! subset(Array(0..<count).shuffled(using: &rng))
    }

    /// A seeded random split: `testFraction` of the examples (rounded) go to the test set,
    /// each part keeping the original order.
    public func split(testFraction: Double, seed: UInt64) throws -> (train: Dataset, test: Dataset) {
        try checkFraction(testFraction)
        var rng = SplitMix64(seed: seed)
        let order = Array(0..<count).shuffled(using: &rng)
        let k = Int((Double(count) * testFraction).rounded())
        return (try subset(order.dropFirst(k).sorted()), try subset(order.prefix(k).sorted()))
    }

    /// A split keeping each class's share in both parts: per class, a seeded
    /// `testFraction` of its examples (rounded) goes to the test set. Needs class labels.
    public func stratifiedSplit(testFraction: Double, seed: UInt64) throws -> (train: Dataset, test: Dataset) {
        try checkFraction(testFraction)
        guard let classCount, let labels = labels.intScalars(), self.labels.rank == 1 else {
            throw SomaError.invalidArgument("stratifiedSplit needs class-index labels [n] and a classCount")
        }
        var rng = SplitMix64(seed: seed)
        var train: [Int] = [], test: [Int] = []
        for c in 0..<classCount {
            let members = labels.indices.filter { labels[$0] == c }.shuffled(using: &rng)
            let k = Int((Double(members.count) * testFraction).rounded())
            test += members.prefix(k)
            train += members.dropFirst(k)
        }
        return (try subset(train.sorted()), try subset(test.sorted()))
    }

    private func checkFraction(_ f: Double) throws {
        guard f > 0 && f < 1 else { throw SomaError.invalidArgument("testFraction must be in (0, 1), got \(f)") }
    }

    /// The features as Doubles, `count × featureCount`.
    private var featureValues: [Double] { features.doubleScalars() }

    /// Per-feature mean and standard deviation (population), for ``standardized(mean:std:)``.
    public func featureStatistics() -> (mean: [Float], std: [Float]) {
        let values = featureValues, width = featureCount
        var mean = [Double](repeating: 0, count: width), square = mean
        for i in 0..<count {
            for j in 0..<width {
                let v = values[i * width + j]
                mean[j] += v
                square[j] += v * v
            }
        }
        let n = Double(Swift.max(count, 1))
        let m = mean.map { $0 / n }
        let s = zip(square, m).map { Swift.max(0, ($0 / n) - $1 * $1).squareRoot() }
        return (m.map { Float($0) }, s.map { Float($0) })
    }

    /// `(x − mean) / std` per feature (features with std 0 are only centred), as float32.
    /// Fit the statistics on the training set and apply them to both sets.
    public func standardized(mean: [Float], std: [Float]) -> Dataset {
        let width = featureCount
        return mappingFeatures { k, v in (v - mean[k % width]) / (std[k % width] > 0 ? std[k % width] : 1) }
    }

    /// Every feature scaled by `factor` (the digits' pixels 0…16 by 1/16, say), as float32.
    public func scaled(by factor: Float) -> Dataset { mappingFeatures { _, v in v * factor } }

    /// The features, converted to float32 and transformed value by value (`k` is the flat index).
    private func mappingFeatures(_ f: (Int, Float) -> Float) -> Dataset {
        var copy = self
        let values = featureValues.enumerated().map { f($0.offset, Float($0.element)) }
        copy.features = try! Tensor(values, shape: features.shape)
        return copy
    }

    /// Each example transformed by `transform` (features and labels of one example, without
    /// the batch dimension); every result must have the same dtypes and shapes.
    public func map(_ transform: (_ features: Tensor, _ labels: Tensor) throws -> (Tensor, Tensor)) throws -> Dataset {
        var fs: [Tensor] = [], ls: [Tensor] = []
        for i in 0..<count {
            let (f, l) = try transform(features.example(i), labels.example(i))
            fs.append(f)
            ls.append(l)
        }
        return try Dataset(features: Tensor(stacking: fs), labels: Tensor(stacking: ls))
    }

    /// Consecutive batches of `size` examples (the last may be smaller unless `dropRemainder`).
    public func batches(size: Int, dropRemainder: Bool = false) -> [(features: Tensor, labels: Tensor)] {
        precondition(size > 0, "batch size must be positive")
        return Swift.stride(from: 0, to: count, by: size).compactMap { start in
            let end = Swift.min(start + size, count)
            if dropRemainder && end - start < size { return nil }
            let rows = Array(start..<end)
            return (try! features.rows(rows), try! labels.rows(rows))
        }
    }

    /// The whole set as one batch.
    public var tensors: (features: Tensor, labels: Tensor) { (features, labels) }
}

extension Dataset {
    /// Features and labels from two `.npy` files (NumPy's format, any numeric dtype).
    public init(featuresNPY: URL, labelsNPY: URL, classCount: Int? = nil) throws {
        try self.init(features: Tensor(contentsOfNPY: featuresNPY), labels: Tensor(contentsOfNPY: labelsNPY),
                      classCount: classCount)
    }

    /// A CSV file of numbers: the `labelColumns` (by index) become float32 labels
    /// `[n, labelColumns.count]` — or int64 class indices `[n]` with `classCount` and one
    /// label column — and the rest float32 features `[n, columns]`. With `header`, the first
    /// line is skipped. Quoted fields are not supported; every row needs every column. The
    /// file may be at most `maxBytes`.
    public init(csv url: URL, labelColumns: [Int], header: Bool = true, classCount: Int? = nil,
                maxBytes: Int = 1 << 30) throws {
        let bytes = try FileBytes.read(url.path, limit: maxBytes, budget: MemoryBudget(), what: "CSV file")
        try self.init(csv: bytes, name: url.lastPathComponent, labelColumns: labelColumns, header: header, classCount: classCount)
    }

    /// A CSV file's bytes (see ``init(csv:labelColumns:header:classCount:maxBytes:)``);
    /// `name` goes in error messages.
    public init(csv bytes: [UInt8], name: String, labelColumns: [Int], header: Bool = true, classCount: Int? = nil) throws {
        func fail(_ what: String) -> SomaError { .invalidArgument("\(name): \(what)") }
        var lines = bytes.split(whereSeparator: { $0 == 10 || $0 == 13 })
            .filter { !$0.allSatisfy { $0 == 32 || $0 == 9 } }
        if header, !lines.isEmpty { lines.removeFirst() }
        guard let first = lines.first else { throw fail("no data rows") }
        let width = first.split(separator: 44, omittingEmptySubsequences: false).count
        let labelSet = Set(labelColumns)
        guard !labelColumns.isEmpty, labelColumns.allSatisfy({ (0..<width).contains($0) }), width > labelSet.count else {
            throw fail("\(width) columns with label columns \(labelColumns) do not make a data set")
        }
        var features: [Float] = [], labels: [Float] = []
        features.reserveCapacity(lines.count * (width - labelSet.count))
        for (r, line) in lines.enumerated() {
            let fields = line.split(separator: 44, omittingEmptySubsequences: false)
            guard fields.count == width else { throw fail("row \(r + 1) has \(fields.count) fields, not \(width)") }
            for (c, field) in fields.enumerated() {
                let text = String(decoding: field, as: UTF8.self).trimmingCharacters(in: .whitespaces)
                guard let v = Float(text) else {
                    throw fail("row \(r + 1), column \(c + 1) is not a number: '\(text.prefix(40))'")
                }
                if labelSet.contains(c) { labels.append(v) } else { features.append(v) }
            }
        }
        let n = lines.count
        let featureTensor = try Tensor(features, shape: [n, width - labelSet.count])
        guard let classCount, labelColumns.count == 1 else {
            try self.init(features: featureTensor, labels: Tensor(labels, shape: [n, labelColumns.count]))
            return
        }
        let classes = try labels.enumerated().map { r, v in
            guard let k = Int64(exactly: v), (0..<Int64(classCount)).contains(k) else {
                throw fail("row \(r + 1): label \(v) is not a class in [0, \(classCount))")
            }
            return k
        }
        try self.init(features: featureTensor, labels: Tensor(classes, shape: [n]), classCount: classCount)
    }

    /// The 8×8 handwritten digits: 1,797 images of 64 pixels (0…16), labels 0…9.
    ///
    /// UCI "Optical Recognition of Handwritten Digits" (Alpaydin & Kaynak, 1998), CC BY 4.0,
    /// as shipped in scikit-learn; extracted by `Tools/extract_digits.py`.
    public static func digits() throws -> Dataset {
        guard let url = Bundle.module.url(forResource: "digits", withExtension: "bin") else {
            throw SomaError.notFound("The digits resource (digits.bin) is missing from the Soma bundle")
        }
        return try digits(contentsOf: url)
    }

    /// Reads a digits file in Soma's format (see `Tools/extract_digits.py`), checking every field.
    public static func digits(contentsOf url: URL) throws -> Dataset {
        let data = try Data(contentsOf: url)
        func fail(_ what: String) -> SomaError { .invalidArgument("\(url.lastPathComponent): \(what)") }
        guard data.count >= 16, data.prefix(8) == Data("SOMADIG1".utf8) else { throw fail("not a digits file (magic)") }
        func u32(_ offset: Int) -> Int {
            data.dropFirst(offset).prefix(4).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        }
        let n = u32(8), f = u32(12)
        guard f == 64, n > 0, n <= 1 << 20, data.count == 16 + n * f + n else {
            throw fail("header says \(n) images of \(f) pixels but the file has \(data.count) bytes")
        }
        let bytes = [UInt8](data)
        let pixels = bytes[16..<(16 + n * f)], labels = bytes[(16 + n * f)...]
        guard pixels.allSatisfy({ $0 <= 16 }) else { throw fail("a pixel value exceeds 16") }
        return try Dataset(features: pixels.map { Float($0) }, labels: labels.map { Int($0) }, featureCount: f, classCount: 10)
    }
}

extension Tensor {
    /// Example `i` of a batch: the slice `[i]`, without the first dimension.
    public func example(_ i: Int) throws -> Tensor {
        let row = try rows([i])
        return Tensor(dtype: dtype, shape: Array(shape.dropFirst()), buffer: row.buffer)
    }

    /// Tensors of one dtype and shape stacked along a new first dimension.
    public init(stacking parts: [Tensor]) throws {
        guard let first = parts.first else { throw SomaError.invalidArgument("stacking: no tensors") }
        guard parts.allSatisfy({ $0.shape == first.shape }) else {
            throw SomaError.invalidArgument("stacking: tensors of different shapes")
        }
        try self.init(concatenatingRows: parts.map { Tensor(dtype: $0.dtype, shape: [1] + $0.shape, buffer: $0.buffer) })
    }
}
