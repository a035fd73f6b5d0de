/// Every op Soma knows, by TF name: the union of the per-family tables in `Ops/`.
public enum OpRegistry {
    /// All op definitions, keyed by TF op name.
    public static let ops: [String: OpDef] = {
        let families: [[OpDef]] = [
            StateOps.definitions, MathOps.definitions, NNOps.definitions, LinalgOps.definitions,
            ReductionOps.definitions, ArrayOps.definitions, FusedOps.definitions,
        ]
        var table: [String: OpDef] = [:]
        for def in families.joined() {
            precondition(table[def.name] == nil, "op \(def.name) declared twice")
            table[def.name] = def
        }
        return table
    }()

    public static func lookup(_ name: String) -> OpDef? { ops[name] }
}
