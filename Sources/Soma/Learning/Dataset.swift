import Foundation

/// A labelled data set in memory: features `[count, featureCount]` (float32) and class
/// labels, with the usual preparation steps — seeded shuffling, a stratified train/test
/// split, normalisation and batching. Value type; every step returns a new data set.
public struct Dataset: Sendable {
    /// Row-major features, `count × featureCount`.
    public var features: [Float]
    public var labels: [Int]
    public let featureCount: Int
    public let classCount: Int

    public var count: Int { labels.count }

    public init(features: [Float], labels: [Int], featureCount: Int, classCount: Int) throws {
        guard featureCount > 0, features.count == labels.count * featureCount else {
            throw SomaError.invalidArgument("Dataset: \(features.count) feature values for \(labels.count) examples of \(featureCount) features")
        }
        guard let bad = labels.first(where: { $0 < 0 || $0 >= classCount }) else {
            self.features = features
            self.labels = labels
            self.featureCount = featureCount
            self.classCount = classCount
            return
        }
        throw SomaError.invalidArgument("Dataset: label \(bad) is outside [0, \(classCount))")
    }

    /// The examples at `indices`, in that order.
    public func subset(_ indices: [Int]) -> Dataset {
        var f: [Float] = []
        f.reserveCapacity(indices.count * featureCount)
        for i in indices { f += features[(i * featureCount)..<((i + 1) * featureCount)] }
        return try! Dataset(features: f, labels: indices.map { labels[$0] }, featureCount: featureCount, classCount: classCount)
    }

    /// The examples in a seeded random order (Fisher–Yates with ``SplitMix64``).
    public func shuffled(seed: UInt64) -> Dataset {
        var rng = SplitMix64(seed: seed)
        return subset(Array(0..<count).shuffled(using: &rng))
    }

    /// A split keeping each class's share in both parts: per class, a seeded
    /// `testFraction` of its examples (rounded) goes to the test set.
    public func stratifiedSplit(testFraction: Double, seed: UInt64) throws -> (train: Dataset, test: Dataset) {
        guard testFraction > 0 && testFraction < 1 else {
            throw SomaError.invalidArgument("testFraction must be in (0, 1), got \(testFraction)")
        }
        var rng = SplitMix64(seed: seed)
        var train: [Int] = [], test: [Int] = []
        for c in 0..<classCount {
            let members = labels.indices.filter { labels[$0] == c }.shuffled(using: &rng)
            let k = Int((Double(members.count) * testFraction).rounded())
            test += members.prefix(k)
            train += members.dropFirst(k)
        }
        return (subset(train.sorted()), subset(test.sorted()))
    }

    /// Per-feature mean and standard deviation (population), for ``standardized(mean:std:)``.
    public func featureStatistics() -> (mean: [Float], std: [Float]) {
        var mean = [Double](repeating: 0, count: featureCount), square = mean
        for i in 0..<count {
            for j in 0..<featureCount {
                let v = Double(features[i * featureCount + j])
                mean[j] += v
                square[j] += v * v
            }
        }
        let n = Double(Swift.max(count, 1))
        let m = mean.map { $0 / n }
        let s = zip(square, m).map { (($0 / n) - $1 * $1).squareRoot() }
        return (m.map { Float($0) }, s.map { Float($0) })
    }

    /// `(x − mean) / std` per feature (features with std 0 are only centred). Fit the
    /// statistics on the training set and apply them to both sets.
    public func standardized(mean: [Float], std: [Float]) -> Dataset {
        var copy = self
        for i in 0..<count {
            for j in 0..<featureCount {
                let k = i * featureCount + j
                copy.features[k] = (features[k] - mean[j]) / (std[j] > 0 ? std[j] : 1)
            }
        }
        return copy
    }

    /// Every feature scaled by `factor` (the digits' pixels 0…16 by 1/16, say).
    public func scaled(by factor: Float) -> Dataset {
        var copy = self
        copy.features = features.map { $0 * factor }
        return copy
    }

    /// Consecutive batches of `size` examples (the last may be smaller unless `dropRemainder`):
    /// features `[b, featureCount]` float32, labels `[b]` int64.
    public func batches(size: Int, dropRemainder: Bool = false) -> [(features: Tensor, labels: Tensor)] {
        precondition(size > 0, "batch size must be positive")
        return Swift.stride(from: 0, to: count, by: size).compactMap { start in
            let end = Swift.min(start + size, count)
            if dropRemainder && end - start < size { return nil }
            let f = try! Tensor(Array(features[(start * featureCount)..<(end * featureCount)]), shape: [end - start, featureCount])
            let l = try! Tensor(labels[start..<end].map { Int64($0) }, shape: [end - start])
            return (f, l)
        }
    }

    /// The whole set as one batch.
    public var tensors: (features: Tensor, labels: Tensor) { batches(size: Swift.max(count, 1))[0] }
}

extension Dataset {
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
