/// A side-effect-free node whose outputs nothing reads — only control edges lead out of it —
/// becomes a `NoOp` (TF's Grappler `dependency_optimizer`, `SafeToConvertToNoOp`).
///
/// Contract: a node that is not fetched, not a target, has at least one output and no data
/// consumer, and is free of side effects (not stateful, no variable, no function call, not
/// a feed, not a frame op, not `Assert`/`CheckNumerics`/`Identity`) turns into a `NoOp`
/// named as before, its data and control inputs becoming its control inputs — so whatever
/// its consumers were ordered after stays ordered before them, and nothing it only fed is
/// computed. TF's gradients leave such nodes behind: `gradients/…/tuple/group_deps` waits for
/// both of a convolution's gradients, and the first layer's input gradient is never read.
/// Values do not change: the node's outputs were unread.
struct DependencyOptimization: CompilerPass {
    static let name = "dependency_optimizer"

    /// Ops kept although unread: frame ops, checks whose failure is the point, and
    /// `Identity` (as Grappler keeps it; it costs nothing).
    static let kept: Set<String> = ["Assert", "CheckNumerics", "Identity", "Enter", "Exit", "Merge", "Switch", "LoopCond",
                                    "NextIteration", "RefEnter", "RefExit", "RefMerge", "RefSwitch", "RefNextIteration",
                                    "ControlTrigger"]

    func run(_ ir: IRGraph, _ context: PassContext) throws {
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
    }
}
