/// One loop instead of two when a loop is differentiated: the forward `While` and the
/// accumulating twin its gradient built (the same loop over the same inputs, pushing each
/// iteration's values onto lists; it names the forward loop in `_soma_accumulates`) compute
/// the same outputs, so the forward loop's consumers read the twin's and the forward loop
/// is dropped.
///
/// Contract: outputs do not change — the twin's first outputs are the forward loop's by
/// construction (its body returns the forward body's results first). Guards: only when
/// compiling a plan (a saved graph keeps both nodes' names); the twin's leading inputs are
/// exactly the forward loop's, neither has control inputs, and the twin does not depend on
/// the forward loop (which would make a cycle).
struct LoopAccumulatorSharing: CompilerPass {
    static let name = "loop_accumulator_sharing"

    func run(_ ir: IRGraph, _ context: PassContext) throws {
        guard context.forPlan else { return }
        var byName: [String: IRNode] = [:]
        for node in ir.nodes { byName[node.name] = node }
        var shared = false
        for twin in ir.nodes where twin.op == "While" || twin.op == "StatelessWhile" {
            guard case .string(let original)? = twin.attrs["_soma_accumulates"], let forward = byName[original],
                  forward !== twin, forward.op == twin.op, forward.inputs.count < twin.inputs.count,
                  Array(twin.inputs.prefix(forward.inputs.count)) == forward.inputs,
                  forward.controlInputs.isEmpty, twin.controlInputs.isEmpty, !Self.depends(twin, on: forward) else { continue }
            for k in forward.outputTypes.indices { ir.replaceUses(of: IRValue(forward, k), with: IRValue(twin, k)) }
            shared = true
        }
        if shared { ir.restoreTopologicalOrder() }
    }

    /// Whether `node` reads (through any chain of inputs) an output of `other`.
    static func depends(_ node: IRNode, on other: IRNode) -> Bool {
        var seen: Set<Int> = [], stack = node.inputs.map(\.node) + node.controlInputs
        while let n = stack.popLast() {
            if n === other { return true }
            guard seen.insert(n.id).inserted else { continue }
            stack += n.inputs.map(\.node) + n.controlInputs
        }
        return false
    }
}
