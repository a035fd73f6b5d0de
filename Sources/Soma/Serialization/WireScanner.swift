/// A structural check of protobuf bytes before protobuf-c unpacks them.
///
/// protobuf-c reports a malformed buffer only as `NULL`, and a buffer cut at a field
/// boundary parses as a smaller valid message. The scanner walks the wire format of the
/// GraphDef schema first and names what is wrong and where: a bad tag, a varint that does
/// not end, a length running past its enclosing message, a group (unsupported), or nesting
/// deeper than ``maxDepth``. It allocates nothing.
///
/// - Complexity: O(n) in the buffer size.
struct WireScanner {
    /// The message types of the GraphDef and SavedModel schemas whose fields the scanner
    /// descends into: every path from a root to `AttrValue`, the one recursive message
    /// (through `NameAttrList`), so protobuf-c's recursion is bounded before it starts.
    enum Message: String {
        case graphDef = "GraphDef", nodeDef = "NodeDef", attrEntry = "NodeDef.AttrEntry", attrValue = "AttrValue"
        case listValue = "AttrValue.ListValue", tensor = "TensorProto", shape = "TensorShapeProto"
        case dim = "TensorShapeProto.Dim", versions = "VersionDef", nameAttrList = "NameAttrList"
        case nameAttrEntry = "NameAttrList.AttrEntry"
        case library = "FunctionDefLibrary", function = "FunctionDef", functionAttrEntry = "FunctionDef.AttrEntry"
        case argAttrEntry = "FunctionDef.ArgAttrEntry", argAttrs = "FunctionDef.ArgAttrs"
        case argAttrsEntry = "FunctionDef.ArgAttrs.AttrEntry", opDef = "OpDef", opAttrDef = "OpDef.AttrDef"
        case opList = "OpList", savedModel = "SavedModel", metaGraph = "MetaGraphDef", metaInfo = "MetaGraphDef.MetaInfoDef"

        /// The name and message type of a length-delimited field, when it is a message.
        func child(_ field: UInt64) -> (name: String, type: Message)? {
            switch (self, field) {
            case (.graphDef, 1): ("node", .nodeDef)
            case (.graphDef, 2): ("library", .library)
            case (.graphDef, 4): ("versions", .versions)
            case (.nodeDef, 5): ("attr", .attrEntry)
            case (.attrEntry, 2), (.functionAttrEntry, 2), (.argAttrsEntry, 2): ("value", .attrValue)
            case (.attrValue, 1): ("list", .listValue)
            case (.attrValue, 7), (.listValue, 7): ("shape", .shape)
            case (.tensor, 2): ("tensor_shape", .shape)
            case (.attrValue, 8), (.listValue, 8): ("tensor", .tensor)
            // Function values: the recursive part of TF's schema.
            case (.attrValue, 10), (.listValue, 9): ("func", .nameAttrList)
            case (.nameAttrList, 2): ("attr", .nameAttrEntry)
            case (.nameAttrEntry, 2): ("value", .attrValue)
            case (.shape, 2): ("dim", .dim)
            case (.library, 1): ("function", .function)
            case (.function, 1): ("signature", .opDef)
            case (.function, 3): ("node_def", .nodeDef)
            case (.function, 5): ("attr", .functionAttrEntry)
            case (.function, 7): ("arg_attr", .argAttrEntry)
            case (.argAttrEntry, 2): ("value", .argAttrs)
            case (.argAttrs, 1): ("attr", .argAttrsEntry)
            case (.opDef, 4): ("attr", .opAttrDef)
            case (.opAttrDef, 3): ("default_value", .attrValue)
            case (.opAttrDef, 7): ("allowed_values", .attrValue)
            case (.opList, 1): ("op", .opDef)
            case (.savedModel, 2): ("meta_graphs", .metaGraph)
            case (.metaGraph, 1): ("meta_info_def", .metaInfo)
            case (.metaGraph, 2): ("graph_def", .graphDef)
            case (.metaInfo, 2): ("stripped_op_list", .opList)
            default: nil
            }
        }
    }

    /// Deeper nesting is refused. TF's non-recursive part of the schema nests 12 deep (a
    /// SavedModel's function bodies); only function-valued attributes recurse.
    static let maxDepth = 64

    struct Failure: Error {
        let message: String
    }

    let bytes: UnsafeRawBufferPointer

    /// Checks `bytes` as a serialized `root` message.
    static func check(_ bytes: UnsafeRawBufferPointer, as root: Message = .graphDef) throws {
        var path: [Step] = []
        try WireScanner(bytes: bytes).scan(root, from: 0, to: bytes.count, path: &path, root: root)
    }

    /// One level of the path to where the scan is: a field of a message, and which
    /// occurrence of it. Rendered only when something is wrong.
    private struct Step {
        let name: String
        let index: Int
    }

    private static func render(_ root: Message, _ path: [Step], field: UInt64? = nil) -> String {
        var text = root.rawValue
        for step in path { text += ".\(step.name)[\(step.index)]" }
        if let field { text += ".\(field)" }
        return text
    }

    private func varint(at offset: inout Int, end: Int, path: @autoclosure () -> String) throws -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < end else { throw Failure(message: "\(path()): truncated varint at byte \(offset)") }
            let byte = bytes[offset]
            offset += 1
            guard shift < 64 else { throw Failure(message: "\(path()): varint longer than 10 bytes at byte \(offset)") }
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
    }

    /// Recursion here is bounded by ``maxDepth``, checked before each level.
    private func scan(_ message: Message, from start: Int, to end: Int, path: inout [Step], root: Message) throws {
        guard path.count < WireScanner.maxDepth else {
            throw Failure(message: "\(Self.render(root, path)): nesting deeper than \(WireScanner.maxDepth) levels")
        }
        var offset = start
        // Occurrences so far of each message field (few per message type).
        var seen: [(field: UInt64, count: Int)] = []
        while offset < end {
            let tagStart = offset
            let tag = try varint(at: &offset, end: end, path: Self.render(root, path))
            let field = tag >> 3, wireType = tag & 7
            guard field >= 1 && field <= 536_870_911 else {
                throw Failure(message: "\(Self.render(root, path)): invalid field number \(field) at byte \(tagStart)")
            }
            switch wireType {
            case 0:
                _ = try varint(at: &offset, end: end, path: Self.render(root, path, field: field))
            case 1, 5:
                let size = wireType == 1 ? 8 : 4
                guard end - offset >= size else {
                    throw Failure(message: "\(Self.render(root, path)): field \(field) at byte \(tagStart) needs \(size) bytes but \(end - offset) remain")
                }
                offset += size
            case 2:
                let length = try varint(at: &offset, end: end, path: Self.render(root, path, field: field))
                guard length <= UInt64(end - offset) else {
                    throw Failure(message: "\(Self.render(root, path)): field \(field) at byte \(tagStart) declares \(length) bytes but only \(end - offset) remain")
                }
                if let child = message.child(field) {
                    let k: Int
                    if let i = seen.firstIndex(where: { $0.field == field }) {
                        k = seen[i].count
                        seen[i].count += 1
                    } else {
                        k = 0
                        seen.append((field, 1))
                    }
                    path.append(Step(name: child.name, index: k))
                    try scan(child.type, from: offset, to: offset + Int(length), path: &path, root: root)
                    path.removeLast()
                }
                offset += Int(length)
            default:
                throw Failure(message: "\(Self.render(root, path)): field \(field) at byte \(tagStart) has unsupported wire type \(wireType)")
            }
        }
    }
}
