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
        /// Attributes sorted by name (hashing a dictionary is slower).
        let attrNames: [String]
        let attrValues: [HashableAttr]
    }

    func run(_ ir: IRGraph, _ context: PassContext) throws {
        let fetched = ir.fetchedNodeIDs(), controlSources = ir.controlSources()
        var seen: [Key: IRNode] = [:]
        seen.reserveCapacity(ir.nodes.count)
        var replacements: [IRValue: IRValue] = [:]
        for node in ir.nodes {
            node.inputs = node.inputs.map { replacements[$0] ?? $0 }
            guard !node.isStateful, !node.isFeed, !node.def.traits.contains(.variable) else { continue }
            let names = node.attrs.keys.sorted()
            let key = Key(op: node.op, inputs: node.inputs, controls: node.controlInputs.map(\.id).sorted(),
                          attrNames: names, attrValues: names.map { HashableAttr(node.attrs[$0]!) })
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
        case .string(let v): h.combine(v)
        case .int(let v): h.combine(v)
        case .float(let v): h.combine(v)
        case .bool(let v): h.combine(v)
        case .type(let v): h.combine(v)
        case .shape(let v): h.combine(v)
        case .strings(let v): h.combine(v)
        case .ints(let v): h.combine(v)
        case .floats(let v): h.combine(v)
        case .bools(let v): h.combine(v)
        case .types(let v): h.combine(v)
        case .shapes(let v): h.combine(v)
        case .function(let f): h.combine(f)
        case .functions(let v): h.combine(v)
        }
    }
}
