/// Every op Soma knows, by TF name: the union of the per-family tables in `Ops/`.
public enum OpRegistry {
    /// All op definitions, keyed by TF op name.
    public static let ops: [String: OpDef] = {
        var table: [String: OpDef] = [:]
        for def in declarations.flatMap(\.definitions) {
            precondition(table[def.name] == nil, "op \(def.name) declared twice")
            table[def.name] = def
        }
        // Each family's gradient table sits next to its op table.
        let gradients: [[String: GradientFunction]] = [
            StateOps.gradients, MathOps.gradients, NNOps.gradients, LinalgOps.gradients, ReductionOps.gradients,
            ArrayOps.gradients, TrainingOps.gradients, ConvOps.gradients, RNNOps.gradients, ControlFlowOps.gradients, ListOps.gradients,
            CollectiveOps.gradients,
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

    /// Each family's ops, by the family's name (its `Ops/` file: `math`, `nn`, `conv`, …).
    static let declarations: [(family: String, definitions: [OpDef])] = [
        ("state", StateOps.definitions), ("math", MathOps.definitions), ("nn", NNOps.definitions),
        ("linalg", LinalgOps.definitions), ("reduction", ReductionOps.definitions), ("array", ArrayOps.definitions),
        ("fused", FusedOps.definitions), ("training", TrainingOps.definitions), ("random", RandomOps.definitions),
        ("conv", ConvOps.definitions), ("rnn", RNNOps.definitions), ("resource", ResourceOps.definitions),
        ("string", StringOps.definitions), ("io", IOOps.definitions), ("logging", LoggingOps.definitions),
        ("control_flow", ControlFlowOps.definitions), ("list", ListOps.definitions), ("summary", SummaryOps.definitions),
        ("collective", CollectiveOps.definitions),
    ]

    /// Each op's family, for grouping and colouring.
    static let families: [String: String] = {
        var table: [String: String] = [:]
        for (family, definitions) in declarations { for d in definitions { table[d.name] = family } }
        return table
    }()
}
