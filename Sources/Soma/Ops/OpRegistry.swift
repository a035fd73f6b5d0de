/// Every op Soma knows, by TF name: the union of the per-family tables in `Ops/`.
public enum OpRegistry {
    /// All op definitions, keyed by TF op name.
    public static let ops: [String: OpDef] = {
        let families: [[OpDef]] = [
            StateOps.definitions, MathOps.definitions, NNOps.definitions, LinalgOps.definitions,
            ReductionOps.definitions, ArrayOps.definitions, FusedOps.definitions, TrainingOps.definitions,
            RandomOps.definitions, ConvOps.definitions, RNNOps.definitions, ResourceOps.definitions,
            StringOps.definitions, IOOps.definitions, LoggingOps.definitions, ControlFlowOps.definitions, ListOps.definitions,
            SummaryOps.definitions,
        ]
        var table: [String: OpDef] = [:]
        for def in families.joined() {
            precondition(table[def.name] == nil, "op \(def.name) declared twice")
            table[def.name] = def
        }
        // Each family's gradient table sits next to its op table.
        let gradients: [[String: GradientFunction]] = [
            StateOps.gradients, MathOps.gradients, NNOps.gradients, LinalgOps.gradients, ReductionOps.gradients,
            ArrayOps.gradients, TrainingOps.gradients, ConvOps.gradients, RNNOps.gradients, ControlFlowOps.gradients, ListOps.gradients,
        ]
        for (name, function) in gradients.joined() {
            guard case .pending? = table[name]?.gradient else {
                preconditionFailure("gradient for \(name): the op is unknown, not differentiable, or has a gradient already")
            }
            table[name]!.gradient = .function(function)
        }
        return table
    }()

    public static func lookup(_ name: String) -> OpDef? { ops[name] }
}
