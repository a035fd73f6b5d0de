/// String ops: the file-name plumbing that TF's savers build (`StringJoin`,
/// `ShardedFilename`, the `s3://` test `StaticRegexFullMatch`), with TF's semantics.
enum StringOps {
    static let definitions: [OpDef] = [
        OpDef("StringJoin", inputs: ["inputs: N * string"], outputs: ["output: string"],
              attrs: [.int("N", minimum: 0), .string("separator", default: "")], gradient: .notDifferentiable) { c in
            var shape = TensorShape.scalar
            for i in 0..<c.inputCount where c.shape(i).rank != 0 {
                guard let merged = shape.rank == 0 ? c.shape(i) : shape.merged(with: c.shape(i)) else {
                    throw ShapeError("Non-scalar inputs must have the same shape: \(shape) and \(c.shape(i))")
                }
                shape = merged
            }
            return [shape]
        },
        OpDef("ShardedFilename", inputs: ["basename: string", "shard: int32", "num_shards: int32"], outputs: ["filename: string"],
              gradient: .notDifferentiable, shape: Shapes.scalar),
        OpDef("ShardedFilespec", inputs: ["basename: string", "num_shards: int32"], outputs: ["filename: string"],
              gradient: .notDifferentiable, shape: Shapes.scalar),
        OpDef("StaticRegexFullMatch", inputs: ["input: string"], outputs: ["output: bool"], attrs: [.string("pattern")],
              gradient: .notDifferentiable) { c in
            do { _ = try ByteRegex(c.string("pattern")) } catch let e as ByteRegex.SyntaxError {
                throw ShapeError("Invalid pattern: \(c.string("pattern")), error: \(e.message)")
            }
            return [c.shape(0)]
        },
        OpDef("RegexFullMatch", inputs: ["input: string", "pattern: string"], outputs: ["output: bool"],
              gradient: .notDifferentiable) { c in
            guard c.shape(1).rank ?? 0 == 0 else { throw ShapeError("Pattern must be a scalar, but is \(c.shape(1))") }
            return [c.shape(0)]
        },
    ]
}

extension Graph {
    /// A string constant.
    public func constant(_ string: String, name: String? = nil, file: String = #fileID, line: Int = #line) throws -> Output {
        try constant(Tensor(string), name: name, file: file, line: line)
    }
}

/// The elementwise concatenation of string tensors (scalars broadcast), with `separator`.
public func stringJoin(_ inputs: [Output], separator: String = "", name: String? = nil,
                       file: String = #fileID, line: Int = #line) throws -> Output {
    guard let first = inputs.first else { throw SomaError.invalidArgument("stringJoin needs at least one input") }
    return try first.graph.output("StringJoin", inputs, attrs: ["separator": .string(separator)], name: name ?? "StringJoin",
                                  file: file, line: line)
}
