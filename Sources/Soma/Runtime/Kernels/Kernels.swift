/// The CPU kernel table: every family's kernels, by TF op name.
enum Kernels {
    static let table: [String: CPUKernel] = {
        var table: [String: CPUKernel] = [:]
        let families: [[String: CPUKernel]] = [
            StateKernels.table, MathKernels.table, NNKernels.table, LinalgKernels.table,
            ReductionKernels.table, ArrayKernels.table, ArrayKernels.gradientTable, FusedKernels.table,
            TrainingKernels.table, RandomKernels.table, ConvKernels.table, RNNKernels.table, ResourceKernels.table,
            StringKernels.table, IOKernels.table, LoggingKernels.table, ControlFlowKernels.table, ListKernels.table,
            SummaryKernels.table, CollectiveKernels.table,
        ]
        for family in families {
            table.merge(family) { _, _ in preconditionFailure("a kernel is registered twice") }
        }
        return table
    }()

    /// Whether an op has a CPU kernel.
    static func hasKernel(_ op: String) -> Bool { table[op] != nil }

    /// Runs one node: concrete shape inference with the op's own shape function, then
    /// the kernel, then a check that the kernel produced what the shape function said.
    ///
    /// - Throws: ``SomaError`` in TF's wording, naming the node, op, input shapes and call site.
    static func run(_ node: KernelNode, definition: OpDef, inputs: [Tensor], state: SessionState,
                    maxTensorBytes: Int = .max) throws -> [Tensor] {
        func failure(_ message: String, code: SomaError.Code = .invalidArgument) -> SomaError {
            .nodeFailure(message, node: node.name, op: node.op, inputShapes: inputs.map { shapeString($0.shape) },
                         location: node.location, code: code)
        }
        guard let kernel = table[node.op] else {
            throw SomaError.unimplemented("No CPU kernel registered for op '\(node.op)' (node '\(node.name)')")
        }
        let context = ShapeContext(
            inputShapes: inputs.map { TensorShape($0.shape) }, inputTypes: inputs.map(\.dtype), attrs: node.attrs,
            values: inputs, shapeValues: Array(repeating: nil, count: inputs.count), valuesAreFinal: true)
        let inferred: [TensorShape]
        do {
            inferred = try definition.shapeFunction(context)
        } catch let error as ShapeError {
            throw failure(error.message)
        }
        let outputShapes = inferred.map(\.concrete)
        for (shape, dtype) in zip(outputShapes, node.outputTypes) {
            guard let dims = shape else { continue }
            guard let count = checkedProduct(dims), count <= maxTensorBytes / dtype.byteSize else {
                throw SomaError.nodeFailure(
                    "Output of shape \(shapeString(dims)) and dtype \(dtype) exceeds the session's \(maxTensorBytes)-byte tensor limit",
                    node: node.name, op: node.op, inputShapes: inputs.map { shapeString($0.shape) }, location: node.location,
                    code: .resourceExhausted)
            }
        }
        let produced: [Tensor?]
        do {
            produced = try KernelContext.withContext(node: node, inputCount: inputs.count, readInput: { inputs[$0] }) { buffer, slots in
                try kernel(KernelContext(node: node, inputs: buffer, outputShapes: outputShapes, state: state, outputSlots: slots))
                return (0..<node.outputCount).map { slots[$0] }
            }
        } catch let error as KernelError {
            throw failure(error.message, code: error.code)
        } catch let error as ShapeError {
            throw failure(error.message)
        }
        let outputs = produced.compactMap { $0 }
        guard outputs.count == node.outputCount,
              zip(outputs, inferred).allSatisfy({ $1.isCompatible(with: $0.shape) }),
              zip(outputs, node.outputTypes).allSatisfy({ $0.dtype == $1 }) else {
            throw SomaError(.internal, "kernel for \(node) produced \(outputs.map { "\($0.dtype)\(shapeString($0.shape))" })"
                            + " but its shape function expects \(inferred)")
        }
        return outputs
    }
}
