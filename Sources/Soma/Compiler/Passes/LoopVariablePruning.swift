/// Loop variables nothing reads, dropped: a `While` output no node consumes, whose
/// variable neither the condition nor any other variable's update reads, is not carried —
/// the loop gets a condition and a body over the remaining variables (sharing the original
/// bodies' graphs; the compiled sub-plans leave out what only the dropped results needed).
///
/// What it is for: a frozen Keras LSTM keeps while_v2's gradient accumulators (34 lists,
/// each pushed every step) although nothing differentiates the frozen graph; grappler
/// prunes them the same way.
///
/// Contract: the loop's remaining outputs do not change — a dropped variable influences no
/// kept one, nor whether the loop goes on. Guards: only when compiling a plan (a saved
/// graph keeps the loop as written); never a fetched output; never a variable whose update
/// holds a stateful op that no kept result needs (its effect would be lost); at least one
/// variable stays. Dropping one variable can make another droppable: repeated to a fixpoint.
struct LoopVariablePruning: CompilerPass {
    static let name = "loop_variable_pruning"

    func run(_ ir: IRGraph, _ context: PassContext) throws {
        guard context.forPlan else { return }
        var read = Set<IRValue>(ir.fetches)
        for node in ir.nodes { read.formUnion(node.inputs) }
        for loop in ir.nodes where loop.op == "While" || loop.op == "StatelessWhile" {
            guard case .function(let cond)? = loop.attrs["cond"], case .function(let body)? = loop.attrs["body"] else { continue }
            let m = loop.inputs.count
            guard body.arguments.count == m, body.results.count == m, cond.arguments.count == m, loop.outputTypes.count == m else { continue }
            let unread = (0..<m).filter { !read.contains(IRValue(loop, $0)) }
            guard !unread.isEmpty else { continue }
            let kept = Self.keptVariables(cond: cond, body: body, candidates: unread)
            guard kept.count < m, !kept.isEmpty else { continue }
            rewrite(loop, keeping: kept, cond: cond, body: body, ir: ir)
        }
    }

    /// The variables that stay: those read outside, by the condition, by the update of one
    /// that stays, or whose update holds a stateful op — found by growing one set of needed
    /// body nodes, so the work is linear in the body's size.
    static func keptVariables(cond: GraphFunction, body: GraphFunction, candidates: [Int]) -> [Int] {
        let m = body.results.count
        let condNeeds = ancestors(of: cond.results.map(\.node) + cond.controlResults)
        var keep = Set(0..<m).subtracting(candidates)
        for k in candidates where condNeeds.contains(ObjectIdentifier(cond.arguments[k].node)) { keep.insert(k) }
        var needed = Set<ObjectIdentifier>(), checked = Set<ObjectIdentifier>()
        var stack = keep.map { body.results[$0].node } + body.controlResults
        while true {
            while !stack.isEmpty {
                while let n = stack.popLast() {
                    guard needed.insert(ObjectIdentifier(n)).inserted else { continue }
                    stack += n.inputs.map(\.node) + n.controlInputs
                }
                for k in candidates where !keep.contains(k) && needed.contains(ObjectIdentifier(body.arguments[k].node)) {
                    keep.insert(k)
                    stack.append(body.results[k].node)
                }
            }
            // An effect only a dropped update has would be lost: that variable stays. (Each
            // node is checked once: a stateful one found makes itself needed.)
            var effect: Int? = nil
            search: for k in candidates where !keep.contains(k) {
                var pending = [body.results[k].node]
                while let n = pending.popLast() {
                    let id = ObjectIdentifier(n)
                    guard !needed.contains(id), checked.insert(id).inserted else { continue }
                    if n.definition.traits.contains(.stateful) { effect = k; break search }
                    pending += n.inputs.map(\.node) + n.controlInputs
                }
            }
            guard let k = effect else { break }
            keep.insert(k)
            stack.append(body.results[k].node)
        }
        return keep.isEmpty ? Array(0..<m) : keep.sorted()
    }

    private func rewrite(_ loop: IRNode, keeping kept: [Int], cond: GraphFunction, body: GraphFunction, ir: IRGraph) {
        func subset<T>(_ values: [T]) -> [T] { kept.map { values[$0] } }
        let newCond = GraphFunction(name: cond.name, body: cond.body, arguments: subset(cond.arguments), results: cond.results,
                                    controlResults: cond.controlResults, argumentNames: subset(cond.argumentNames),
                                    resultNames: cond.resultNames)
        let newBody = GraphFunction(name: body.name, body: body.body, arguments: subset(body.arguments),
                                    results: subset(body.results), controlResults: body.controlResults,
                                    argumentNames: subset(body.argumentNames), resultNames: subset(body.resultNames))
        loop.attrs["cond"] = .function(newCond)
        loop.attrs["body"] = .function(newBody)
        if case .types(let t)? = loop.attrs["T"], t.count == loop.inputs.count { loop.attrs["T"] = .types(subset(t)) }
        if case .shapes(let s)? = loop.attrs["output_shapes"], s.count == loop.inputs.count { loop.attrs["output_shapes"] = .shapes(subset(s)) }
        let newIndex = Dictionary(uniqueKeysWithValues: kept.enumerated().map { ($1, $0) })
        if loop.listShapes.count == loop.outputTypes.count { loop.listShapes = subset(loop.listShapes) }
        loop.inputs = subset(loop.inputs)
        loop.outputTypes = subset(loop.outputTypes)
        loop.outputShapes = subset(loop.outputShapes)
        for node in ir.nodes {
            for i in node.inputs.indices where node.inputs[i].node === loop {
                node.inputs[i] = IRValue(loop, newIndex[node.inputs[i].index]!)
            }
        }
        for i in ir.fetches.indices where ir.fetches[i].node === loop { ir.fetches[i] = IRValue(loop, newIndex[ir.fetches[i].index]!) }
    }

    /// Every node `roots` depend on (themselves included), by identity.
    static func ancestors(of roots: [Node]) -> Set<ObjectIdentifier> {
        var seen = Set<ObjectIdentifier>(), stack = roots
        while let n = stack.popLast() {
            guard seen.insert(ObjectIdentifier(n)).inserted else { continue }
            stack += n.inputs.map(\.node) + n.controlInputs
        }
        return seen
    }
}
