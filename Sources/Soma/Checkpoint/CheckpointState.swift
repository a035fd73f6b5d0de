import Foundation

/// The `checkpoint` file TF keeps beside its checkpoints: a text-format
/// `CheckpointState` naming the latest checkpoint and the ones kept.
///
/// ```
/// model_checkpoint_path: "model.ckpt-20"
/// all_model_checkpoint_paths: "model.ckpt-10"
/// all_model_checkpoint_paths: "model.ckpt-20"
/// ```
///
/// Paths are relative to the folder (TF also accepts absolute ones, and so does Soma).
public struct CheckpointState: Equatable, Sendable {
    /// The latest checkpoint's prefix.
    public var latest: String
    /// Every kept checkpoint's prefix, oldest first (the latest last).
    public var all: [String]
    /// Seconds since 1970 at which each of `all` was saved (TF 2.x writes them).
    public var timestamps: [Double] = []
    public var lastPreservedTimestamp: Double? = nil

    public init(latest: String, all: [String], timestamps: [Double] = [], lastPreservedTimestamp: Double? = nil) {
        self.latest = latest
        self.all = all
        self.timestamps = timestamps
        self.lastPreservedTimestamp = lastPreservedTimestamp
    }

    static let fileName = "checkpoint"

    /// Reads `folder/checkpoint`, or `nil` when there is none.
    /// - Throws: `DataLoss` naming the line that does not parse.
    public static func read(in folder: URL) throws -> CheckpointState? {
        let url = folder.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let bytes = try FileBytes.read(url.path, limit: 1 << 24, budget: MemoryBudget(), what: "checkpoint state file")
        return try parse(bytes, file: url.path)
    }

    /// Parses the text of a state file (`file` names it in errors).
    static func parse(_ bytes: [UInt8], file: String) throws -> CheckpointState {
        let text = String(decoding: bytes, as: UTF8.self)
        let shown = file.escapingControlCharacters
        var state = CheckpointState(latest: "", all: [])
        for (n, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            guard let colon = line.firstIndex(of: ":") else {
                throw SomaError.dataLoss("'\(shown)' line \(n + 1): expected 'field: value'")
            }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces).escapingControlCharacters
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            func string() throws -> String {
                guard let s = unquote(value) else { throw SomaError.dataLoss("'\(shown)' line \(n + 1): \(key) is not a quoted string") }
                return s
            }
            func number() throws -> Double {
                guard let d = Double(value) else { throw SomaError.dataLoss("'\(shown)' line \(n + 1): \(key) is not a number") }
                return d
            }
            switch key {
            case "model_checkpoint_path": state.latest = try string()
            case "all_model_checkpoint_paths": state.all.append(try string())
            case "all_model_checkpoint_timestamps": state.timestamps.append(try number())
            case "last_preserved_timestamp": state.lastPreservedTimestamp = try number()
            default: continue  // fields of later TF versions
            }
        }
        guard !state.latest.isEmpty else { throw SomaError.dataLoss("'\(shown)' names no model_checkpoint_path") }
        if state.all.last != state.latest { state.all.removeAll { $0 == state.latest }; state.all.append(state.latest) }
        return state
    }

    /// Writes `folder/checkpoint` atomically.
    public func write(in folder: URL) throws {
        var text = "model_checkpoint_path: \(quote(latest))\n"
        for path in all { text += "all_model_checkpoint_paths: \(quote(path))\n" }
        for t in timestamps { text += "all_model_checkpoint_timestamps: \(t)\n" }
        if let t = lastPreservedTimestamp { text += "last_preserved_timestamp: \(t)\n" }
        try AtomicFile.write(Array(text.utf8), to: folder.appendingPathComponent(Self.fileName))
    }

    /// `path` as a prefix usable from the current directory (relative ones are in `folder`).
    static func resolve(_ path: String, in folder: URL) -> String {
        path.hasPrefix("/") ? path : folder.appendingPathComponent(path).path
    }
}

/// A text-format string literal: C escapes, octal bytes.
private func quote(_ s: String) -> String {
    var out = "\""
    for byte in s.utf8 {
        switch byte {
        case UInt8(ascii: "\""): out += "\\\""
        case UInt8(ascii: "\\"): out += "\\\\"
        case UInt8(ascii: "\n"): out += "\\n"
        case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(byte))
        default: out += "\\" + String(byte, radix: 8).leftPadded(to: 3)
        }
    }
    return out + "\""
}

private func unquote(_ literal: String) -> String? {
    let chars = Array(literal.utf8)
    guard chars.count >= 2, let q = chars.first, q == UInt8(ascii: "\"") || q == UInt8(ascii: "'"), chars.last == q else { return nil }
    var bytes: [UInt8] = []
    var i = 1
    while i < chars.count - 1 {
        let c = chars[i]
        guard c == UInt8(ascii: "\\") else { bytes.append(c); i += 1; continue }
        i += 1
        guard i < chars.count - 1 else { return nil }
        let e = chars[i]
        switch e {
        case UInt8(ascii: "n"): bytes.append(10); i += 1
        case UInt8(ascii: "t"): bytes.append(9); i += 1
        case UInt8(ascii: "r"): bytes.append(13); i += 1
        case UInt8(ascii: "0")...UInt8(ascii: "7"):
            var v = 0, k = 0
            while k < 3 && i < chars.count - 1 && (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(chars[i]) {
                v = v * 8 + Int(chars[i] - UInt8(ascii: "0"))
                i += 1
                k += 1
            }
            bytes.append(UInt8(truncatingIfNeeded: v))
        default: bytes.append(e); i += 1
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

extension String {
    fileprivate func leftPadded(to n: Int) -> String { String(repeating: "0", count: Swift.max(0, n - count)) + self }
}
