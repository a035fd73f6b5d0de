/// An error from building, compiling or running a graph.
///
/// Codes follow TensorFlow's status codes; messages follow TF's wording and name the node,
/// the op, the shapes involved and, for nodes built in Swift, the call site.
public struct SomaError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case invalidArgument = "InvalidArgument"
        case failedPrecondition = "FailedPrecondition"
        case notFound = "NotFound"
        case unimplemented = "Unimplemented"
        case outOfRange = "OutOfRange"
        case resourceExhausted = "ResourceExhausted"
        case dataLoss = "DataLoss"
        case alreadyExists = "AlreadyExists"
        case `internal` = "Internal"
        /// A peer or transport failed (a collective whose other ranks are gone).
        case unavailable = "Unavailable"
    }

    public let code: Code
    /// One line: control characters (which may come from a hostile file's names and
    /// strings) are escaped, so a message can neither break lines nor drive the terminal.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message.escapingControlCharacters
    }

    public static func invalidArgument(_ m: String) -> SomaError { .init(.invalidArgument, m) }
    public static func failedPrecondition(_ m: String) -> SomaError { .init(.failedPrecondition, m) }
    public static func notFound(_ m: String) -> SomaError { .init(.notFound, m) }
    public static func unimplemented(_ m: String) -> SomaError { .init(.unimplemented, m) }
    public static func dataLoss(_ m: String) -> SomaError { .init(.dataLoss, m) }

    public var description: String { "\(code.rawValue): \(message)" }
}

extension SomaError {
    /// TF's wording for a node's failure: `<message> for 'dense/MatMul' (op: 'MatMul') with
    /// input shapes: [?,3], [4,5] (created at Model.swift:42)`.
    static func nodeFailure(
        _ message: String, node: String, op: String, inputShapes: [String]? = nil,
        location: SourceLocation? = nil, code: Code = .invalidArgument
    ) -> SomaError {
        var text = "\(message) for '\(node)' (op: '\(op)')"
        if let shapes = inputShapes, !shapes.isEmpty { text += " with input shapes: " + shapes.joined(separator: ", ") }
        if let location { text += " (created at \(location))" }
        return SomaError(code, text)
    }
}

extension String {
    /// The string with every character that could rewrite a terminal escaped Swift-style:
    /// `\n`, `\r`, `\t`, and `\u{1b}` for other C0/C1 controls, DEL and the bidirectional
    /// overrides and isolates (U+202A–U+202E, U+2066–U+2069). Names and strings from model
    /// files pass through this before they reach an error message or `graphtool` output.
    public var escapingControlCharacters: String {
        guard unicodeScalars.contains(where: Self.needsEscape) else { return self }
        var out = ""
        out.reserveCapacity(utf8.count + 8)
        for scalar in unicodeScalars {
            guard Self.needsEscape(scalar) else { out.unicodeScalars.append(scalar); continue }
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out += "\\u{\(String(scalar.value, radix: 16))}"
            }
        }
        return out
    }

    private static func needsEscape(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0..<0x20, 0x7F..<0xA0, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }
}
