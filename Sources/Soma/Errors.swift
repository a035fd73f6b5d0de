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
        case `internal` = "Internal"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public static func invalidArgument(_ m: String) -> SomaError { .init(.invalidArgument, m) }
    public static func failedPrecondition(_ m: String) -> SomaError { .init(.failedPrecondition, m) }
    public static func notFound(_ m: String) -> SomaError { .init(.notFound, m) }
    public static func unimplemented(_ m: String) -> SomaError { .init(.unimplemented, m) }

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
