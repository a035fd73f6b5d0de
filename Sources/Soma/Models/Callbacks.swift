import Foundation

/// Hooks into `fit` (Keras' `Callback`): every method has an empty default, so a callback
/// implements only what it needs. `logs` hold the epoch's (or batch's) loss and metrics by
/// name, with `val_` names for validation. Set ``Model/stopTraining`` to end training
/// after the current epoch.
public protocol Callback: AnyObject {
    func onTrainBegin(model: Model) throws
    func onEpochBegin(_ epoch: Int, model: Model) throws
    func onBatchEnd(_ batch: Int, logs: [String: Double], model: Model) throws
    func onEpochEnd(_ epoch: Int, logs: [String: Double], model: Model) throws
    func onTrainEnd(model: Model) throws
}

extension Callback {
    public func onTrainBegin(model: Model) throws {}
    public func onEpochBegin(_ epoch: Int, model: Model) throws {}
    public func onBatchEnd(_ batch: Int, logs: [String: Double], model: Model) throws {}
    public func onEpochEnd(_ epoch: Int, logs: [String: Double], model: Model) throws {}
    public func onTrainEnd(model: Model) throws {}
}

/// Whether a monitored quantity improves by going down (losses, errors) or up.
public enum MonitorMode: Sendable {
    case min, max
    /// `max` for accuracies, precision, recall and AUC; `min` otherwise (Keras' `auto`).
    case auto

    func isBetter(_ value: Double, than best: Double, by minDelta: Double, monitor: String) -> Bool {
        let maximize: Bool
        switch self {
        case .min: maximize = false
        case .max: maximize = true
        case .auto: maximize = ["acc", "accuracy", "precision", "recall", "auc"].contains { monitor.hasSuffix($0) }
        }
        return maximize ? value > best + minDelta : value < best - minDelta
    }
}

/// Looks up `monitor` in `logs`, failing with the names there are.
private func monitored(_ monitor: String, _ logs: [String: Double], _ who: String) throws -> Double {
    guard let v = logs[monitor] else {
        throw SomaError.invalidArgument("\(who) monitors '\(monitor)', but the logs hold \(logs.keys.sorted())")
    }
    return v
}

/// Stops training when `monitor` has not improved by `minDelta` for `patience` epochs
/// (Keras' `EarlyStopping`); with `restoreBestWeights`, puts back the best epoch's weights.
public final class EarlyStopping: Callback {
    public let monitor: String, minDelta: Double, patience: Int, mode: MonitorMode, restoreBestWeights: Bool
    /// The epoch training stopped after (0-based), if it stopped early.
    public private(set) var stoppedEpoch: Int?
    private var best: Double?, wait = 0, bestWeights: [Tensor]?

    public init(monitor: String = "val_loss", minDelta: Double = 0, patience: Int = 0, mode: MonitorMode = .auto,
                restoreBestWeights: Bool = false) {
        self.monitor = monitor
        self.minDelta = Swift.abs(minDelta)
        self.patience = patience
        self.mode = mode
        self.restoreBestWeights = restoreBestWeights
    }

    public func onTrainBegin(model: Model) throws { best = nil; wait = 0; stoppedEpoch = nil; bestWeights = nil }

    public func onEpochEnd(_ epoch: Int, logs: [String: Double], model: Model) throws {
        let value = try monitored(monitor, logs, "EarlyStopping")
        if best.map({ mode.isBetter(value, than: $0, by: minDelta, monitor: monitor) }) ?? true {
            best = value
            wait = 0
            if restoreBestWeights { bestWeights = try model.weightValues() }
            return
        }
        wait += 1
        if wait > patience {
            stoppedEpoch = epoch
            model.stopTraining = true
            if let bestWeights { try model.setWeightValues(bestWeights) }
        }
    }
}

/// Saves the model's variables as a TF checkpoint (`<prefix>-<epoch>.index`/`.data-…`,
/// the `checkpoint` state file beside them) after each epoch, or only when `monitor`
/// improved with `saveBestOnly` (Keras' `ModelCheckpoint` with `save_weights_only`).
/// Restore with ``Saver/restore(_:from:)`` or `tf.train.Checkpoint`-free TF1 code. In
/// data-parallel training only rank 0 saves.
public final class ModelCheckpoint: Callback {
    public let prefix: String, monitor: String, saveBestOnly: Bool, mode: MonitorMode, maxToKeep: Int
    /// The checkpoints written, oldest first.
    public private(set) var saved: [String] = []
    private var best: Double?
    private var saver: Saver?

    public init(prefix: String, monitor: String = "val_loss", saveBestOnly: Bool = false, mode: MonitorMode = .auto,
                maxToKeep: Int = 5) {
        self.prefix = prefix
        self.monitor = monitor
        self.saveBestOnly = saveBestOnly
        self.mode = mode
        self.maxToKeep = maxToKeep
    }

    public func onEpochEnd(_ epoch: Int, logs: [String: Double], model: Model) throws {
        guard Collectives.isRoot else { return }  // data-parallel ranks: rank 0 saves
        if saveBestOnly {
            let value = try monitored(monitor, logs, "ModelCheckpoint")
            guard best.map({ mode.isBetter(value, than: $0, by: 0, monitor: monitor) }) ?? true else { return }
            best = value
        }
        let saver = self.saver ?? Saver(graph: model.graph, maxToKeep: maxToKeep)
        self.saver = saver
        saved.append(try saver.save(model.session, to: prefix, globalStep: epoch + 1))
    }
}

/// Sets the learning rate at the start of each epoch to `schedule(epoch, current)`
/// (Keras' `LearningRateScheduler`).
public final class LearningRateScheduler: Callback {
    let schedule: (Int, Double) -> Double

    public init(_ schedule: @escaping (_ epoch: Int, _ learningRate: Double) -> Double) { self.schedule = schedule }

    public func onEpochBegin(_ epoch: Int, model: Model) throws {
        try model.setLearningRate(schedule(epoch, model.learningRate()))
    }
}

/// Writes one CSV row per epoch — `epoch` then the logs in name order (Keras'
/// `CSVLogger`). The file is rewritten atomically after each epoch, so it always holds
/// every finished epoch.
public final class CSVLogger: Callback {
    public let url: URL
    private var rows: [String] = []
    private var columns: [String]?

    public init(_ url: URL) { self.url = url }

    public func onTrainBegin(model: Model) throws { rows = []; columns = nil }

    public func onEpochEnd(_ epoch: Int, logs: [String: Double], model: Model) throws {
        guard Collectives.isRoot else { return }  // data-parallel ranks: rank 0 writes
        let columns = self.columns ?? logs.keys.sorted()
        self.columns = columns
        rows.append(([String(epoch)] + columns.map { logs[$0].map { "\($0)" } ?? "" }).joined(separator: ","))
        let text = ((["epoch"] + columns).joined(separator: ",") + "\n" + rows.joined(separator: "\n") + "\n")
        try AtomicFile.write(Array(text.utf8), to: url)
    }
}

/// Writes training curves for TensorBoard (Keras' `TensorBoard` callback): under
/// `logDirectory/train`, `epoch_loss` and `epoch_<metric>` at each epoch's end (and
/// `batch_<name>` every `batchFrequency` batches when set); under
/// `logDirectory/validation`, the `val_` logs without their prefix, so TensorBoard draws
/// training and validation as two runs on one chart. With `writeGraph`, the model's
/// graph goes into the train log; with `histogramFrequency` N > 0, a histogram of every
/// weight every N epochs. In data-parallel training only rank 0 writes.
public final class TensorBoard: Callback {
    public let logDirectory: URL
    public let histogramFrequency: Int
    public let writeGraph: Bool
    public let batchFrequency: Int?
    private var train: SummaryWriter?
    private var validation: SummaryWriter?
    private var batches = 0

    public init(logDirectory: URL, histogramFrequency: Int = 0, writeGraph: Bool = true, batchFrequency: Int? = nil) {
        self.logDirectory = logDirectory
        self.histogramFrequency = histogramFrequency
        self.writeGraph = writeGraph
        self.batchFrequency = batchFrequency
    }

    public func onTrainBegin(model: Model) throws {
        validation = nil
        batches = 0
        guard Collectives.isRoot else { train = nil; return }  // data-parallel ranks: rank 0 logs
        train = try SummaryWriter(logDirectory: logDirectory.appendingPathComponent("train"),
                                  graph: writeGraph ? model.graph : nil)
    }

    public func onBatchEnd(_ batch: Int, logs: [String: Double], model: Model) throws {
        defer { batches += 1 }
        guard let every = batchFrequency, every > 0, batches % every == 0, let train else { return }
        for (name, value) in logs.sorted(by: { $0.key < $1.key }) { try train.addScalar("batch_\(name)", value, step: batches) }
    }

    public func onEpochEnd(_ epoch: Int, logs: [String: Double], model: Model) throws {
        guard let train else { return }
        for (name, value) in logs.sorted(by: { $0.key < $1.key }) {
            if name.hasPrefix("val_") {
                if validation == nil { validation = try SummaryWriter(logDirectory: logDirectory.appendingPathComponent("validation")) }
                try validation?.addScalar("epoch_\(name.dropFirst(4))", value, step: epoch)
            } else {
                try train.addScalar("epoch_\(name)", value, step: epoch)
            }
        }
        if histogramFrequency > 0 && epoch % histogramFrequency == 0 {
            for (variable, value) in zip(model.variables, try model.weightValues()) where value.dtype.isFloatingPoint {
                try train.addHistogram(variable.name, value, step: epoch)
            }
        }
        try train.flush()
        try validation?.flush()
    }

    public func onTrainEnd(model: Model) throws {
        try train?.close()
        try validation?.close()
        train = nil
        validation = nil
    }
}
