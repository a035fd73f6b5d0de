/// Functional control flow (TF2's `functional_ops`): `If`/`StatelessIf`, `Case`/
/// `StatelessCase` and `While`/`StatelessWhile`, whose branches, condition and body are
/// library functions (``GraphFunction``) run as compiled sub-plans.
///
/// Soma's builders emit these v2 ops (as `tf.cond` and `tf.while_loop` do in TF2 graphs,
/// and as TF1 code under `tf.compat.v1.enable_control_flow_v2()` does): a branch or a loop
/// body is one function compiled once per input-shape signature, and the outer plan sees
/// one step.
enum ControlFlowOps {
    static let definitions: [OpDef] = [
        ifOp("If", traits: [.stateful, .callsFunctions]), ifOp("StatelessIf", traits: [.callsFunctions]),
        caseOp("Case", traits: [.stateful, .callsFunctions]), caseOp("StatelessCase", traits: [.callsFunctions]),
        whileOp("While", traits: [.stateful, .callsFunctions]), whileOp("StatelessWhile", traits: [.callsFunctions]),
        callOp("PartitionedCall", traits: [.callsFunctions]), callOp("StatefulPartitionedCall", traits: [.stateful, .callsFunctions]),
    ]

    /// A function call. Calls in a loaded GraphDef are inlined by the loader; the op
    /// itself is what Soma's own gradient loops use to call a body's gradient function.
    private static func callOp(_ name: String, traits: OpTraits) -> OpDef {
        OpDef(name, inputs: ["args: Tin"], outputs: ["output: Tout"],
              attrs: [.types("Tin"), .types("Tout"), .function("f"), .string("config", default: ""),
                      .string("config_proto", default: ""), .string("executor_type", default: "")],
              traits: traits) { c in
            let f = try c.function("f")
            try checkSignature(f, inputs: c.inputTypes, outputs: c.attrs["Tout"].flatMap { if case .types(let t) = $0 { t } else { nil } },
                               role: "called")
            return try f.outputShapes(for: c.inputShapes)
        }
    }

    private static func ifOp(_ name: String, traits: OpTraits) -> OpDef {
        OpDef(name, inputs: ["cond: Tcond", "input: Tin"], outputs: ["output: Tout"],
              attrs: [.type("Tcond"), .types("Tin"), .types("Tout"), .function("then_branch"), .function("else_branch"),
                      .shapes("output_shapes", default: [])],
              traits: traits) { c in
            let inputs = Array(c.inputShapes.dropFirst())
            let branches = [try c.function("then_branch"), try c.function("else_branch")]
            return try branchShapes(branches, inputs: inputs, inputTypes: Array(c.inputTypes.dropFirst()), c)
        }
    }

    private static func caseOp(_ name: String, traits: OpTraits) -> OpDef {
        OpDef(name, inputs: ["branch_index: int32", "input: Tin"], outputs: ["output: Tout"],
              attrs: [.types("Tin"), .types("Tout"), .functions("branches"), .shapes("output_shapes", default: [])],
              traits: traits) { c in
            try c.scalarInput(0)
            guard case .functions(let branches)? = c.attrs["branches"], !branches.isEmpty else {
                throw ShapeError("Attr 'branches' must list at least one function")
            }
            return try branchShapes(branches, inputs: Array(c.inputShapes.dropFirst()), inputTypes: Array(c.inputTypes.dropFirst()), c)
        }
    }

    private static func whileOp(_ name: String, traits: OpTraits) -> OpDef {
        OpDef(name, inputs: ["input: T"], outputs: ["output: T"],
              attrs: [.types("T"), .function("cond"), .function("body"), .shapes("output_shapes", default: []),
                      .int("parallel_iterations", default: 10)],
              traits: traits) { c in
            let cond = try c.function("cond"), body = try c.function("body")
            try checkSignature(cond, inputs: c.inputTypes, outputs: nil, role: "cond")
            try checkSignature(body, inputs: c.inputTypes, outputs: c.inputTypes, role: "body")
            guard cond.outputTypes.count == 1 else {
                throw ShapeError("cond function '\(cond.name)' must return one value, but returns \(cond.outputTypes.count)")
            }
            // The loop's shapes: the inputs', relaxed until one more iteration keeps them.
            var shapes = c.inputShapes
            for _ in 0..<4 {
                let next = zip(shapes, try body.outputShapes(for: shapes)).map { $0.relaxed(with: $1) }
                if next == shapes {
                    _ = try cond.outputShapes(for: shapes)
                    return shapes
                }
                shapes = next
            }
            if case .shapes(let declared)? = c.attrs["output_shapes"], declared.count == shapes.count { return declared }
            return shapes.map { $0.rank.map(TensorShape.unknown(rank:)) ?? .unknown }
        }
    }

    /// The output shapes of a node calling one of `branches`: each branch's for the
    /// inputs, relaxed to what they share.
    private static func branchShapes(_ branches: [GraphFunction], inputs: [TensorShape], inputTypes: [DType],
                                     _ c: ShapeContext) throws -> [TensorShape] {
        guard case .types(let outputTypes)? = c.attrs["Tout"] else { throw ShapeError("Missing required attr 'Tout'") }
        var merged: [TensorShape]? = nil
        var firstError: Error? = nil
        for branch in branches {
            try checkSignature(branch, inputs: inputTypes, outputs: outputTypes, role: "branch")
            // A branch that cannot take these shapes cannot be the one that runs with them
            // (a gradient branch is given the shapes of the forward branch that ran).
            let shapes: [TensorShape]
            do { shapes = try branch.outputShapes(for: inputs) } catch { firstError = firstError ?? error; continue }
            merged = merged.map { zip($0, shapes).map { $0.relaxed(with: $1) } } ?? shapes
        }
        if merged == nil, let firstError { throw firstError }
        return merged ?? []
    }

    /// A called function's arguments and results must match the node's types.
    private static func checkSignature(_ f: GraphFunction, inputs: [DType], outputs: [DType]?, role: String) throws {
        guard f.inputTypes == inputs else {
            throw ShapeError("\(role) function '\(f.name)' takes (\(f.inputTypes.map(\.name).joined(separator: ", "))) but is "
                             + "called with (\(inputs.map(\.name).joined(separator: ", ")))")
        }
        if let outputs, f.outputTypes != outputs {
            throw ShapeError("\(role) function '\(f.name)' returns (\(f.outputTypes.map(\.name).joined(separator: ", "))) but "
                             + "(\(outputs.map(\.name).joined(separator: ", "))) is expected")
        }
    }

    static let gradients: [String: GradientFunction] = [
        "If": ifGradient, "StatelessIf": ifGradient, "Case": caseGradient, "StatelessCase": caseGradient,
        "While": whileGradient, "StatelessWhile": whileGradient,
        "PartitionedCall": callGradient, "StatefulPartitionedCall": callGradient,
    ]

    /// A call's gradient: a call of the callee's gradient function (which recomputes it).
    private static let callGradient: GradientFunction = { c in
        let f = try c.node.function("f")
        let differentiable = c.inputs.indices.filter { c.inputs[$0].dtype.isFloatingPoint }
        guard !differentiable.isEmpty else { return Array(repeating: nil, count: c.inputs.count) }
        let gradient = try gradientFunction(of: f, wrt: differentiable, node: c.node)
        let grads = try call(gradient, c.inputs + c.outputs.indices.map { try c.outputGradient($0) }, graph: c.graph)
        var result: [Output?] = Array(repeating: nil, count: c.inputs.count)
        for (k, i) in differentiable.enumerated() { result[i] = grads[k] }
        return result
    }

    /// `PartitionedCall` of `f`.
    static func call(_ f: GraphFunction, _ arguments: [Output], graph: Graph) throws -> [Output] {
        try graph.outputs(f.isStateful ? "StatefulPartitionedCall" : "PartitionedCall", arguments,
                          attrs: ["Tout": .types(f.outputTypes), "f": .function(f)], name: "PartitionedCall", file: "", line: 0)
    }

    /// `While`'s gradient, as TF's `while_v2`: the forward loop again with accumulators —
    /// each loop variable that changes is pushed onto a `TensorList` at the start of every
    /// iteration — then a gradient loop that pops them in reverse and calls the body's
    /// gradient function (which recomputes the body from the popped values). Values the
    /// body only passes through (captures) get their gradients summed over iterations.
    ///
    /// The accumulating loop is a second `While` node beside the forward one (Soma's nodes
    /// are immutable); a plan that needs both runs only the accumulating one
    /// (``LoopAccumulatorSharing``).
    private static let whileGradient: GradientFunction = { c in
        let cond = try c.node.function("cond"), body = try c.node.function("body")
        let inputs = c.inputs
        let m = inputs.count
        /// Floats, and lists (whose gradients are lists of their elements' gradients).
        func differentiable(_ k: Int) -> Bool { inputs[k].dtype.isFloatingPoint || inputs[k].dtype == .variant }
        guard inputs.indices.contains(where: differentiable) else { return Array(repeating: nil, count: m) }
        let invariant = (0..<m).map { body.results[$0].endpoint == body.arguments[$0].endpoint }
        var accumulated = (0..<m).filter { !invariant[$0] }
        if accumulated.isEmpty { accumulated = [0] }
        let g = c.graph

        // The forward loop with accumulators.
        let (twinCond, twinBody) = try accumulatingFunctions(cond: cond, body: body, accumulated: accumulated)
        let empties = try accumulated.map { k in
            try emptyTensorList(g, dtype: inputs[k].dtype, elementShape: body.arguments[k].shape, name: "accumulator")
        }
        var outputShapes: [TensorShape] = []
        if case .shapes(let s)? = c.node.attrs["output_shapes"], s.count == m { outputShapes = s + empties.map { _ in .scalar } }
        let twin = try g.outputs(c.node.op, inputs + empties,
                                 attrs: ["cond": .function(twinCond), "body": .function(twinBody), "output_shapes": .shapes(outputShapes),
                                         "parallel_iterations": c.node.attrs["parallel_iterations"] ?? .int(10),
                                         // Lets the compiler run this loop in place of the forward one.
                                         "_soma_accumulates": .string(c.node.name)],
                                 name: "accumulating_\(c.node.name.split(separator: "/").last ?? "while")", file: "", line: 0)
        let lists = Array(twin[m...])

        // The gradient loop: [remaining, d(changing floats), d(invariant floats), lists, invariants].
        let float = (0..<m).filter(differentiable)
        let changing = float.filter { !invariant[$0] }, summed = float.filter { invariant[$0] }
        let invariants = (0..<m).filter { invariant[$0] }
        let gradient = try gradientFunction(of: body, wrt: float, node: c.node)
        let remaining = try g.output("TensorListLength", [lists[0]], name: "iterations", file: "", line: 0)
        let start = [remaining] + (try changing.map { try c.grad($0) }) + (try summed.map { try zerosLike(inputs[$0]) })
            + lists + invariants.map { inputs[$0] }
        let nChanging = changing.count, nSummed = summed.count, nLists = lists.count
        let zero = try g.constant(Int32(0), name: "zero", file: "", line: 0), one = try g.constant(Int32(1), name: "one", file: "", line: 0)
        let final = try whileLoop(cond: { v in try greater(v[0], zero) }, body: { v in
            var position = 1
            let dChanging = Array(v[position..<position + nChanging]); position += nChanging
            let dSummed = Array(v[position..<position + nSummed]); position += nSummed
            var popped: [Output] = [], values = [Output?](repeating: nil, count: m)
            for (j, k) in accumulated.enumerated() {
                let (rest, value) = try tensorListPopBack(v[position + j], dtype: inputs[k].dtype, elementShape: body.arguments[k].shape)
                popped.append(rest)
                values[k] = value
            }
            position += nLists
            for (j, k) in invariants.enumerated() where values[k] == nil { values[k] = v[position + j] }
            let arguments = values.map { $0! }
            // Gradients into the body's results: the carried ones for changing floats, none
            // (zeros) into pass-through results, and any value of the dtype for the rest (unused).
            let resultGrads = try (0..<m).map { k -> Output in
                if let j = changing.firstIndex(of: k) { return dChanging[j] }
                if differentiable(k) { return try zerosLike(arguments[k]) }
                return arguments[k]
            }
            let grads = try call(gradient, arguments + resultGrads, graph: v[0].graph)
            let nextChanging = changing.map { grads[float.firstIndex(of: $0)!] }
            let nextSummed = try zip(summed, dSummed).map { k, d in try addGradients(d, grads[float.firstIndex(of: k)!]) }
            return [try subtract(v[0], one)] + nextChanging + nextSummed + popped + Array(v[position...])
        }, loopVars: start, shapeInvariants: start.enumerated().map { k, value in
            if k >= 1 && k <= nChanging { return body.arguments[changing[k - 1]].shape }
            return value.shape
        }, name: "gradient_while")
        var result = [Output?](repeating: nil, count: m)
        for (j, k) in changing.enumerated() { result[k] = final[1 + j] }
        for (j, k) in summed.enumerated() {
            let total = final[1 + nChanging + j]
            result[k] = c.hasGrad(k) ? try addGradients(total, c.grad(k)) : total
        }
        return result
    }

    /// `a + b` for gradients: element by element for lists (`AddN`, as TF sums them).
    private static func addGradients(_ a: Output, _ b: Output) throws -> Output {
        a.dtype == .variant ? try a.graph.output("AddN", [a, b], name: "AddN", file: "", line: 0) : try add(a, b)
    }

    /// `cond` and `body` taking accumulator lists too: the body pushes each `accumulated`
    /// loop variable's value on entry. Built in the forward functions' graphs.
    private static func accumulatingFunctions(cond: GraphFunction, body: GraphFunction, accumulated: [Int]) throws
        -> (GraphFunction, GraphFunction) {
        func placeholders(in graph: Graph) throws -> [Output] {
            try graph.withRootScope {
                try accumulated.map { _ in
                    try graph.output("Placeholder", [], attrs: ["dtype": .type(.variant), "shape": .shape(.scalar)],
                                     name: "accumulator", file: "", line: 0)
                }
            }
        }
        func names(_ base: [String], _ count: Int) -> [String] {
            var names = base
            for k in 0..<count {
                var candidate = "accumulator_\(k)", j = 1
                while names.contains(candidate) { candidate = "accumulator_\(k)_\(j)"; j += 1 }
                names.append(candidate)
            }
            return names
        }
        let condLists = try placeholders(in: cond.body)
        let twinCond = GraphFunction(name: cond.body.reserveFunctionName("\(cond.name)_accumulating"), body: cond.body,
                                     arguments: cond.arguments + condLists, results: cond.results,
                                     controlResults: cond.controlResults, argumentNames: names(cond.argumentNames, condLists.count))
        let bodyLists = try placeholders(in: body.body)
        let pushed = try body.body.withRootScope {
            try zip(bodyLists, accumulated).map { list, k in try tensorListPushBack(list, body.arguments[k], name: "accumulate") }
        }
        let twinBody = GraphFunction(name: body.body.reserveFunctionName("\(body.name)_accumulating"), body: body.body,
                                     arguments: body.arguments + bodyLists, results: body.results + pushed,
                                     controlResults: body.controlResults,
                                     argumentNames: names(body.argumentNames, bodyLists.count),
                                     resultNames: body.resultNames + names(body.resultNames, pushed.count).suffix(pushed.count))
        return (twinCond, twinBody)
    }

    /// `If`'s gradient, as TF's `cond_v2`: an `If` on the same predicate whose branches
    /// are the gradient functions of the forward branches. Each gradient branch recomputes
    /// its forward branch from the inputs (rather than taking intermediates from the
    /// forward `If`), so a branch drawing random numbers or with effects cannot be
    /// differentiated — that is an error naming it.
    private static let ifGradient: GradientFunction = { c in
        try branchGradient(c, [try c.node.function("then_branch"), try c.node.function("else_branch")]) { branches in
            ["then_branch": .function(branches[0]), "else_branch": .function(branches[1])]
        }
    }

    /// `Case`'s gradient: a `Case` on the same index over the branches' gradient functions.
    private static let caseGradient: GradientFunction = { c in
        guard case .functions(let branches)? = c.node.attrs["branches"] else { throw SomaError.invalidArgument("Case without branches") }
        return try branchGradient(c, branches) { ["branches": .functions($0)] }
    }

    /// The gradient of a node whose input 0 picks one of `branches` (called with the other
    /// inputs): the same node over the branches' gradient functions.
    private static func branchGradient(_ c: GradientContext, _ branches: [GraphFunction],
                                       attrs: ([GraphFunction]) -> [String: AttrValue]) throws -> [Output?] {
        let inputs = Array(c.inputs.dropFirst())
        let differentiable = inputs.indices.filter { inputs[$0].dtype.isFloatingPoint }
        guard !differentiable.isEmpty else { return Array(repeating: nil, count: c.inputs.count) }
        let outputGrads = try c.outputs.indices.map { try c.outputGradient($0) }
        let gradBranches = try branches.map {
            try gradientFunction(of: $0, wrt: differentiable, node: c.node, outputShapes: c.outputs.map(\.shape))
        }
        var nodeAttrs = attrs(gradBranches)
        nodeAttrs["Tout"] = .types(differentiable.map { inputs[$0].dtype })
        let grads = try c.graph.outputs(c.node.op, [c.inputs[0]] + inputs + outputGrads, attrs: nodeAttrs, name: c.node.op,
                                        file: "", line: 0)
        var result: [Output?] = Array(repeating: nil, count: c.inputs.count)
        for (k, i) in differentiable.enumerated() { result[i + 1] = grads[k] }
        return result
    }

    /// A function taking `f`'s arguments and the gradients of its results, returning the
    /// gradients of the arguments at `wrt` (zeros where none flows). Built in `f`'s body
    /// graph, so it recomputes `f`'s values it needs.
    ///
    /// - Parameter outputShapes: the shapes the incoming gradients may have (a branching
    ///   node's outputs, which every branch must accept); the results' own by default.
    static func gradientFunction(of f: GraphFunction, wrt: [Int], node: Node, outputShapes: [TensorShape]? = nil) throws
        -> GraphFunction {
        let body = f.body
        var needed = Set<Node>(), stack = f.results.map(\.node)
        while let n = stack.popLast() {
            guard needed.insert(n).inserted else { continue }
            if n.definition.traits.contains(.stateful) && !n.definition.traits.contains(.feedable) {
                throw SomaError(.unimplemented, "Cannot differentiate \(node): its function '\(f.name)' holds the stateful op "
                                + "\(n) (Soma differentiates a branch by recomputing it)\(node.locationSuffix)")
            }
            stack += n.inputs.map(\.node)
        }
        return try body.withRootScope {
            let outputGrads = try f.results.enumerated().map { k, r in
                try body.output("Placeholder", [], attrs: ["dtype": .type(r.dtype), "shape": .shape(outputShapes?[k] ?? r.shape)],
                                name: "grad_output_\(k)", file: "", line: 0)
            }
            let differentiable = f.results.indices.filter { f.results[$0].dtype.isFloatingPoint || f.results[$0].dtype == .variant }
            let grads = try body.gradients(of: differentiable.map { f.results[$0] }, wrt: wrt.map { f.arguments[$0] },
                                           gradYs: differentiable.map { outputGrads[$0] })
            let results = try zip(wrt, grads).map { i, g in try g ?? zerosLike(f.arguments[i]) }
            var names = f.argumentNames
            for k in outputGrads.indices {
                var candidate = "grad_output_\(k)", j = 1
                while names.contains(candidate) { candidate = "grad_output_\(k)_\(j)"; j += 1 }
                names.append(candidate)
            }
            return GraphFunction(name: body.reserveFunctionName("\(f.name)_grad"), body: body,
                                 arguments: f.arguments + outputGrads, results: results, argumentNames: names)
        }
    }
}

extension GradientContext {
    /// The gradient of output `i` for passing into a gradient function: zeros when none
    /// flowed there; for outputs that carry no gradient (integers, lists), the output
    /// itself as a stand-in of the right dtype (the gradient function ignores it).
    func outputGradient(_ i: Int) throws -> Output {
        outputs[i].dtype.isFloatingPoint || outputs[i].dtype == .variant ? try grad(i) : outputs[i]
    }
}

extension TensorShape {
    /// The most specific shape compatible with both: dimensions that differ become
    /// unknown, and so does the rank when the ranks differ.
    func relaxed(with other: TensorShape) -> TensorShape {
        guard let a = dimensions, let b = other.dimensions, a.count == b.count else { return .unknown }
        return TensorShape(zip(a, b).map { $0 == $1 ? $0 : nil })
    }
}

extension ShapeContext {
    /// The function attribute `name`.
    func function(_ name: String) throws -> GraphFunction {
        guard case .function(let f)? = attrs[name] else { throw ShapeError("Missing required function attr '\(name)'") }
        return f
    }
}

extension Node {
    /// The function attribute `name`.
    func function(_ name: String) throws -> GraphFunction {
        guard case .function(let f)? = attrs[name] else {
            throw SomaError.nodeFailure("Missing required function attr '\(name)'", node: self.name, op: op, location: location)
        }
        return f
    }
}

// MARK: - Builders

/// The value of `then` when `pred` is true, else of `else` (TF's `tf.cond`).
///
/// Each branch is built once, into a function of its own; only the taken branch runs.
/// Values the branches use from outside are passed in (captured). Builds TF2's
/// `StatelessIf` — or `If` when a branch has effects or draws random numbers — which
/// TensorFlow runs as it is.
///
/// - Parameters:
///   - pred: a scalar `bool`.
///   - then: builds the results for a true `pred`.
///   - else: builds results of the same count and dtypes for a false one.
/// - Returns: one output per branch result; a shape is known where both branches agree.
/// - Throws: when the branches' results differ in count or dtype, or `pred` is not a
///   scalar `bool`.
public func cond(
    _ pred: Output, then thenBranch: () throws -> [Output], else elseBranch: () throws -> [Output],
    name: String? = nil, file: String = #fileID, line: Int = #line
) throws -> [Output] {
    let g = Graph.buildTarget([pred.graph])!
    let name = name ?? "cond"
    guard pred.dtype == .bool, pred.shape.rank ?? 0 == 0 else {
        throw SomaError.invalidArgument("cond: pred must be a scalar bool, but '\(pred.name)' is \(pred.dtype) \(pred.shape)"
                                        + " (at \(file):\(line))")
    }
    return try withoutActuallyEscaping(thenBranch) { thenBranch in
        try withoutActuallyEscaping(elseBranch) { elseBranch in
            try branchNode(g, selector: pred, ops: ("StatelessIf", "If"), builders: [thenBranch, elseBranch],
                           functionNames: ["\(name)_true", "\(name)_false"], what: "cond", name: name, file: file, line: line) {
                ["then_branch": .function($0[0]), "else_branch": .function($0[1])]
            }
        }
    }
}

/// The results of `branches[branchIndex]` — the last branch when the index is out of
/// range — (TF's `tf.switch_case`). Each branch is built once into a function; only the
/// chosen one runs. Builds `StatelessCase`, or `Case` when a branch has effects.
///
/// - Parameters:
///   - branchIndex: a scalar `int32`.
///   - branches: builders of results of the same count and dtypes.
public func switchCase(
    _ branchIndex: Output, branches: [() throws -> [Output]], name: String? = nil, file: String = #fileID, line: Int = #line
) throws -> [Output] {
    let g = Graph.buildTarget([branchIndex.graph])!
    let name = name ?? "switch_case"
    guard branchIndex.dtype == .int32, branchIndex.shape.rank ?? 0 == 0, !branches.isEmpty else {
        throw SomaError.invalidArgument("switchCase: branchIndex must be a scalar int32 and there must be branches"
                                        + " (at \(file):\(line))")
    }
    return try branchNode(g, selector: branchIndex, ops: ("StatelessCase", "Case"), builders: branches,
                          functionNames: branches.indices.map { "\(name)_branch\($0)" }, what: "switchCase", name: name,
                          file: file, line: line) { ["branches": .functions($0)] }
}

/// A node (`ops.stateless`, or `ops.stateful` when a branch has effects) on `selector` and
/// every branch's captured values, each of `builders` built once into a function that takes
/// them all; `attrs` names the functions. Outputs: one per branch result, shaped where the
/// branches agree.
private func branchNode(
    _ g: Graph, selector: Output, ops: (stateless: String, stateful: String), builders: [() throws -> [Output]],
    functionNames: [String], what: String, name: String, file: String, line: Int,
    attrs: ([GraphFunction]) -> [String: AttrValue]
) throws -> [Output] {
    let built = try builders.map { branch -> (FunctionBodyBuilder, [Output]) in
        let body = try FunctionBodyBuilder(in: g, arguments: [])
        return (body, try body.build(branch).map(body.inside))
    }
    try checkBranchResults(built.map(\.1), what: what, file: file, line: line)
    let (functions, inputs) = try unify(built, names: functionNames)
    let shapes = built.dropFirst().reduce(built[0].1.map(\.shape)) { zip($0, $1.1).map { $0.relaxed(with: $1.shape) } }
    var nodeAttrs = attrs(functions)
    nodeAttrs["Tout"] = .types(built[0].1.map(\.dtype))
    nodeAttrs["output_shapes"] = .shapes(shapes)
    return try g.outputs(functions.contains(where: \.isStateful) ? ops.stateful : ops.stateless, [selector] + inputs,
                         attrs: nodeAttrs, name: name, file: file, line: line)
}

/// Branch results must agree in count and dtypes.
private func checkBranchResults(_ results: [[Output]], what: String, file: String, line: Int) throws {
    let types = results.map { $0.map(\.dtype) }
    guard types.allSatisfy({ $0 == types[0] }) else {
        throw SomaError.invalidArgument(
            "\(what): all branches must return the same number and dtypes of values, but return "
            + types.map { "(" + $0.map(\.name).joined(separator: ", ") + ")" }.joined(separator: ", ") + " (at \(file):\(line))")
    }
}

/// The branches as functions that all take every branch's captured values (in branch
/// order), and those values.
private func unify(_ built: [(FunctionBodyBuilder, [Output])], names: [String]) throws -> ([GraphFunction], [Output]) {
    let captures = built.map { $0.0.sealCaptures() }
    var functions: [GraphFunction] = []
    for (k, (body, results)) in built.enumerated() {
        var arguments: [Output] = []
        for (j, c) in captures.enumerated() {
            arguments += j == k ? c.placeholders : try c.outer.map(body.unusedArgument)
        }
        functions.append(body.finish(name: names[k], arguments: arguments, results: results))
    }
    return (functions, captures.flatMap(\.outer))
}

/// ``cond(_:then:else:name:file:line:)`` for branches of one result.
public func cond(
    _ pred: Output, then thenBranch: () throws -> Output, else elseBranch: () throws -> Output,
    name: String? = nil, file: String = #fileID, line: Int = #line
) throws -> Output {
    try cond(pred, then: { [try thenBranch()] }, else: { [try elseBranch()] }, name: name, file: file, line: line)[0]
}

/// Repeats `body` while `cond` holds (TF's `tf.while_loop`), returning the final loop
/// variables.
///
/// `cond` and `body` are built once, each into a function that receives the loop
/// variables; `body` returns their next values (same count and dtypes, shapes within
/// `shapeInvariants`). Values they use from outside are passed in as extra loop variables
/// that the body passes through (captured). Builds TF2's `StatelessWhile` (or `While`
/// when cond or body has effects or draws random numbers) with while_v2's loop layout —
/// an iteration counter and the maximum first — so TensorFlow runs the graph as it is.
///
/// - Parameters:
///   - shapeInvariants: per loop variable, the shape it keeps across iterations (default:
///     its initial shape); a less specific one lets it change.
///   - maximumIterations: a scalar `int32`; the loop also stops after that many iterations.
///   - parallelIterations: kept for TF (Soma runs iterations one after another).
/// - Throws: when `body` returns values of other dtypes or shapes outside the invariants.
public func whileLoop(
    cond: ([Output]) throws -> Output, body: ([Output]) throws -> [Output], loopVars: [Output],
    shapeInvariants: [TensorShape]? = nil, maximumIterations: Output? = nil, parallelIterations: Int = 10,
    name: String? = nil, file: String = #fileID, line: Int = #line
) throws -> [Output] {
    guard let g = Graph.buildTarget(loopVars.map(\.graph) + (maximumIterations.map { [$0.graph] } ?? [])) else {
        throw SomaError.invalidArgument("whileLoop: no loop variables (at \(file):\(line))")
    }
    let name = name ?? "while"
    if let shapeInvariants, shapeInvariants.count != loopVars.count {
        throw SomaError.invalidArgument("whileLoop: \(shapeInvariants.count) shape invariants for \(loopVars.count) loop variables"
                                        + " (at \(file):\(line))")
    }
    for (k, v) in loopVars.enumerated() {
        if let s = shapeInvariants?[k], !s.isCompatible(with: v.shape) {
            throw SomaError.invalidArgument("whileLoop: loop variable \(k) ('\(v.name)') has shape \(v.shape), which is not "
                                            + "compatible with its shape invariant \(s) (at \(file):\(line))")
        }
    }
    let counter = try g.constant(Int32(0), name: "\(name)/loop_counter", file: file, line: line)
    let maximum = try maximumIterations ?? g.constant(Int32(-1), name: "\(name)/maximum_iterations", file: file, line: line)
    guard maximum.dtype == .int32, maximum.shape.rank ?? 0 == 0 else {
        throw SomaError.invalidArgument("whileLoop: maximumIterations must be a scalar int32 (at \(file):\(line))")
    }
    let arguments = [("loop_counter", DType.int32, TensorShape.scalar), ("maximum_iterations", .int32, .scalar)]
        + loopVars.enumerated().map { k, v in ("loop_var_\(k)", v.dtype, shapeInvariants?[k] ?? v.shape) }

    let condBody = try FunctionBodyBuilder(in: g, arguments: arguments)
    var keepGoing = try condBody.inside(condBody.build { try cond(Array(condBody.arguments.dropFirst(2))) })
    guard keepGoing.dtype == .bool, keepGoing.shape.rank ?? 0 == 0 else {
        throw SomaError.invalidArgument("whileLoop: cond must return a scalar bool, but returns \(keepGoing.dtype) "
                                        + "\(keepGoing.shape) (at \(file):\(line))")
    }
    if maximumIterations != nil {
        keepGoing = try logicalAnd(less(condBody.arguments[0], condBody.arguments[1]), keepGoing)
    }
    let loopBody = try FunctionBodyBuilder(in: g, arguments: arguments)
    let next = try loopBody.build { try body(Array(loopBody.arguments.dropFirst(2))) }.map(loopBody.inside)
    guard next.count == loopVars.count else {
        throw SomaError.invalidArgument("whileLoop: body returns \(next.count) values for \(loopVars.count) loop variables"
                                        + " (at \(file):\(line))")
    }
    for (k, (value, argument)) in zip(next, loopBody.arguments.dropFirst(2)).enumerated() {
        guard value.dtype == argument.dtype else {
            throw SomaError.invalidArgument("whileLoop: loop variable \(k) ('\(loopVars[k].name)') enters the loop as "
                                            + "\(argument.dtype) but the body returns \(value.dtype) (at \(file):\(line))")
        }
        guard argument.shape.isCompatible(with: value.shape) && value.shape.relaxed(with: argument.shape) == argument.shape
                || argument.shape == .unknown else {
            throw SomaError.invalidArgument(
                "whileLoop: input tensor '\(loopVars[k].name)' enters the loop with shape \(argument.shape), but has shape "
                + "\(value.shape) after one iteration. To allow the shape to vary across iterations, give a less specific "
                + "shape in shapeInvariants (at \(file):\(line))")
        }
    }
    let one = try g.constant(Int32(1), name: "\(name)/one", file: file, line: line)
    let nextCounter = try add(loopBody.arguments[0], loopBody.inside(one))
    // Every loop variable: counter, maximum, the user's, cond's captures, body's captures.
    let condCaptures = condBody.sealCaptures(), bodyCaptures = loopBody.sealCaptures()
    let condArguments = condBody.arguments + condCaptures.placeholders + (try bodyCaptures.outer.map(condBody.unusedArgument))
    let passedThrough = try condCaptures.outer.map(loopBody.unusedArgument)
    let bodyArguments = loopBody.arguments + passedThrough + bodyCaptures.placeholders
    let condFunction = condBody.finish(name: "\(name)_cond", arguments: condArguments, results: [keepGoing])
    let bodyFunction = loopBody.finish(
        name: "\(name)_body", arguments: bodyArguments,
        results: [nextCounter, loopBody.arguments[1]] + next + passedThrough + bodyCaptures.placeholders)
    let inputs = [counter, maximum] + loopVars + condCaptures.outer + bodyCaptures.outer
    let stateful = condFunction.isStateful || bodyFunction.isStateful
    let outputs = try g.outputs(
        stateful ? "While" : "StatelessWhile", inputs,
        attrs: ["cond": .function(condFunction), "body": .function(bodyFunction),
                "output_shapes": .shapes(bodyArguments.map(\.shape)), "parallel_iterations": .int(parallelIterations)],
        name: name, file: file, line: line)
    return Array(outputs[2..<(2 + loopVars.count)])
}
