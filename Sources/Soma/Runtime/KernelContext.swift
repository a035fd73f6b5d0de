/// A failure inside a kernel, in TF's wording; the executor adds the node, op, input
/// shapes and call site.
struct KernelError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// What a CPU kernel sees when it runs one node.
///
/// The executor has already run the op's shape function on the concrete inputs, so
/// `outputShapes` are exact — except for the few ops whose output is not a function of
/// their inputs' shapes and values (a placeholder's default can be overridden by a feed),
/// where the shape stays `nil` and the kernel's output is checked against the partial shape.
struct KernelContext {
    let node: Node
    let inputs: [Tensor]
    let outputShapes: [[Int]?]
    let state: SessionState

    /// A fresh, zero-filled tensor for output `i`.
    func allocateOutput(_ i: Int) -> Tensor {
        guard let shape = outputShapes[i] else { preconditionFailure("output \(i) of \(node) has no concrete shape") }
        return Tensor(zeros: node.outputTypes[i], shape: shape)
    }

    /// Input `i` viewed with output `o`'s shape, without copying (reshapes, identities).
    func forward(_ i: Int, as o: Int = 0) -> Tensor { inputs[i].reshaped(to: outputShapes[o] ?? inputs[i].shape) }

    /// The session key of the variable behind ref input `i`.
    func variableKey(ofInput i: Int) -> String { node.inputs[i].node.variableKey }
}

/// A CPU kernel: fills the outputs of one node from its inputs.
typealias CPUKernel = @Sendable (KernelContext) throws -> [Tensor]

extension Node {
    /// The key under which a `VariableV2` node's value lives in a session: its
    /// `shared_name`, or its node name.
    var variableKey: String {
        if let shared = string("shared_name"), !shared.isEmpty { return shared }
        return name
    }
}
