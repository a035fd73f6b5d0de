/// A recurrent loop's input projection, taken out of the loop: where a `While` body reads
/// step `t` of a list it never changes (`TensorListGetItem`) only to multiply it by a
/// weight the loop never changes (`MatMul(x_t, W)`), the product of every step is one
/// GEMM before the loop — `[T·B, F] × [F, H]` — whose rows become the list the body reads,
/// and the body reads the product in place of the multiplication.
///
/// What it is for: a Keras LSTM or GRU layer (`dynamic_rnn` likewise) multiplies each
/// step's input by its kernel inside the loop — for a batch of one, a one-row product per
/// step, streamed through the whole kernel; ONNX Runtime's LSTM does the input products as
/// one GEMM, as this does. Measured (two threads, medians, A/B): a frozen Keras LSTM of 128
/// units over 64 steps, batch 1, 0.85–0.88 → 0.69–0.74 ms; batch 4, 1.12–1.13 → 0.96–0.97;
/// the harness's batch of 32 (32×64·64×256 per step, already split across the threads)
/// unchanged within the noise.
///
/// Contract: the loop's results are the same values computed by the same products, row
/// for row; a product of many rows may round differently from one of `B` rows (as TF's
/// own kernels may for different batch sizes), but the result depends on the shapes alone,
/// never on the thread count. Guards: plans only; float32 or float64; the list comes from a
/// `TensorListFromTensor` of a tensor `[T, B…, F]` of known rank (its leading dimensions
/// are read when the loop runs where they are not known), and the weight `[F, H]` (`[H, F]`
/// transposed) has a known shape and is passed through the loop unchanged; in the
/// body (what its results and control results need) the list is read by that one
/// `TensorListGetItem` only, whose item only that `MatMul` (not transposing `x_t`) reads;
/// the condition does not read the list, and the loop's list output is read by nothing;
/// at most ``maximumProjectionBytes`` of products where the sequence's shape is known.
/// The body is rewritten into a copy (the original function, which a saved graph or other
/// loops may share, is left as it was).
struct LoopInputProjectionHoisting: CompilerPass {
    static let name = "loop_input_projection_hoisting"
    /// The most bytes of hoisted products where their count is known (a long sequence
    /// keeps its products in the loop).
    static let maximumProjectionBytes = 64 << 20

    func run(_ ir: IRGraph, _ context: PassContext) throws {
        guard context.forPlan else { return }
        var read = Set<IRValue>(ir.fetches)
        for node in ir.nodes { read.formUnion(node.inputs) }
        var names = Set(ir.nodes.map(\.name))
        for loop in ir.nodes where loop.op == "While" || loop.op == "StatelessWhile" {
            guard case .function(let cond)? = loop.attrs["cond"], case .function(var body)? = loop.attrs["body"] else { continue }
            let m = loop.inputs.count
            guard body.arguments.count == m, body.results.count == m, cond.arguments.count == m else { continue }
            var needed = Self.neededNodes(body)
            for k in 0..<m where !read.contains(IRValue(loop, k)) {
                guard let found = Self.projection(of: k, cond: cond, body: body, needed: needed) else { continue }
                // An optimisation: a body its copy cannot rebuild, or a product whose nodes
                // cannot be placed, leaves the loop as written (the loop's input changes last).
                guard let copy = try? Self.body(body, reading: found),
                      (try? hoist(found, variable: k, loop: loop, ir: ir, names: &names)) == true else { continue }
                body = copy
                needed = Self.neededNodes(body)
                loop.attrs["body"] = .function(body)
            }
        }
    }

    /// The body's `TensorListGetItem` of variable `k` and the `MatMul` reading its item,
    /// with the weight's variable, where the guards hold.
    struct Projection {
        let get: Node, product: Node
        let weight: Int
        let transposeWeight: Bool
    }

    /// `needed`: ``neededNodes(_:)`` of `body`.
    static func projection(of k: Int, cond: GraphFunction, body: GraphFunction, needed: [Node]) -> Projection? {
        let argument = body.arguments[k]
        guard argument.dtype == .variant, body.results[k] == argument,
              !body.results.enumerated().contains(where: { $0.offset != k && $0.element.node === argument.node }),
              !LoopVariablePruning.ancestors(of: cond.results.map(\.node) + cond.controlResults)
                  .contains(ObjectIdentifier(cond.arguments[k].node)) else { return nil }
        let readers = needed.filter { $0.inputs.contains { $0.node === argument.node } }
        guard readers.count == 1, let get = readers.first, get.op == "TensorListGetItem",
              get.inputs[0].node === argument.node, !get.inputs.dropFirst().contains(where: { $0.node === argument.node }) else { return nil }
        let itemReaders = needed.filter { $0.inputs.contains { $0.node === get } || $0.controlInputs.contains { $0 === get } }
        guard itemReaders.count == 1, let product = itemReaders.first, product.op == "MatMul",
              !needed.contains(where: { $0.controlInputs.contains { $0 === product } }),
              product.inputs[0] == NodeOutput(get, 0), product.inputs[1].node !== get,
              product.bool("transpose_a") != true, !body.results.contains(where: { $0.node === product || $0.node === get })
        else { return nil }
        // The weight: a loop variable passed through unchanged, looking through identities.
        var source = product.inputs[1]
        while source.node.op == "Identity", source.node.inputs.count == 1 { source = source.node.inputs[0] }
        guard let w = body.arguments.firstIndex(where: { $0.endpoint == source }), body.results[w] == body.arguments[w] else {
            return nil
        }
        return Projection(get: get, product: product, weight: w, transposeWeight: product.bool("transpose_b") ?? false)
    }

    /// What the body's results and control results need (its nodes, in the body's order).
    static func neededNodes(_ body: GraphFunction) -> [Node] {
        let needed = LoopVariablePruning.ancestors(of: body.results.map(\.node) + body.controlResults)
        return body.body.nodes.filter { needed.contains(ObjectIdentifier($0)) }
    }

    /// Before the loop: `TensorListFromTensor(Reshape(Reshape(x, [−1, F]) × W, [T, B…, H]))`
    /// in place of variable `k`'s list — `[T, B…]` constant where `x`'s shape is known, else
    /// read from it when the loop runs; `false` (nothing changed) where `x`'s rank or `W`'s
    /// shape is not known.
    private func hoist(_ p: Projection, variable k: Int, loop: IRNode, ir: IRGraph, names: inout Set<String>) throws -> Bool {
        let list = loop.inputs[k].node, weight = loop.inputs[p.weight], source = list.inputs[0]
        guard list.op == "TensorListFromTensor", loop.inputs[k].index == 0, let dims = source.shape.dimensions, dims.count >= 2,
              let w = weight.shape.concrete, w.count == 2, w.allSatisfy({ $0 > 0 }), source.dtype == weight.dtype,
              weight.dtype == .float32 || weight.dtype == .float64 else { return false }
        let (f, h) = p.transposeWeight ? (w[1], w[0]) : (w[0], w[1]), dtype = weight.dtype
        guard dims.last! == nil || dims.last! == f, let f32 = Int32(exactly: f), let h32 = Int32(exactly: h) else { return false }
        // The products of every step are held at once (and the list's copy of them): where
        // the sequence's shape is known, at most `maximumProjectionBytes`.
        let leadingDimensions = TensorShape(Array(dims.dropLast())).concrete
        if let known = leadingDimensions, checkedProduct(known + [h, dtype.byteSize]).map({ $0 > Self.maximumProjectionBytes }) ?? true {
            return false
        }
        let chains = IdentityChains()
        func add(_ base: String, _ op: String, _ inputs: [IRValue], _ attrs: [String: AttrValue], _ type: DType) throws -> IRValue {
            var name = "\(list.name)/\(base)"
            while names.contains(name) { name += "_" }
            names.insert(name)
            let node = ir.makeNode(name: name, def: OpRegistry.lookup(op)!, inputs: inputs, attrs: attrs, outputTypes: [type],
                                   outputShapes: [.unknown])
            ir.insert(node, before: loop)
            try ir.inferShapes(node, chains: chains)
            return IRValue(node, 0)
        }
        func constant(_ base: String, _ value: Tensor) -> IRValue {
            IRValue(ir.insertConstant(value, named: "\(list.name)/\(base)", before: loop, avoiding: &names), 0)
        }
        func constant(_ base: String, _ values: [Int32]) throws -> IRValue {
            constant(base, try Tensor(values, shape: [values.count]))
        }
        let reshape: [String: AttrValue] = ["T": .type(dtype), "Tshape": .type(.int32)]
        let rows = try add("projection_rows", "Reshape", [source, try constant("projection_rows_shape", [-1, f32])], reshape, dtype)
        let product = try add("projection", "MatMul", [rows, weight],
                              ["T": .type(dtype), "transpose_a": .bool(false), "transpose_b": .bool(p.transposeWeight)], dtype)
        // `[T, B…, H]`: x's leading dimensions, then H — a constant where they are known (the
        // reshape's shape, and so the run's, is then static), else read from x as the loop runs.
        let stepsShape: IRValue
        if let known = leadingDimensions?.compactMap({ Int32(exactly: $0) }), known.count == dims.count - 1 {
            stepsShape = try constant("projection_steps_shape", known + [h32])
        } else {
            let shape = try add("projection_source_shape", "Shape", [source], ["T": .type(dtype), "out_type": .type(.int32)], .int32)
            let leading = try add("projection_steps", "StridedSlice",
                              [shape, try constant("projection_steps_begin", [0]), try constant("projection_steps_end", [-1]),
                               try constant("projection_steps_stride", [1])],
                              ["T": .type(.int32), "Index": .type(.int32), "begin_mask": .int(0), "end_mask": .int(0),
                               "ellipsis_mask": .int(0), "new_axis_mask": .int(0), "shrink_axis_mask": .int(0)], .int32)
            stepsShape = try add("projection_steps_shape", "ConcatV2",
                                 [leading, try constant("projection_width", [h32]), constant("projection_axis", Tensor(Int32(0)))],
                                 ["T": .type(.int32), "N": .int(2), "Tidx": .type(.int32)], .int32)
        }
        let steps = try add("projection_steps_values", "Reshape", [product, stepsShape], reshape, dtype)
        let projected = try add("projection_list", "TensorListFromTensor", [steps, constant("projection_element_shape", Tensor(Int32(-1)))],
                                ["element_dtype": .type(dtype), "shape_type": .type(.int32)], .variant)
        loop.inputs[k] = projected
        if k < loop.listShapes.count, let shape = projected.node.listShapes.first { loop.listShapes[k] = shape }
        return true
    }

    /// A copy of `body` (a graph of its own) whose `get` reads the projected list with any
    /// element shape and stands for `product`, which is left out.
    static func body(_ body: GraphFunction, reading p: Projection) throws -> GraphFunction {
        let graph = Graph()
        var copies: [ObjectIdentifier: Node] = [:]
        func value(_ o: NodeOutput) -> Output {
            if o.node === p.product { return Output(graph: graph, node: copies[ObjectIdentifier(p.get)]!, index: 0) }
            return Output(graph: graph, node: copies[ObjectIdentifier(o.node)]!, index: o.index)
        }
        let needed = LoopVariablePruning.ancestors(of: body.results.map(\.node) + body.controlResults)
        let arguments = Set(body.arguments.map { ObjectIdentifier($0.node) })
        var shapeName = "\(p.get.name)/any_element_shape"
        while body.body.node(named: shapeName) != nil { shapeName += "_" }
        let anyShape = try graph.addNode(op: "Const", inputs: [], attrs: ["dtype": .type(.int32), "value": .tensor(Tensor(Int32(-1)))],
                                         name: shapeName, uniquifyName: false)
        for node in body.body.nodes where needed.contains(ObjectIdentifier(node)) || arguments.contains(ObjectIdentifier(node)) {
            guard node !== p.product else { continue }
            var inputs = node.inputs.map(value)
            if node === p.get { inputs[2] = Output(graph: graph, node: anyShape, index: 0) }
            copies[ObjectIdentifier(node)] = try graph.addNode(
                op: node.op, inputs: inputs, attrs: node.attrs, name: node.name,
                controlInputs: node.controlInputs.map { copies[ObjectIdentifier($0)]! }, device: node.device,
                location: node.location, uniquifyName: false)
        }
        return GraphFunction(name: "\(body.name)_hoisted", body: graph, arguments: body.arguments.map { value($0.endpoint) },
                             results: body.results.map { value($0.endpoint) },
                             controlResults: body.controlResults.map { copies[ObjectIdentifier($0)]! },
                             argumentNames: body.argumentNames, resultNames: body.resultNames)
    }
}
