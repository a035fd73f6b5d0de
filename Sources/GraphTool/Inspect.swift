import ArgumentParser
import Foundation
import Soma

extension GraphTool {
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Summarise a graph: inputs, outputs, op types, parameters, control edges and inferred shapes; or list a checkpoint's tensors.",
            discussion: """
                Examples:
                  graphtool inspect model.pb --nodes
                  graphtool inspect exported/ --plan --signature serving_default
                  graphtool inspect --checkpoint train/model.ckpt-1000 --tensor dense/kernel
                """)

        @Argument(help: "The GraphDef file (.pb) or SavedModel directory.")
        var model: String? = nil

        @OptionGroup var savedModelOptions: SavedModelOptions

        @Option(help: ArgumentHelp(
            "List the tensors of this checkpoint (a prefix, or a folder's latest) instead: name, dtype, shape, bytes (as inspect_checkpoint).",
            valueName: "prefix"))
        var checkpoint: String? = nil

        @Option(help: ArgumentHelp("With --checkpoint: print this tensor's values too. Repeatable.", valueName: "name"))
        var tensor: [String] = []

        @Flag(help: "Print the summary as JSON, including every node's inferred output shapes.")
        var json = false

        @Flag(help: "List every node with its op and inferred output shapes (text mode).")
        var nodes = false

        @Flag(help: "Compile the graph and print its schedule and buffer plan.")
        var plan = false

        @OptionGroup(title: "With --plan") var feedOptions: FeedOptions
        @OptionGroup(title: "With --plan") var fetchOptions: FetchOptions
        @OptionGroup var memoryOptions: MemoryOptions

        func validate() throws {
            guard (model == nil) != (checkpoint == nil) else { throw ValidationError("Give a model or --checkpoint PREFIX (not both).") }
            guard tensor.isEmpty || checkpoint != nil else { throw ValidationError("--tensor goes with --checkpoint.") }
        }

        func run() throws {
            let budget = memoryOptions.budget()
            if let checkpoint { return try printCheckpoint(checkpoint, budget: budget) }
            guard let model else { return }
            let graph: Graph
            if plan {
                let loaded = try LoadedModel.load(model, savedModel: savedModelOptions, budget: budget)
                return try printPlan(loaded, budget: budget)
            } else if isDirectory(model) {
                var limits = GraphDefLimits()
                limits.memoryBudget = budget
                graph = try withToolErrors { try SavedModel.graph(from: URL(fileURLWithPath: model), tags: savedModelOptions.tagSet, limits: limits) }
            } else {
                graph = try loadGraph(model, budget: budget)
            }
            let summary = GraphSummary(graph)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(summary), as: UTF8.self))
            } else {
                printEscaped(summary.text(listNodes: nodes))
            }
        }
    }
}

extension GraphTool.Inspect {
    /// Lists a checkpoint's tensors, as TF's `inspect_checkpoint` does.
    func printCheckpoint(_ path: String, budget: MemoryBudget) throws {
        let prefix = try checkpointPrefix(path)
        let reader = try withToolErrors { try CheckpointReader(prefix: prefix, budget: budget) }
        var total = 0
        for name in reader.names {
            let e = reader.entries[name]!
            total += e.size
            let dtype = e.dtype?.name ?? "dtype \(e.rawDType)"
            let sliced = e.sliceCount > 0 ? " (partitioned in \(e.sliceCount) slices)" : ""
            printEscaped("\(name) (\(dtype)) \(GraphTool.Run.shapeText(e.shape)) \(e.size) bytes\(sliced)")
        }
        print("\(reader.names.count) tensors, \(total) bytes, in \(reader.shardCount) shard\(reader.shardCount == 1 ? "" : "s")")
        for name in tensor {
            guard reader.entries[name] != nil else { throw ToolError("--tensor '\(name)' is not in checkpoint \(prefix)") }
            let value = try withToolErrors { try reader.tensor(name) }
            let shown = value.dtype == .string
                ? "[" + (value.byteStrings ?? []).prefix(8).map { String(decoding: $0, as: UTF8.self).debugDescription }.joined(separator: ", ") + "]"
                : GraphTool.Run.leadingValues(value, count: 16)
            printEscaped("\(name) = \(shown)")
        }
    }

    func printPlan(_ model: LoadedModel, budget: MemoryBudget) throws {
        let outputs = try fetchOptions.outputs(of: model)
        let feeds = try feedOptions.feeds(for: model, zerosForStaticPlaceholders: true, fetches: outputs, budget: budget)
        guard let compiled = try withToolErrors({ try model.session.plan(fetches: outputs, feeds: feeds) }) else {
            throw ToolError("the graph's shapes depend on fed values, so it has no static plan")
        }
        if json {
            let object: [String: Any] = [
                "peak_bytes": compiled.arenaBytes, "lower_bound_bytes": compiled.lowerBoundBytes,
                "no_reuse_bytes": compiled.noReuseBytes, "parallel_arena_bytes": compiled.parallelArenaBytes,
                "passes": compiled.passReports.map { ["pass": $0.pass, "nodes": $0.nodes, "delta": $0.delta, "ms": $0.milliseconds] },
                "steps": compiled.steps.map { step -> [String: Any] in
                    ["name": step.name, "op": step.op, "inputs": step.inputs.map { compiled.values[$0].name },
                     "outputs": step.outputs.map { v -> [String: Any] in
                         let value = compiled.values[v]
                         var entry: [String: Any] = ["name": value.name, "dtype": value.dtype.name, "shape": value.shape]
                         switch value.storage {
                         case .arena(let offset, let bytes): entry["offset"] = offset; entry["bytes"] = bytes
                         case .alias(let of): entry["alias_of"] = compiled.values[of].name
                         default: entry["storage"] = "\(value.storage)"
                         }
                         return entry
                     },
                     "dependencies": step.dependencyCount]
                },
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        } else {
            compiled.passReports.forEach { printEscaped("\($0)") }
            printEscaped(compiled.listing)
        }
    }
}

/// What TF's `summarize_graph` reports, plus inferred shapes.
struct GraphSummary: Encodable {
    struct Tensor: Encodable {
        let name: String
        let op: String
        let dtype: String
        let shape: String
    }
    struct NodeInfo: Encodable {
        let name: String
        let op: String
        let outputs: [String]
    }
    struct Target: Encodable {
        let name: String
        let op: String
    }
    struct VariableInfo: Encodable {
        let name: String
        let dtype: String
        let shape: String
        let bytes: Int?
        let trainable: Bool
    }

    let nodeCount: Int
    let inputs: [Tensor]
    let outputs: [Tensor]
    /// Unconsumed outputs no one fetches: gradients, optimiser slots, initial values, saver plumbing.
    let deadEnds: [Tensor]
    /// Unconsumed nodes that update variables through optimiser ops (`Apply*`), directly or
    /// through their control inputs: what a training loop runs.
    let trainOps: [Target]
    /// Other unconsumed `NoOp`s and assignments: initialisers, restore groups.
    let otherTargets: [Target]
    let variables: [VariableInfo]
    let opCounts: [String: Int]
    let constParameters: Int
    let constBytes: Int
    let variableParameters: Int
    let controlEdges: Int
    let nodes: [NodeInfo]

    enum CodingKeys: String, CodingKey {
        case nodeCount = "node_count", inputs, outputs, deadEnds = "dead_ends", trainOps = "train_ops"
        case otherTargets = "other_targets", variables, opCounts = "op_counts", constParameters = "const_parameters"
        case constBytes = "const_bytes", variableParameters = "variable_parameters", controlEdges = "control_edges", nodes
    }

    init(_ graph: Graph) {
        let all = graph.nodes
        nodeCount = all.count
        inputs = all.filter { $0.op == "Placeholder" || $0.op == "PlaceholderWithDefault" }.map {
            Tensor(name: $0.name, op: $0.op, dtype: $0.outputTypes[0].name, shape: $0.outputShapes[0].description)
        }
        func tensor(_ node: Node) -> Tensor {
            Tensor(name: node.name, op: node.op, dtype: node.outputTypes[0].name, shape: node.outputShapes[0].description)
        }
        let unconsumed = Self.unconsumedNodes(graph)
        let withOutputs = unconsumed.filter { $0.outputCount > 0 }
        outputs = withOutputs.filter { !Self.isDeadEnd($0) }.map(tensor)
        deadEnds = withOutputs.filter { Self.isDeadEnd($0) && !$0.op.contains("Apply") }.map(tensor)
        let targets = unconsumed.filter { $0.outputCount == 0 || $0.op.contains("Apply") }
        let training = targets.filter(Self.appliesUpdates)
        trainOps = training.map { Target(name: $0.name, op: $0.op) }
        otherTargets = targets.filter { node in !training.contains { $0 === node } }.map { Target(name: $0.name, op: $0.op) }
        variables = graph.variables.map { v in
            VariableInfo(name: v.name, dtype: v.dtype.name, shape: v.shape.description,
                         bytes: v.shape.elementCount.map { $0 * v.dtype.byteSize }, trainable: v.trainable)
        }
        opCounts = Dictionary(all.map { ($0.op, 1) }, uniquingKeysWith: +)
        let consts = all.filter { $0.op == "Const" }.compactMap { node -> Soma.Tensor? in
            if case .tensor(let t)? = node.attrs["value"] { return t }
            return nil
        }
        constParameters = consts.reduce(0) { $0 + $1.scalarCount }
        constBytes = consts.reduce(0) { $0 + $1.byteCount }
        variableParameters = graph.variables.reduce(0) { $0 + ($1.shape.elementCount ?? 0) }
        controlEdges = all.reduce(0) { $0 + $1.controlInputs.count }
        nodes = all.map { node in
            NodeInfo(name: node.name, op: node.op, outputs: zip(node.outputTypes, node.outputShapes).map { "\($0.name) \($1)" })
        }
    }

    /// Nodes nothing consumes, by data or control edge.
    static func unconsumedNodes(_ graph: Graph) -> [Node] {
        var consumed = Set<String>()
        for node in graph.nodes {
            for input in node.inputs { consumed.insert(input.node.name) }
            for control in node.controlInputs { consumed.insert(control.name) }
        }
        return graph.nodes.filter { !consumed.contains($0.name) }
    }

    /// Likely outputs: unconsumed nodes with outputs (TF's rule for possible outputs) that
    /// are not dead ends of training or saving plumbing.
    static func possibleOutputNodes(_ graph: Graph) -> [Node] {
        unconsumedNodes(graph).filter { $0.outputCount > 0 && !isDeadEnd($0) }
    }

    /// Output 0 of each likely output node.
    static func possibleOutputs(_ graph: Graph) -> [Output] { possibleOutputNodes(graph).map { graph.output(of: $0) } }

    /// An unconsumed node no one means to fetch: under a `gradients` scope, a variable
    /// (an optimiser slot nothing reads), its read or initialisation check, an assignment
    /// or initial value, the saver's
    /// plumbing, or an optimiser update with an output (a train op, listed as such).
    static func isDeadEnd(_ node: Node) -> Bool {
        let scopes = node.name.split(separator: "/")
        if scopes.dropLast().contains(where: { $0 == "gradients" || $0.hasPrefix("gradients_") }) { return true }
        if scopes.first == "save" || scopes.contains(where: { $0 == "Initializer" }) { return true }
        let deadOps: Set<String> = ["VariableV2", "Variable", "VarHandleOp", "Assign", "AssignAdd", "AssignSub",
                                    "SaveV2", "RestoreV2", "MergeV2Checkpoints", "VarIsInitializedOp", "IsVariableInitialized",
                                    "ReadVariableOp"]
        let variableOps: Set<String> = ["VariableV2", "Variable", "VarHandleOp"]
        // A variable's own read (`w/read`): the variables are listed by themselves.
        if node.op == "Identity", let source = node.inputs.first?.node, variableOps.contains(source.op) { return true }
        return deadOps.contains(node.op) || node.op.contains("Apply")
    }

    /// Whether an optimiser update (`Apply*`) is the node or among its ancestors (an
    /// explicit stack, bounded by the graph: a file controls the depth).
    static func appliesUpdates(_ node: Node) -> Bool {
        var seen = Set<String>()
        var stack = [node]
        while let n = stack.popLast() {
            guard seen.insert(n.name).inserted else { continue }
            if n.op.contains("Apply") { return true }
            stack.append(contentsOf: n.controlInputs)
            stack.append(contentsOf: n.inputs.map(\.node))
        }
        return false
    }

    func text(listNodes: Bool) -> String {
        var lines: [String] = []
        func list(_ tensors: [Tensor], _ what: String) {
            if tensors.isEmpty { lines.append("No \(what) spotted.") ; return }
            lines.append("Found \(tensors.count) \(what):")
            for t in tensors { lines.append("  (name=\(t.name), op=\(t.op), type=\(t.dtype), shape=\(t.shape))") }
        }
        list(inputs, "possible inputs")
        list(outputs, "possible outputs")
        if !deadEnds.isEmpty {
            let shown = deadEnds.prefix(6).map(\.name).joined(separator: ", ")
            lines.append("Found \(deadEnds.count) dead ends (gradients, optimiser slots, initial values, saver plumbing): "
                         + shown + (deadEnds.count > 6 ? ", …" : ""))
        }
        for (targets, what) in [(trainOps, "train ops"), (otherTargets, "other targets (initialisers, restores)")] where !targets.isEmpty {
            lines.append("Found \(targets.count) \(what):")
            for t in targets { lines.append("  (name=\(t.name), op=\(t.op))") }
        }
        if !variables.isEmpty {
            lines.append("Found \(variables.count) variables:")
            for v in variables {
                let bytes = v.bytes.map { "\(Self.human($0))B" } ?? "? B"
                lines.append("  (name=\(v.name), type=\(v.dtype), shape=\(v.shape), \(bytes)\(v.trainable ? "" : ", not trainable"))")
            }
        }
        lines.append("Found \(constParameters) (\(Self.human(constParameters))) const parameters in \(Self.human(constBytes))B, "
                     + "\(variableParameters) (\(Self.human(variableParameters))) variable parameters, and \(controlEdges) control_edges")
        lines.append("\(nodeCount) nodes; op types used: "
                     + opCounts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                        .map { "\($0.value) \($0.key)" }.joined(separator: ", "))
        if listNodes {
            lines.append("Nodes (inferred output dtypes and shapes):")
            for n in nodes { lines.append("  \(n.name) = \(n.op) → \(n.outputs.joined(separator: "; "))") }
        }
        return lines.joined(separator: "\n")
    }

    static func human(_ n: Int) -> String {
        switch n {
        case ..<1000: "\(n)"
        case ..<1_000_000: String(format: "%.2fk", Double(n) / 1e3)
        case ..<1_000_000_000: String(format: "%.2fM", Double(n) / 1e6)
        default: String(format: "%.2fG", Double(n) / 1e9)
        }
    }
}
