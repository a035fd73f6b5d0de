/// Where in Swift a node was created, for error messages.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    /// `#fileID` of the call site (`Module/File.swift`).
    public let fileID: String
    public let line: Int

    public init(fileID: String, line: Int) {
        self.fileID = fileID
        self.line = line
    }

    /// `File.swift:42` — the file name without its module.
    public var description: String {
        let file = fileID.split(separator: "/").last.map(String.init) ?? fileID
        return "\(file):\(line)"
    }
}
