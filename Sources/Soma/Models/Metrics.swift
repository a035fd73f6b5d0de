/// A quality measure reported by `fit` and `evaluate`, streamed over batches as Keras'
/// metrics are: each batch adds its ``statistics`` (graph tensors, summed element-wise
/// across batches) and ``result`` turns the totals into the value — so accuracy over an
/// epoch is correct predictions over examples, not a mean of batch means.
///
/// Custom metrics are made with ``init(name:statistics:result:)``.
public struct Metric: @unchecked Sendable {
    /// The name in logs and history (`accuracy`, `val_accuracy`).
    public let name: String
    /// A batch's sufficient statistics: tensors of fixed shape, summed over batches.
    public let statistics: (_ labels: Output, _ predictions: Output) throws -> [Output]
    /// The metric from the summed statistics.
    public let result: (_ totals: [[Double]]) -> Double
    /// Resolved by `compile` from the loss (Keras' `"accuracy"`).
    let isGenericAccuracy: Bool

    public init(name: String, statistics: @escaping (_ labels: Output, _ predictions: Output) throws -> [Output],
                result: @escaping (_ totals: [[Double]]) -> Double) {
        self.init(name: name, statistics: statistics, result: result, generic: false)
    }

    private init(name: String, statistics: @escaping (Output, Output) throws -> [Output],
                 result: @escaping ([[Double]]) -> Double, generic: Bool) {
        self.name = name
        self.statistics = statistics
        self.result = result
        self.isGenericAccuracy = generic
    }

    /// `Σ hits / Σ count` for 0/1 hits per example.
    private static func rate(_ name: String, generic: Bool = false, _ hits: @escaping (Output, Output) throws -> Output) -> Metric {
        Metric(name: name, statistics: { labels, predictions in
            let h = try cast(hits(labels, predictions), to: .float64)
            return [try reduceSum(h), try cast(size(h), to: .float64)]
        }, result: { $0[1][0] > 0 ? $0[0][0] / $0[1][0] : 0 }, generic: generic)
    }

    /// Keras' `"accuracy"`: sparse, categorical or binary accuracy as the loss implies.
    public static let accuracy = rate("accuracy", generic: true) { _, _ in
        preconditionFailure("compile resolves accuracy")
    }

    /// The predicted class (argmax) equals the label index.
    public static let sparseCategoricalAccuracy = rate("sparse_categorical_accuracy") { labels, predictions in
        try equal(argmax(predictions, axis: -1, outputType: .int64), cast(labels, to: .int64))
    }

    /// The predicted class equals the one-hot label's class.
    public static let categoricalAccuracy = rate("categorical_accuracy") { labels, predictions in
        try equal(argmax(predictions, axis: -1), argmax(labels, axis: -1))
    }

    /// `prediction > threshold` equals the 0/1 label, per output.
    public static func binaryAccuracy(threshold: Double = 0.5) -> Metric {
        rate("binary_accuracy") { labels, predictions in
            try equal(cast(greater(predictions, predictions.scalarLike(threshold, file: "", line: 0)), to: predictions.dtype),
                      cast(labels, to: predictions.dtype))
        }
    }

    /// Σ per-element statistic / number of elements.
    private static func elementMean(_ name: String, _ f: @escaping (Output) throws -> Output) -> Metric {
        Metric(name: name, statistics: { labels, predictions in
            let e = try cast(f(subtract(predictions, cast(labels, to: predictions.dtype))), to: .float64)
            return [try reduceSum(e), try cast(size(e), to: .float64)]
        }, result: { $0[1][0] > 0 ? $0[0][0] / $0[1][0] : 0 })
    }

    public static let meanSquaredError = elementMean("mean_squared_error") { try square($0) }
    public static let meanAbsoluteError = elementMean("mean_absolute_error") { try abs($0) }

    /// True and false positives and false negatives of `prediction > threshold` against
    /// 0/1 labels, per threshold (vectors), as Keras' confusion-matrix metrics count them.
    private static func confusion(_ labels: Output, _ predictions: Output, thresholds: [Double]) throws -> [Output] {
        let g = predictions.graph
        let p = try reshape(cast(predictions, to: .float64), [-1, 1])
        let y = try reshape(cast(labels, to: .float64), [-1, 1])
        let cut = try g.constant(Tensor(thresholds, shape: [1, thresholds.count]))
        let above = try cast(greater(p, cut), to: .float64), below = try 1 - above
        let notY = try 1 - y
        return [try reduceSum(above * y, axis: [0]), try reduceSum(above * notY, axis: [0]),
                try reduceSum(below * y, axis: [0]), try reduceSum(below * notY, axis: [0])]
    }

    /// TP / (TP + FP) at `threshold` (Keras' `Precision`).
    public static func precision(threshold: Double = 0.5) -> Metric {
        Metric(name: "precision", statistics: { try confusion($0, $1, thresholds: [threshold]) },
               result: { t in t[0][0] + t[1][0] > 0 ? t[0][0] / (t[0][0] + t[1][0]) : 0 })
    }

    /// TP / (TP + FN) at `threshold` (Keras' `Recall`).
    public static func recall(threshold: Double = 0.5) -> Metric {
        Metric(name: "recall", statistics: { try confusion($0, $1, thresholds: [threshold]) },
               result: { t in t[0][0] + t[2][0] > 0 ? t[0][0] / (t[0][0] + t[2][0]) : 0 })
    }

    /// The area under the ROC curve (Keras' `AUC`): confusion counts at `thresholds`
    /// evenly spaced thresholds (0 − ε, 1/(n−1), …, 1 + ε), the curve integrated by the
    /// trapezoidal rule.
    public static func auc(thresholds n: Int = 200) -> Metric {
        let eps = 1e-7
        let inner: [Double] = (1..<Swift.max(n - 1, 1)).map { Double($0) / Double(n - 1) }
        let cuts: [Double] = [-eps] + inner + [1 + eps]
        func rate(_ a: [Double], _ b: [Double]) -> [Double] { zip(a, b).map { $0 + $1 > 0 ? $0 / ($0 + $1) : 0 } }
        return Metric(name: "auc", statistics: { try confusion($0, $1, thresholds: cuts) }, result: { t in
            let tpr = rate(t[0], t[2]), fpr = rate(t[1], t[3])
            var area = 0.0
            for i in 0..<(cuts.count - 1) { area += (fpr[i] - fpr[i + 1]) * (tpr[i] + tpr[i + 1]) / 2 }
            return area
        })
    }

    /// The metric `accuracy` stands for under `loss`.
    func resolved(for loss: Loss) -> Metric {
        guard isGenericAccuracy else { return self }
        let concrete: Metric
        switch loss {
        case .sparseCategoricalCrossentropy: concrete = .sparseCategoricalAccuracy
        case .categoricalCrossentropy: concrete = .categoricalAccuracy
        default: concrete = .binaryAccuracy()
        }
        return Metric(name: "accuracy", statistics: concrete.statistics, result: concrete.result)
    }
}
