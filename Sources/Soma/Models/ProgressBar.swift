import Foundation

/// Keras' training progress display: on a terminal, a bar redrawn in place,
///
///     37/47 [======================>.......] - ETA: 1s - loss: 0.3100 - accuracy: 0.9100
///
/// ending in `47/47 [==============================] - 1s 12ms/step - loss: … - val_loss: …`;
/// elsewhere (a log file, a pipe) one plain line per epoch, `47/47 - 1s - 12ms/step - loss: …`.
/// Rendering is pure (``line(step:elapsed:values:)``, ``finalLine(elapsed:values:)``); the
/// ``ProgressPrinter`` writes.
public struct ProgressBar: Sendable {
    /// Steps in the epoch.
    public let total: Int
    /// Characters between the brackets.
    public let width: Int

    public init(total: Int, width: Int = 30) {
        self.total = total
        self.width = width
    }

    /// `step/total`, the step right-aligned to the total's width.
    private func counter(_ step: Int) -> String {
        let digits = String(total).count
        return String(repeating: " ", count: Swift.max(0, digits - String(step).count)) + "\(step)/\(total)"
    }

    /// `[=====>....]` for `step` of ``total``.
    public func bar(step: Int) -> String {
        let filled = total > 0 ? Swift.min(width, width * step / total) : width
        var s = "["
        if filled > 0 { s += String(repeating: "=", count: filled - 1) + (step < total ? ">" : "=") }
        return s + String(repeating: ".", count: width - filled) + "]"
    }

    /// The in-progress line after `step` steps taking `elapsed` seconds.
    public func line(step: Int, elapsed: Double, values: [(String, Double)]) -> String {
        let eta = step > 0 ? elapsed / Double(step) * Double(total - step) : 0
        return "\(counter(step)) \(bar(step: step)) - ETA: \(ProgressBar.duration(eta))" + ProgressBar.format(values)
    }

    /// The epoch's closing line on a terminal.
    public func finalLine(elapsed: Double, values: [(String, Double)]) -> String {
        "\(counter(total)) \(bar(step: total)) - \(ProgressBar.duration(elapsed)) \(perStep(elapsed))" + ProgressBar.format(values)
    }

    /// The epoch's line when output is not a terminal.
    public func plainLine(elapsed: Double, values: [(String, Double)]) -> String {
        "\(counter(total)) - \(ProgressBar.duration(elapsed)) - \(perStep(elapsed))" + ProgressBar.format(values)
    }

    private func perStep(_ elapsed: Double) -> String {
        let seconds = elapsed / Double(Swift.max(total, 1))
        return seconds >= 1 ? String(format: "%.0fs/step", seconds)
            : seconds >= 1e-3 ? String(format: "%.0fms/step", seconds * 1e3) : String(format: "%.0fus/step", seconds * 1e6)
    }

    /// Keras' durations: `1s`, `1:05`, `1:01:05`.
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s >= 3600 { return String(format: "%d:%02d:%02d", s / 3600, (s % 3600) / 60, s % 60) }
        if s >= 60 { return String(format: "%d:%02d", s / 60, s % 60) }
        return "\(s)s"
    }

    /// ` - name: value` for each value, Keras' `%.4f` (or `%.4e` below 1e-3).
    static func format(_ values: [(String, Double)]) -> String {
        values.map { name, v in
            " - \(name): " + (v != 0 && Swift.abs(v) < 1e-3 ? String(format: "%.4e", v) : String(format: "%.4f", v))
        }.joined()
    }
}

/// Writes `fit`'s progress: the bar redrawn at most 20 times a second on a terminal, or one
/// line per epoch otherwise (to standard output unless given a writer).
final class ProgressPrinter {
    let bar: ProgressBar
    let isTerminal: Bool
    private let start = Date()
    private var lastDraw = Date.distantPast
    private let write: (String) -> Void

    init(steps: Int, isTerminal: Bool = isatty(STDOUT_FILENO) != 0, write: @escaping (String) -> Void = ProgressPrinter.standardOutput) {
        bar = ProgressBar(total: steps)
        self.isTerminal = isTerminal
        self.write = write
    }

    var elapsed: Double { Date().timeIntervalSince(start) }

    func update(step: Int, values: [(String, Double)]) {
        guard isTerminal, step < bar.total, Date().timeIntervalSince(lastDraw) >= 0.05 else { return }
        lastDraw = Date()
        write("\r" + bar.line(step: step, elapsed: elapsed, values: values))
    }

    func finish(values: [(String, Double)]) {
        write(isTerminal ? "\r" + bar.finalLine(elapsed: elapsed, values: values) + "\u{1B}[K\n"
                         : bar.plainLine(elapsed: elapsed, values: values) + "\n")
    }

    /// Through stdio, so it stays in order with the caller's `print`s.
    static func standardOutput(_ s: String) {
        print(s, terminator: "")
        fflush(nil)
    }
}
