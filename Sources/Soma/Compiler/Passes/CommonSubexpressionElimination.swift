/// Common-subexpression elimination: nodes with the same op, attributes, inputs and
/// control inputs compute the same value; later ones are replaced by the first.
///
/// Contract: consumers of a duplicate read the first occurrence instead; identical
/// constants merge too. Guards: never stateful ops or feeds; never a fetched duplicate
/// (its name must survive) or one that other nodes name as a control input.
struct CommonSubexpressionElimination: CompilerPass {
    static let name = "common_subexpression_elimination"

    /// What makes two nodes interchangeable. Tensor attributes hash by content.
    struct Key: Hashable {
        let op: String
        let inputs: [IRValue]
        let controls: [Int]
        let attrs: [String: HashableAttr]
    }

    func run(_ ir: IRGraph, _ context: PassContext) throws {
        let fetched = ir.fetchedNodeIDs(), controlSources = ir.controlSources()
        var seen: [Key: IRNode] = [:]
        var replacements: [IRValue: IRValue] = [:]
        for node in ir.nodes {
            node.inputs = node.inputs.map { replacements[$0] ?? $0 }
            guard !node.isStateful, !node.isFeed, !node.def.traits.contains(.variable) else { continue }
            let key = Key(op: node.op, inputs: node.inputs, controls: node.controlInputs.map(\.id).sorted(),
                          attrs: node.attrs.mapValues(HashableAttr.init))
            guard let first = seen[key] else {
                seen[key] = node
                continue
            }
            guard !fetched.contains(node.id), !controlSources.contains(node.id) else { continue }
            for k in 0..<node.outputTypes.count { replacements[IRValue(node, k)] = IRValue(first, k) }
        }
        ir.fetches = ir.fetches.map { replacements[$0] ?? $0 }
    }
}

/// An attribute value usable as a dictionary key; tensors hash their bytes.
struct HashableAttr: Hashable {
    let value: AttrValue

    init(_ value: AttrValue) { self.value = value }

    static func == (a: HashableAttr, b: HashableAttr) -> Bool { a.value == b.value }

    func hash(into h: inout Hasher) {
        switch value {
        case .tensor(let t):
            h.combine(t.dtype)
            h.combine(t.shape)
            h.combine(bytes: UnsafeRawBufferPointer(start: t.rawPointer, count: t.byteCount))
        default:
            h.combine(value.description)
        }
    }
}
