/// Nodes that only order others are simplified as TF's Grappler `dependency_optimizer` does:
/// unread side-effect-free nodes become `NoOp`s, and `NoOp`s and constants stop standing
/// between the nodes they order.
///
/// Contract, in three steps:
/// 1. A control edge from a `Const` with no inputs of either kind is dropped: a constant
///    orders nothing (Grappler: "constant nodes … are always executed early").
/// 2. A node that is not fetched, not a target, has at least one output and no data
///    consumer, and is free of side effects (not stateful, no variable, no function call,
///    not a feed, not a frame op, not `Assert`/`CheckNumerics`/`Identity`) turns into a
///    `NoOp` named as before, its data and control inputs becoming its control inputs — so
///    whatever its consumers were ordered after stays ordered before them, and nothing it
///    only fed is computed. TF's gradients leave such nodes behind: `gradients/…/tuple/group_deps`
///    waits for both of a convolution's gradients, and the first layer's input gradient is
///    never read.
/// 3. A `NoOp` is bypassed — each node it ordered is ordered after the `NoOp`'s own control
///    inputs instead — when that adds no edges (inputs × consumers ≤ inputs + consumers,
///    Grappler's `BypassingNodeIsBeneficial`), and removed unless it is a target. Not
///    where the `NoOp`, an input or a consumer is a frame op. A frozen Keras model keeps one
///    `NoOp` per weight (its `ReadVariableOp`s' control outputs): 209 steps of
///    MobileNetV2's 274, queued to the pool on every run.
///
/// Values do not change: the removed outputs were unread, and every ordering between
/// computing nodes holds through the control edges that replace the bypassed ones.
struct DependencyOptimization: CompilerPass {
    static let name = "dependency_optimizer"

    /// Ops kept although unread: frame ops, checks whose failure is the point, and
    /// `Identity` (as Grappler keeps it; it costs nothing).
    static let kept: Set<String> = ["Assert", "CheckNumerics", "Identity", "Enter", "Exit", "Merge", "Switch", "LoopCond",
                                    "NextIteration", "RefEnter", "RefExit", "RefMerge", "RefSwitch", "RefNextIteration",
                                    "ControlTrigger"]

    /// Ops whose control edges carry frame or liveness information: a `NoOp` beside one
    /// stays where it is.
    static let frameOps = kept.subtracting(["Assert", "CheckNumerics", "Identity"])

    func run(_ ir: IRGraph, _ context: PassContext) throws {
        for node in ir.nodes where !node.controlInputs.isEmpty {
            node.controlInputs.removeAll { $0.op == "Const" && $0.inputs.isEmpty && $0.controlInputs.isEmpty }
        }
        let consumers = ir.consumerCounts(), fetched = ir.fetchedNodeIDs(), targets = Set(ir.targets.map(\.id))
        let sideEffects: OpTraits = [.stateful, .variable, .callsFunctions, .writesVariables, .feedable]
        guard let noOp = OpRegistry.lookup("NoOp") else { return }
        for node in ir.nodes where consumers[node.id] == 0 && !node.outputTypes.isEmpty && !fetched.contains(node.id)
            && !targets.contains(node.id) && node.def.traits.isDisjoint(with: sideEffects) && !Self.kept.contains(node.op) {
            var seen = Set<Int>()
            let sources = (node.inputs.map(\.node) + node.controlInputs).filter { seen.insert($0.id).inserted }
            node.def = noOp
            node.inputs = []
            node.controlInputs = sources
            node.attrs = [:]
            node.outputTypes = []
            node.outputShapes = []
        }
        bypassNoOps(ir)
    }

    /// Step 3, in topological order: a `NoOp`'s control inputs are final when it is reached
    /// (they come before it, so those that were `NoOp`s have been bypassed already), and one
    /// sweep suffices. A bypassed target keeps its own control inputs: it still runs.
    private func bypassNoOps(_ ir: IRGraph) {
        var ordered: [Int: [IRNode]] = [:]
        for node in ir.nodes {
            for source in node.controlInputs where source.op == "NoOp" { ordered[source.id, default: []].append(node) }
        }
        for node in ir.nodes where node.op == "NoOp" && node.inputs.isEmpty {
            guard var dependents = ordered[node.id] else { continue }
            var seen = Set<Int>()
            dependents = dependents.filter { seen.insert($0.id).inserted }
            let sources = node.controlInputs
            guard sources.count * dependents.count <= sources.count + dependents.count,
                  !(sources + dependents).contains(where: { Self.frameOps.contains($0.op) }) else { continue }
            for dependent in dependents {
                var present = Set(dependent.controlInputs.map(\.id))
                dependent.controlInputs.removeAll { $0 === node }
                for source in sources where present.insert(source.id).inserted { dependent.controlInputs.append(source) }
            }
            ordered[node.id] = nil
        }
    }
}
