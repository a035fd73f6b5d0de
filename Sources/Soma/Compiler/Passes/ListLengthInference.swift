/// A `TensorListStack` whose `num_elements` is unset (`-1`) gets the length its list is
/// known to have, and the graph's shapes are inferred again: the stacked tensor's first
/// dimension, and so the shapes of everything after it, become static.
///
/// What it is for: a Keras LSTM or GRU layer returning sequences of a length the graph
/// leaves open (`None` time steps) reserves its output list with the sequence's length,
/// fills it in a `While` and stacks it with `num_elements = -1` — so the stack's shape, and
/// every layer after it, stayed dynamic even with the input's shape fed: each of those
/// steps inferred its shapes as it ran, allocating as it went (a Keras LSTM returning
/// sequences into a GRU: 184 allocations a run). TF's grappler infers the same lengths
/// (its shape inference follows a list's `TensorListReserve` through the loop).
///
/// A list's length is known where, through `Identity`s and loop variables, it comes from a
/// `TensorListReserve` of a constant length or a `TensorListFromTensor` of a tensor whose
/// first dimension is known, and is changed on the way only by `TensorListSetItem`s that
/// never resize (`resize_if_index_out_of_bounds` false): in a `While`'s body, the variable's
/// result is its argument through such set-items and identities alone, so every iteration
/// keeps the length it came in with.
///
/// Contract: outputs do not change — the stack's kernel checks a list's length against
/// `num_elements` and the length is the one it has. Guards: only `num_elements = -1`; the
/// walk up a chain of lists is iterative and bounded (``maximumChain``), so a file cannot
/// make it recurse or run long.
struct ListLengthInference: CompilerPass {
    static let name = "list_length_inference"

    /// The most list-producing nodes one length is traced through.
    static let maximumChain = 256

    func run(_ ir: IRGraph, _ context: PassContext) throws {
        let chains = IdentityChains()
        var changed = false
        for node in ir.nodes where node.op == "TensorListStack" && (node.int("num_elements") ?? -1) < 0 {
            guard let n = Self.length(of: node.inputs[0], chains: chains) else { continue }
            node.attrs["num_elements"] = .int(n)
            changed = true
        }
        guard changed else { return }
        for node in ir.nodes where !node.isFeed && !node.isConstant {
            try ir.inferShapes(node, chains: chains)
        }
    }

    /// The length of list `value`, where it is known (see the type's contract).
    static func length(of value: IRValue, chains: IdentityChains) -> Int? {
        var current = chains.resolve(value)
        for _ in 0..<maximumChain {
            let node = current.node
            switch node.op {
            case "TensorListReserve":
                guard let count = KnownValues.constant(node.inputs[1], resolve: chains.resolve)?.intScalars(),
                      count.count == 1, count[0] >= 0 else { return nil }
                return count[0]
            case "TensorListFromTensor":
                guard let first = node.inputs[0].shape.dimensions?.first, let n = first else { return nil }
                return n
            case "TensorListSetItem" where node.bool("resize_if_index_out_of_bounds") != true:
                current = chains.resolve(node.inputs[0])
            case "While", "StatelessWhile":
                guard case .function(let body)? = node.attrs["body"], current.index < node.inputs.count,
                      keepsLength(body, variable: current.index) else { return nil }
                current = chains.resolve(node.inputs[current.index])
            default:
                return nil
            }
        }
        return nil
    }

    /// Whether `body`'s result `k` is its argument `k` through non-resizing set-items and
    /// identities alone.
    static func keepsLength(_ body: GraphFunction, variable k: Int) -> Bool {
        guard k < body.results.count, k < body.arguments.count else { return false }
        let argument = body.arguments[k].node
        var node = body.results[k].node
        for _ in 0..<maximumChain {
            if node === argument { return true }
            switch node.op {
            case "Identity", "StopGradient":
                guard let input = node.inputs.first else { return false }
                node = input.node
            case "TensorListSetItem" where node.bool("resize_if_index_out_of_bounds") != true:
                guard let input = node.inputs.first else { return false }
                node = input.node
            default:
                return false
            }
        }
        return false
    }
}
