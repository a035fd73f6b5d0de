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
        ifOp("If", traits: [.stateful]), ifOp("StatelessIf", traits: []),
        caseOp("Case", traits: [.stateful]), caseOp("StatelessCase", traits: []),
        whileOp("While", traits: [.stateful]), whileOp("StatelessWhile", traits: []),
    ]

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
        for branch in branches {
            try checkSignature(branch, inputs: inputTypes, outputs: outputTypes, role: "branch")
            let shapes = try branch.outputShapes(for: inputs)
            merged = merged.map { zip($0, shapes).map { $0.relaxed(with: $1) } } ?? shapes
        }
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
        "If": ifGradient, "StatelessIf": ifGradient,
    ]

    /// `If`'s gradient, as TF's `cond_v2`: an `If` on the same predicate whose branches
    /// are the gradient functions of the forward branches. Each gradient branch recomputes
    /// its forward branch from the inputs (rather than taking intermediates from the
    /// forward `If`), so a branch drawing random numbers or with effects cannot be
    /// differentiated — that is an error naming it.
    private static let ifGradient: GradientFunction = { c in
        let branches = [try c.node.function("then_branch"), try c.node.function("else_branch")]
        let inputs = Array(c.inputs.dropFirst())
        let differentiable = inputs.indices.filter { inputs[$0].dtype.isFloatingPoint }
        guard !differentiable.isEmpty else { return Array(repeating: nil, count: c.inputs.count) }
        let outputGrads = try c.outputs.indices.map { try c.grad($0) }
        let gradBranches = try branches.map { try gradientFunction(of: $0, wrt: differentiable, node: c.node) }
        let grads = try c.graph.outputs(
            c.node.op, [c.inputs[0]] + inputs + outputGrads,
            attrs: ["Tout": .types(differentiable.map { inputs[$0].dtype }), "then_branch": .function(gradBranches[0]),
                    "else_branch": .function(gradBranches[1])],
            name: c.node.op, file: "", line: 0)
        var result: [Output?] = Array(repeating: nil, count: c.inputs.count)
        for (k, i) in differentiable.enumerated() { result[i + 1] = grads[k] }
        return result
    }

    /// A function taking `f`'s arguments and the gradients of its results, returning the
    /// gradients of the arguments at `wrt` (zeros where none flows). Built in `f`'s body
    /// graph, so it recomputes `f`'s values it needs.
    static func gradientFunction(of f: GraphFunction, wrt: [Int], node: Node) throws -> GraphFunction {
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
                try body.output("Placeholder", [], attrs: ["dtype": .type(r.dtype), "shape": .shape(r.shape)],
                                name: "grad_output_\(k)", file: "", line: 0)
            }
            let differentiable = f.results.indices.filter { f.results[$0].dtype.isFloatingPoint }
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
    let thenBody = try FunctionBodyBuilder(in: g, arguments: [])
    let thenResults = try thenBody.build(thenBranch).map(thenBody.inside)
    let elseBody = try FunctionBodyBuilder(in: g, arguments: [])
    let elseResults = try elseBody.build(elseBranch).map(elseBody.inside)
    guard thenResults.map(\.dtype) == elseResults.map(\.dtype) else {
        throw SomaError.invalidArgument(
            "cond: true and false branches must return the same number and dtypes of values, but return ("
            + thenResults.map(\.dtype.name).joined(separator: ", ") + ") and ("
            + elseResults.map(\.dtype.name).joined(separator: ", ") + ") (at \(file):\(line))")
    }
    // Both branches take every captured value: the then-branch's, then the else-branch's.
    let thenCaptures = thenBody.sealCaptures(), elseCaptures = elseBody.sealCaptures()
    let thenArguments = thenCaptures.placeholders + (try elseCaptures.outer.map(thenBody.unusedArgument))
    let elseArguments = (try thenCaptures.outer.map(elseBody.unusedArgument)) + elseCaptures.placeholders
    let thenFunction = thenBody.finish(name: "\(name)_true", arguments: thenArguments, results: thenResults)
    let elseFunction = elseBody.finish(name: "\(name)_false", arguments: elseArguments, results: elseResults)
    let stateful = thenFunction.isStateful || elseFunction.isStateful
    let shapes = zip(thenResults, elseResults).map { $0.shape.relaxed(with: $1.shape) }
    return try g.outputs(
        stateful ? "If" : "StatelessIf", [pred] + thenCaptures.outer + elseCaptures.outer,
        attrs: ["Tout": .types(thenResults.map(\.dtype)), "then_branch": .function(thenFunction),
                "else_branch": .function(elseFunction), "output_shapes": .shapes(shapes)],
        name: name, file: file, line: line)
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
