/// The plumbing every builder function goes through.
extension Graph {
    /// Adds a node and returns its output `index`.
    @usableFromInline
    func output(
        _ op: String, _ inputs: [Output], attrs: [String: AttrValue] = [:], name: String?,
        controlInputs: [Node] = [], file: String, line: Int, index: Int = 0
    ) throws -> Output {
        let node = try addNode(
            op: op, inputs: inputs, attrs: attrs, name: name, controlInputs: controlInputs,
            location: file.isEmpty ? nil : SourceLocation(fileID: file, line: line))
        return Output(graph: self, node: node, index: index)
    }

    /// Adds a node and returns all its outputs.
    func outputs(
        _ op: String, _ inputs: [Output], attrs: [String: AttrValue] = [:], name: String?,
        file: String, line: Int
    ) throws -> [Output] {
        let node = try addNode(op: op, inputs: inputs, attrs: attrs, name: name,
                               location: file.isEmpty ? nil : SourceLocation(fileID: file, line: line))
        return (0..<node.outputCount).map { Output(graph: self, node: node, index: $0) }
    }

    /// An `Output` handle for an output of one of this graph's nodes.
    public func output(of node: Node, _ index: Int = 0) -> Output {
        precondition(index < node.outputCount, "\(node) has \(node.outputCount) outputs")
        return Output(graph: self, node: node, index: index)
    }
}

extension Output {
    /// A constant of this output's dtype and graph, for mixing Swift numbers into ops.
    func scalarLike(_ value: Double, file: String, line: Int) throws -> Output {
        try graph.constant(Tensor.scalar(value, dtype: dtype), file: file, line: line)
    }
}

extension Tensor {
    /// A scalar of `dtype` holding `value` (converted, saturating for integers).
    public static func scalar(_ value: Double, dtype: DType) -> Tensor {
        switch dtype {
        case .float32: Tensor(Float(value))
        case .float64: Tensor(value)
        case .int32: Tensor(Int32(converting: value))
        case .int64: Tensor(Int64(converting: value))
        case .uint8: Tensor(UInt8(converting: value))
        case .bool: Tensor(value != 0)
        case .string: Tensor(String(value))
        case .resource, .variant: Tensor(zeros: dtype, shape: [])
        }
    }
}
