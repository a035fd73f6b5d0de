import SomaProto

/// TF1's v1 while loops (frames of `Enter`, `Merge`, `Switch`, `LoopCond`,
/// `NextIteration` and `Exit` nodes — what `tf.compat.v1.while_loop` builds and what TF's
/// freezing lowers `While` to) raised to functional `While` nodes at load, as TF's own
/// `FunctionalizeControlFlow` does, so they compile and run like Soma's own loops.
///
/// For each frame, innermost first: every `Merge(Enter, NextIteration)` is a loop
/// variable, every `Enter` with `is_constant` a value the loop reads; the condition is
/// what `LoopCond` reads, back to the merges; the body is what the `NextIteration`s read,
/// back to `Switch:1`; `Exit`s become the `While`'s outputs. A frame that does not have
/// this shape is one clear error naming the frame and node. v1 conds are raised to `If`
/// first (``raiseConds(_:decoder:)``).
struct V1ControlFlow {
    typealias Node = GraphDefDecoder.ParsedNode
    static let frameOps: Set<String> = ["Enter", "Exit", "Merge", "Switch", "LoopCond", "NextIteration"]

    static func fail(_ message: String) -> SomaError { GraphDefDecoder.fail(message) }

    /// Whether any node is a v1 control-flow op.
    static func hasLoops(_ nodes: [Node]) -> Bool { nodes.contains { frameOps.contains($0.op) } }

    /// Every v1 cond — a `Merge` of two branches, each reading its inputs through `Switch`es
    /// on one predicate — raised to an `If` named like the `Merge` (so its consumers read
    /// it unchanged), innermost first; then the switches and what only the branches read
    /// are dropped. Loop `Merge`s (of an `Enter` and a `NextIteration`) and loop `Switch`es
    /// (on a `LoopCond`) are left to ``functionalize(_:decoder:)``.
    static func raiseConds(_ input: [Node], decoder: inout GraphDefDecoder) throws -> [Node] {
        try checkArity(input)
        var nodes = input
        var index: [String: Int] = [:]
        for (i, n) in nodes.enumerated() { index[n.name] = i }
        func node(_ name: String) -> Node? { index[name].map { nodes[$0] } }
        func isLoopMerge(_ n: Node) -> Bool { n.dataInputs.contains { ["Enter", "NextIteration"].contains(node($0.name)?.op ?? "") } }
        func isCondSwitch(_ n: Node) -> Bool { n.op == "Switch" && node(n.dataInputs.count == 2 ? n.dataInputs[1].name : "")?.op != "LoopCond" }
        var pending = nodes.indices.filter { nodes[$0].op == "Merge" && !isLoopMerge(nodes[$0]) }
        guard !pending.isEmpty else { return nodes }
        var condSwitches = Set<String>()
        var rounds = 0, raisedThisRound: [Int] = []
        while !pending.isEmpty {
            // Each round raises every cond whose branches hold no unraised cond: one round per
            // level of nesting, bounded so that a file cannot make this quadratic.
            rounds += 1
            guard rounds <= FunctionLoader.maxDepth else {
                throw fail("v1 conds nest deeper than \(FunctionLoader.maxDepth)")
            }
            var progressed = false
            for m in pending {
                let merge = nodes[m]
                guard merge.dataInputs.count == 2 else {
                    throw fail("node '\(merge.name)' (op: 'Merge') joins \(merge.dataInputs.count) values; a v1 cond joins two")
                }
                // Each input's branch: the nodes back to the switches (recorded with the output read).
                var regions: [[Node]] = [], reads: [[(switchName: String, output: Int)]] = [], blocked = false
                for input in merge.dataInputs {
                    var seen = Set<String>(), stack = [input.name], region: [Node] = [], switches: [(String, Int)] = []
                    if let s = node(input.name), isCondSwitch(s) { switches.append((input.name, input.index)); stack = [] }
                    while let name = stack.popLast() {
                        guard seen.insert(name).inserted, let n = node(name) else { continue }
                        if n.op == "Merge" && !isLoopMerge(n) { blocked = true; break }   // an inner cond first
                        if frameOps.contains(n.op) || n.op == "Placeholder" {
                            throw fail("a branch of the v1 cond '\(merge.name)' reads node '\(name)' (op: '\(n.op)') without a Switch")
                        }
                        region.append(n)
                        for i in n.dataInputs {
                            if let s = node(i.name), isCondSwitch(s) { switches.append((i.name, i.index)) } else { stack.append(i.name) }
                        }
                        for c in n.controlInputs where !(node(c).map(isCondSwitch) ?? true) { stack.append(c) }
                    }
                    regions.append(region)
                    reads.append(switches.map { (switchName: $0.0, output: $0.1) })
                    if blocked { break }
                }
                if blocked { continue }
                // One predicate; one branch reads outputs 1 (true), the other outputs 0.
                let allReads = reads.flatMap { $0 }
                /// A switch's predicate, through identities (TF1 switches data on `pred_id`, an
                /// Identity of the predicate, and its pivots on the predicate itself).
                func predicateOf(_ switchName: String) -> (name: String, index: Int)? {
                    guard var p = node(switchName)?.dataInputs[1] else { return nil }
                    var hops = 0
                    while let n = node(p.name), n.op == "Identity", let up = n.dataInputs.first, hops < 1000 { p = up; hops += 1 }
                    return p
                }
                guard let first = allReads.first, let predicate = predicateOf(first.switchName) else {
                    throw fail("node '\(merge.name)' (op: 'Merge') is not fed by Switches (not a v1 cond)")
                }
                for r in allReads where predicateOf(r.switchName)?.name != predicate.name
                    || predicateOf(r.switchName)?.index != predicate.index {
                    throw fail("the branches of the v1 cond '\(merge.name)' read Switches on different predicates ('\(first.switchName)' on "
                               + "'\(predicate.name)', '\(r.switchName)' on '\(predicateOf(r.switchName)?.name ?? "")')")
                }
                let outputs = reads.map { Set($0.map(\.output)) }
                guard outputs.allSatisfy({ $0.count <= 1 }), outputs[0] != outputs[1] || outputs[0].isEmpty else {
                    throw fail("the branches of the v1 cond '\(merge.name)' each read one side of the Switches")
                }
                let thenInput = outputs[0] == [1] || outputs[1] == [0] ? 0 : 1
                // Arguments: the switches' data inputs, in order of first use.
                var argumentOf: [String: Int] = [:], arguments: [(name: String, index: Int)] = [], types: [DType] = []
                for r in allReads where argumentOf[r.switchName] == nil {
                    let s = node(r.switchName)!
                    argumentOf[r.switchName] = arguments.count
                    arguments.append(s.dataInputs[0])
                    types.append(try s.typeAttr("T"))
                }
                let names = arguments.indices.map { "functionalized_argument_\($0)" }
                func rewritten(_ region: [Node]) -> [Node] {
                    region.map { n in
                        var n = n
                        n.dataInputs = n.dataInputs.map { i in argumentOf[i.name].map { (names[$0], 0) } ?? i }
                        n.controlInputs = n.controlInputs.filter { argumentOf[$0] == nil && !(node($0).map(isCondSwitch) ?? false) }
                        return n
                    }
                }
                let base = String(merge.name.map { $0.isLetter || $0.isNumber ? $0 : "_" })
                var functions: [GraphFunction] = []
                for (k, input) in merge.dataInputs.enumerated() {
                    let result = argumentOf[input.name].map { (names[$0], 0) } ?? input
                    let name = "\(base)_\(k == thenInput ? "then" : "else")_functionalized"
                    functions.append(try decoder.makeFunction(
                        name: name, context: "the \(name) function raised from a v1 cond",
                        arguments: GraphDefDecoder.argumentPlaceholders(names, types), nodes: rewritten(regions[k]), results: [result]))
                }
                var raised = Node(name: merge.name, op: "If", device: merge.device, position: merge.position)
                raised.dataInputs = [predicate] + arguments
                raised.controlInputs = merge.controlInputs
                raised.attrs = ["Tout": .types([try merge.typeAttr("T")]), "then_branch": .function(functions[thenInput]),
                                "else_branch": .function(functions[1 - thenInput]), "output_shapes": .shapes([])]
                nodes[m] = raised
                condSwitches.formUnion(allReads.map(\.switchName))
                raisedThisRound.append(m)
                progressed = true
            }
            pending.removeAll { raisedThisRound.contains($0) }
            raisedThisRound = []
            guard progressed else { throw fail("the v1 conds of the graph cannot be ordered (Merges feeding each other's branches)") }
        }
        // Drop the switches and what reads them (the branches' old nodes), transitively.
        var dropped = condSwitches
        var changed = true
        while changed {
            changed = false
            for n in nodes where !dropped.contains(n.name) && n.dataInputs.contains(where: { dropped.contains($0.name) }) {
                if n.op == "Merge" && !isLoopMerge(n) { continue }
                dropped.insert(n.name)
                changed = true
            }
        }
        return nodes.filter { !dropped.contains($0.name) }.map { n in
            var n = n
            n.controlInputs = n.controlInputs.filter { !dropped.contains($0) }
            return n
        }
    }

    /// Every frame op has TF's number of data inputs (what the raising reads by position).
    static func checkArity(_ nodes: [Node]) throws {
        for n in nodes where frameOps.contains(n.op) {
            let expected = n.op == "Switch" ? 2 : 1
            guard n.op == "Merge" ? n.dataInputs.count >= 1 : n.dataInputs.count == expected else {
                throw fail("node '\(n.name)' (op: '\(n.op)') has \(n.dataInputs.count) data inputs; it takes "
                           + (n.op == "Merge" ? "at least 1" : "\(expected)"))
            }
        }
    }

    static func frameName(_ node: Node) throws -> String {
        guard let a = node.rawAttr("frame_name"), a.pointee.value_case == TENSORFLOW__ATTR_VALUE__VALUE_S else {
            throw fail("node '\(node.name)' (op: 'Enter') has no frame_name")
        }
        return try GraphDefDecoder.utf8(a.pointee.s, "frame_name of node '\(node.name)'")
    }

    /// The graph with every v1 loop replaced by a `While` node over functions.
    static func functionalize(_ input: [Node], decoder: inout GraphDefDecoder) throws -> [Node] {
        var nodes = input
        var index: [String: Int] = [:]
        for (i, n) in nodes.enumerated() { index[n.name] = i }
        // Frames: each node's frame, found by walking forward from the sources (Enter opens
        // its frame, the output of an Exit is in the parent frame). Frame ids: 0 = root.
        var frameNames = [""], parents = [0], depths = [0]
        var frameOf = [Int](repeating: -1, count: nodes.count)
        var frameByKey: [String: Int] = [:]
        var consumers = [[Int]](repeating: [], count: nodes.count)
        for (i, n) in nodes.enumerated() {
            for input in n.dataInputs {
                guard let j = index[input.name] else { throw fail("node '\(n.name)' has input '\(input.name)', which is not a node of the graph") }
                consumers[j].append(i)
            }
            for c in n.controlInputs {
                guard let j = index[c] else { throw fail("node '\(n.name)' has control input '^\(c)', which is not a node of the graph") }
                consumers[j].append(i)
            }
        }
        /// The frame a node's outputs are in.
        func outputFrame(_ i: Int) -> Int { nodes[i].op == "Exit" ? parents[frameOf[i]] : frameOf[i] }
        var work: [Int] = nodes.indices.filter { nodes[$0].dataInputs.isEmpty && nodes[$0].controlInputs.isEmpty }
        for i in work { frameOf[i] = 0 }
        while let i = work.popLast() {
            for c in consumers[i] where frameOf[c] < 0 {
                let from = outputFrame(i)
                if nodes[c].op == "Enter" {
                    let name = try frameName(nodes[c])
                    let key = "\(from)/\(name)"
                    if let f = frameByKey[key] { frameOf[c] = f } else {
                        guard frameNames.count < 100_000 else { throw fail("too many loop frames") }
                        frameByKey[key] = frameNames.count
                        frameOf[c] = frameNames.count
                        frameNames.append(name)
                        parents.append(from)
                        depths.append(depths[from] + 1)
                    }
                } else {
                    guard from > 0 || nodes[c].op != "Exit" else {
                        throw fail("node '\(nodes[c].name)' (op: 'Exit') is not inside a loop frame (an Exit without an Enter)")
                    }
                    frameOf[c] = from
                }
                work.append(c)
            }
        }
        // Innermost frames first.
        let order = (1..<frameNames.count).sorted { depths[$0] > depths[$1] }
        var membersOf = [[Int]](repeating: [], count: frameNames.count)
        for i in nodes.indices where frameOf[i] > 0 { membersOf[frameOf[i]].append(i) }
        var removed = Set<Int>()
        for frame in order {
            let members = membersOf[frame].filter { !removed.contains($0) }.sorted()
            let (loop, memberSet) = try raise(frame: frameNames[frame], members: members, nodes: nodes, index: index,
                                              frameOf: frameOf, decoder: &decoder)
            removed.formUnion(memberSet)
            // The While takes the place of the frame's first member, in the parent frame.
            nodes[members[0]] = loop.node
            removed.remove(members[0])
            frameOf[members[0]] = parents[frame]
            membersOf[parents[frame]].append(members[0])
            index[loop.node.name] = members[0]
            // Consumers of the exits read the While's outputs.
            for (exit, (name, k)) in loop.exits {
                guard let e = index[exit] else { continue }
                for c in consumers[e] where !removed.contains(c) {
                    nodes[c].dataInputs = nodes[c].dataInputs.map { $0.name == exit ? (name, k) : $0 }
                    nodes[c].controlInputs = nodes[c].controlInputs.map { $0 == exit ? name : $0 }
                    consumers[members[0]].append(c)
                }
            }
        }
        return nodes.indices.filter { !removed.contains($0) }.map { nodes[$0] }
    }

    struct RaisedLoop {
        let node: Node
        /// Exit node name → the While's output standing for it.
        let exits: [String: (name: String, index: Int)]
    }

    /// One frame as a `While` node whose cond and body are new library functions.
    private static func raise(frame: String, members: [Int], nodes: [Node], index: [String: Int], frameOf: [Int],
                              decoder: inout GraphDefDecoder) throws -> (RaisedLoop, Set<Int>) {
        let label = "loop frame '\(frame)'"
        let memberSet = Set(members)
        let byOp = Dictionary(grouping: members) { nodes[$0].op }
        guard let conds = byOp["LoopCond"], conds.count == 1 else {
            throw fail("\(label) has \(byOp["LoopCond"]?.count ?? 0) LoopCond nodes; a loop has exactly one")
        }
        let loopCond = nodes[conds[0]]
        guard loopCond.dataInputs.count == 1 else { throw fail("node '\(loopCond.name)' (op: 'LoopCond') must have one input") }
        // Loop variables: Merge(Enter, NextIteration), in member order.
        struct Variable { var enter: Node; var merge: Node; var next: Node; var switchName: String; var exit: Node? }
        var variables: [Variable] = []
        let switchesByInput = Dictionary(grouping: byOp["Switch"] ?? []) { nodes[$0].dataInputs.first?.name ?? "" }
        let exitsBySwitch = Dictionary(grouping: (byOp["Exit"] ?? []).filter { nodes[$0].dataInputs.first?.index == 0 }) {
            nodes[$0].dataInputs.first?.name ?? ""
        }
        for m in byOp["Merge"] ?? [] {
            let merge = nodes[m]
            let sources = merge.dataInputs.compactMap { index[$0.name].map { nodes[$0] } }
            guard merge.dataInputs.count == 2, let enter = sources.first(where: { $0.op == "Enter" }),
                  let next = sources.first(where: { $0.op == "NextIteration" }) else {
                throw fail("node '\(merge.name)' (op: 'Merge') in \(label) must merge an Enter and a NextIteration (its back edge)")
            }
            let switches = switchesByInput[merge.name] ?? []
            guard switches.count == 1, nodes[switches[0]].dataInputs.count == 2,
                  nodes[switches[0]].dataInputs[1].name == loopCond.name else {
                throw fail("node '\(merge.name)' (op: 'Merge') in \(label) must feed one Switch on the LoopCond")
            }
            let switchName = nodes[switches[0]].name
            let exit = exitsBySwitch[switchName]?.first
            variables.append(Variable(enter: enter, merge: merge, next: next, switchName: switchName, exit: exit.map { nodes[$0] }))
        }
        guard !variables.isEmpty else { throw fail("\(label) has no loop variables (no Merge of an Enter and a NextIteration)") }
        let backEdges = Set(variables.map(\.next.name))
        for n in byOp["NextIteration"] ?? [] where !backEdges.contains(nodes[n].name) {
            throw fail("node '\(nodes[n].name)' (op: 'NextIteration') in \(label) feeds no Merge")
        }
        let loopEnters = Set(variables.map(\.enter.name))
        var invariants: [Node] = []
        for e in byOp["Enter"] ?? [] where !loopEnters.contains(nodes[e].name) {
            guard let a = nodes[e].rawAttr("is_constant"), a.pointee.value_case == TENSORFLOW__ATTR_VALUE__VALUE_B, a.pointee.b != 0 else {
                throw fail("node '\(nodes[e].name)' (op: 'Enter') in \(label) is neither a loop variable nor constant")
            }
            invariants.append(nodes[e])
        }
        for n in byOp["Enter"] ?? [] where (try? frameName(nodes[n])) != frame {
            throw fail("node '\(nodes[n].name)' (op: 'Enter') in \(label) names frame '\((try? frameName(nodes[n])) ?? "")'")
        }
        let types = try variables.map { try $0.enter.typeAttr("T") } + invariants.map { try $0.typeAttr("T") }
        let argumentNames = (0..<types.count).map { "functionalized_argument_\($0)" }
        // What stands for an argument inside the functions.
        var argument: [String: Int] = [:]   // "node:index" → argument
        for (k, v) in variables.enumerated() {
            argument["\(v.merge.name):0"] = k
            argument["\(v.switchName):1"] = k
        }
        for (j, e) in invariants.enumerated() { argument["\(e.name):0"] = variables.count + j }

        /// The nodes `roots` read inside the frame, inputs rewritten to the arguments.
        func region(_ roots: [(name: String, index: Int)], what: String) throws -> [Node] {
            var seen = Set<String>(), stack = roots.map(\.name), out: [Node] = []
            while let name = stack.popLast() {
                guard seen.insert(name).inserted, let i = index[name] else { continue }
                var n = nodes[i]
                if argument["\(name):0"] != nil && (n.op == "Merge" || n.op == "Enter") { continue }
                if n.op == "Switch" { continue }
                guard memberSet.contains(i), !frameOps.contains(n.op) else {
                    throw fail("the \(what) of \(label) reads node '\(name)' (op: '\(n.op)'), which is outside the loop or a frame op")
                }
                n.dataInputs = n.dataInputs.map { input in
                    if let k = argument["\(input.name):\(input.index)"] { return (argumentNames[k], 0) }
                    return input
                }
                n.controlInputs = n.controlInputs.filter { c in
                    guard let j = index[c] else { return false }
                    return !frameOps.contains(nodes[j].op)
                }
                for input in n.dataInputs where !argumentNames.contains(input.name) { stack.append(input.name) }
                stack += n.controlInputs
                out.append(n)
            }
            return out
        }
        func resolved(_ input: (name: String, index: Int)) -> (name: String, index: Int) {
            argument["\(input.name):\(input.index)"].map { (argumentNames[$0], 0) } ?? input
        }
        let predicate = resolved(loopCond.dataInputs[0])
        let nextValues = variables.map { resolved($0.next.dataInputs.first ?? ("", 0)) }
        guard variables.allSatisfy({ $0.next.dataInputs.count == 1 }) else {
            throw fail("a NextIteration node of \(label) must have one input")
        }
        let condNodes = try region([predicate], what: "condition")
        let bodyNodes = try region(nextValues, what: "body")
        let base = String((frame.isEmpty ? "while" : frame).map { $0.isLetter || $0.isNumber ? $0 : "_" })
        let placeholders = GraphDefDecoder.argumentPlaceholders(argumentNames, types)
        let cond = try decoder.makeFunction(name: "\(base)_cond_functionalized", context: "the condition of \(label)",
                                            arguments: placeholders, nodes: condNodes, results: [predicate])
        let body = try decoder.makeFunction(name: "\(base)_body_functionalized", context: "the body of \(label)",
                                            arguments: placeholders, nodes: bodyNodes,
                                            results: nextValues + invariants.indices.map { (argumentNames[variables.count + $0], 0) })
        var loop = Node(name: "\(variables[0].merge.name)/functionalized_while", op: "While", device: variables[0].enter.device,
                        position: variables[0].enter.position)
        loop.dataInputs = variables.map { $0.enter.dataInputs[0] } + invariants.map { $0.dataInputs[0] }
        loop.controlInputs = (variables.map(\.enter) + invariants).flatMap(\.controlInputs)
        loop.attrs = ["T": .types(types), "cond": .function(cond), "body": .function(body), "output_shapes": .shapes([]),
                      "parallel_iterations": .int(10)]
        var exits: [String: (name: String, index: Int)] = [:]
        for (k, v) in variables.enumerated() { if let exit = v.exit { exits[exit.name] = (loop.name, k) } }
        return (RaisedLoop(node: loop, exits: exits), memberSet)
    }
}
