import SomaProto

/// TF1's `TensorArrayV3` family rewritten at load to the TensorList ops TF2's
/// `TensorArray` is built on, so that TF1 graphs (`tf.compat.v1.nn.dynamic_rnn`,
/// `tf.while_loop` over TensorArrays, `map_fn`) run as Soma's own list programs do.
///
/// A v1 TensorArray is a resource `handle` plus a float `flow` that orders its accesses;
/// a TensorList is a value. The rewrite makes the flow carry the list:
///
/// | TF1 | becomes |
/// |---|---|
/// | `TensorArrayV3(size)` → (handle, flow) | `TensorListReserve(element_shape, size)` (the flow) |
/// | `TensorArrayWriteV3(h, index, value, flow)` | `TensorListSetItem(flow, index, value)` (growing when `dynamic_size`) |
/// | `TensorArrayReadV3(h, index, flow)` | `TensorListGetItem(flow, index, element_shape)` |
/// | `TensorArrayGatherV3(h, indices, flow)` | `TensorListGather(flow, indices, element_shape)` |
/// | `TensorArrayScatterV3(h, indices, value, flow)` | `TensorListScatterIntoExistingList(flow, value, indices)` |
/// | `TensorArraySizeV3(h, flow)` | `TensorListLength(flow)` |
/// | `TensorArrayCloseV3(h)` | `NoOp` |
///
/// Handles may travel only through `Enter`/`Identity`/`Switch`/`Merge`/`Exit` into these
/// ops (those carriers are dropped); flows travel through the same ops, whose `T` becomes
/// `DT_VARIANT`. Runs before v1 control flow is raised, so loops over arrays become `While`s
/// over lists. Anything else that reads a handle or a flow — `TensorArrayGradV3` from a
/// graph that holds TF's own gradients, `TensorArrayConcatV3`/`SplitV3` — is one clear error
/// naming the node.
///
/// Differences from TF1 that a correct graph cannot observe: elements are not cleared after
/// a read (`clear_after_read`), and a second write to an index replaces the first rather
/// than failing.
struct V1TensorArrays {
    typealias Node = GraphDefDecoder.ParsedNode
    static let rewritten: Set<String> = [
        "TensorArrayV3", "TensorArrayWriteV3", "TensorArrayReadV3", "TensorArrayGatherV3", "TensorArrayScatterV3",
        "TensorArraySizeV3", "TensorArrayCloseV3",
    ]
    /// Ops that pass a value through unchanged: what handles and flows may travel through.
    static let carriers: Set<String> = ["Enter", "Exit", "Merge", "Switch", "NextIteration", "Identity", "RefEnter",
                                        "RefExit", "RefMerge", "RefSwitch", "RefNextIteration", "RefIdentity"]

    static func fail(_ message: String) -> SomaError { GraphDefDecoder.fail(message) }

    /// Whether any node is a v1 TensorArray op.
    static func hasArrays(_ nodes: [Node]) -> Bool { nodes.contains { $0.op.hasPrefix("TensorArray") } }

    /// What a `TensorArrayV3` node declares.
    private struct Array {
        let dtype: DType
        let elementShape: TensorShape
        let dynamicSize: Bool
    }

    /// `nodes` with every TensorArray op replaced by its TensorList equivalent.
    static func rewrite(_ input: [Node]) throws -> [Node] {
        var nodes = input
        var index: [String: Int] = [:]
        for (i, n) in nodes.enumerated() { index[n.name] = i }
        var consumers = [[Int]](repeating: [], count: nodes.count)
        for (i, n) in nodes.enumerated() {
            for input in n.dataInputs {
                guard let j = index[input.name] else {
                    throw fail("node '\(n.name)' has input '\(input.name)', which is not a node of the graph")
                }
                consumers[j].append(i)
            }
        }
        for n in nodes where n.op.hasPrefix("TensorArray") && !rewritten.contains(n.op) {
            throw fail("node '\(n.name)' (op: '\(n.op)') is not supported: Soma loads TF1 TensorArrays for "
                       + rewritten.sorted().joined(separator: ", ")
                       + (n.op.hasPrefix("TensorArrayGrad") ? " (load the forward graph and differentiate it in Soma)" : ""))
        }

        // The arrays, and every node that carries one's handle (array node name for each).
        var arrays: [String: Array] = [:]
        var handleOf: [Int: String] = [:]
        var work: [Int] = []
        for (i, n) in nodes.enumerated() where n.op == "TensorArrayV3" {
            guard n.dataInputs.count == 1 else { throw fail("node '\(n.name)' (op: 'TensorArrayV3') must have one input (size)") }
            arrays[n.name] = Array(dtype: try n.typeAttr("dtype"), elementShape: try n.shapeAttr("element_shape") ?? .unknown,
                                   dynamicSize: try n.boolAttr("dynamic_size"))
            handleOf[i] = n.name
            work.append(i)
        }
        while let i = work.popLast() {
            for c in consumers[i] {
                let consumer = nodes[c]
                let reads = consumer.dataInputs.indices.filter {
                    consumer.dataInputs[$0].name == nodes[i].name && (nodes[i].op != "TensorArrayV3" || consumer.dataInputs[$0].index == 0)
                }
                guard let k = reads.first else { continue }
                if rewritten.contains(consumer.op) && reads == [0] && consumer.op != "TensorArrayV3" { continue }
                guard carriers.contains(consumer.op), consumer.op.hasSuffix("Merge") || reads == [0] else {
                    throw fail("node '\(consumer.name)' (op: '\(consumer.op)') reads the handle of TensorArray '\(handleOf[i]!)' "
                               + "as input \(k); Soma loads TensorArray handles only as the first input of TensorArray ops")
                }
                if let other = handleOf[c] {
                    guard other == handleOf[i] else {
                        throw fail("node '\(consumer.name)' (op: '\(consumer.op)') merges the handles of TensorArrays '\(other)' "
                                   + "and '\(handleOf[i]!)'")
                    }
                    continue
                }
                handleOf[c] = handleOf[i]
                work.append(c)
            }
        }

        // Flows: the array node's output 1 (which becomes its output 0) and what writes
        // return, through carriers — whose T becomes variant.
        var flowCarriers = Set<Int>()
        work = nodes.indices.filter { ["TensorArrayV3", "TensorArrayWriteV3", "TensorArrayScatterV3"].contains(nodes[$0].op) }
        while let i = work.popLast() {
            for c in consumers[i] where carriers.contains(nodes[c].op) && handleOf[c] == nil && !flowCarriers.contains(c) {
                let flowIndex = nodes[i].op == "TensorArrayV3" ? 1 : 0
                guard nodes[c].dataInputs.contains(where: {
                    $0.name == nodes[i].name && (carriers.contains(nodes[i].op) || $0.index == flowIndex)
                }) else { continue }
                flowCarriers.insert(c)
                work.append(c)
            }
        }
        for c in flowCarriers { nodes[c].attrOverrides["T"] = .type(.variant) }

        // The ops themselves.
        var added: [Node] = []
        func array(of n: Node) throws -> Array {
            guard let first = n.dataInputs.first, let h = index[first.name], let name = handleOf[h], let a = arrays[name] else {
                throw fail("node '\(n.name)' (op: '\(n.op)') does not read a TensorArrayV3 handle as its first input")
            }
            return a
        }
        /// A Const holding `shape` as list ops take it, in the frame of `anchor` (its control input).
        func shapeConstant(for n: Node, _ shape: TensorShape, anchor: String?) throws -> (name: String, index: Int) {
            var c = Node(name: "\(n.name)/soma_element_shape", op: "Const", device: n.device, position: n.position)
            let value = try shape.dimensions.map { dims in try Tensor(dims.map { Int32($0 ?? -1) }, shape: [dims.count]) }
                ?? Tensor(Int32(-1))
            c.attrs = ["dtype": .type(.int32), "value": .tensor(value)]
            c.controlInputs = anchor.map { [$0] } ?? []
            added.append(c)
            return (c.name, 0)
        }
        func inputs(_ n: Node, _ count: Int) throws -> [(name: String, index: Int)] {
            guard n.dataInputs.count == count else {
                throw fail("node '\(n.name)' (op: '\(n.op)') must have \(count) inputs, but has \(n.dataInputs.count)")
            }
            return n.dataInputs
        }
        for i in nodes.indices where rewritten.contains(nodes[i].op) {
            let n = nodes[i]
            var out = Node(name: n.name, op: n.op, device: n.device, position: n.position)
            out.controlInputs = n.controlInputs
            switch n.op {
            case "TensorArrayV3":
                let a = arrays[n.name]!
                out.op = "TensorListReserve"
                out.dataInputs = [try shapeConstant(for: n, a.elementShape, anchor: n.dataInputs[0].name), n.dataInputs[0]]
                out.attrs = ["element_dtype": .type(a.dtype), "shape_type": .type(.int32)]
            case "TensorArrayWriteV3":
                let a = try array(of: n), x = try inputs(n, 4)
                out.op = "TensorListSetItem"
                out.dataInputs = [x[3], x[1], x[2]]
                out.attrs = ["element_dtype": .type(try n.typeAttr("T")), "resize_if_index_out_of_bounds": .bool(a.dynamicSize)]
            case "TensorArrayReadV3":
                let a = try array(of: n), x = try inputs(n, 3)
                out.op = "TensorListGetItem"
                out.dataInputs = [x[2], x[1], try shapeConstant(for: n, a.elementShape, anchor: x[2].name)]
                out.attrs = ["element_dtype": .type(try n.typeAttr("dtype"))]
            case "TensorArrayGatherV3":
                let a = try array(of: n), x = try inputs(n, 3)
                var shape = a.elementShape
                if let declared = try n.shapeAttr("element_shape") { shape = shape.merged(with: declared) ?? declared }
                out.op = "TensorListGather"
                out.dataInputs = [x[2], x[1], try shapeConstant(for: n, shape, anchor: x[2].name)]
                out.attrs = ["element_dtype": .type(try n.typeAttr("dtype"))]
            case "TensorArrayScatterV3":
                _ = try array(of: n)
                let x = try inputs(n, 4)
                out.op = "TensorListScatterIntoExistingList"
                out.dataInputs = [x[3], x[2], x[1]]
                out.attrs = ["element_dtype": .type(try n.typeAttr("T"))]
            case "TensorArraySizeV3":
                _ = try array(of: n)
                out.op = "TensorListLength"
                out.dataInputs = [try inputs(n, 2)[1]]
            default:  // TensorArrayCloseV3
                _ = try array(of: n)
                out.op = "NoOp"
            }
            nodes[i] = out
        }
        // Handles' carriers go; reads of an array's flow (its output 1) read the list.
        let dropped = Set(handleOf.keys.filter { nodes[$0].op != "TensorListReserve" }.map { nodes[$0].name })
        return nodes.filter { !dropped.contains($0.name) }.map { n in
            var n = n
            n.dataInputs = n.dataInputs.map { input in
                arrays[input.name] != nil && input.index == 1 ? (input.name, 0) : input
            }
            n.controlInputs = n.controlInputs.filter { !dropped.contains($0) }
            return n
        } + added
    }
}
