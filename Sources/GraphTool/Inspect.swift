import ArgumentParser
import Foundation
import Soma

extension GraphTool {
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Summarise a graph: inputs, outputs, op types, parameters, control edges and inferred shapes.")

        @Argument(help: "The GraphDef file (.pb).")
        var model: String

        @Flag(help: "Print the summary as JSON, including every node's inferred output shapes.")
        var json = false

        @Flag(help: "List every node with its op and inferred output shapes (text mode).")
        var nodes = false

        @Flag(help: "Compile the graph and print its schedule and buffer plan.")
        var plan = false

        @OptionGroup(title: "With --plan") var feedOptions: FeedOptions
        @OptionGroup(title: "With --plan") var fetchOptions: FetchOptions
        @OptionGroup var memoryOptions: MemoryOptions

        func run() throws {
            let budget = memoryOptions.budget()
            let graph = try loadGraph(model, budget: budget)
            if plan { return try printPlan(graph, budget: budget) }
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
    func printPlan(_ graph: Graph, budget: MemoryBudget) throws {
        let feeds = try feedOptions.feeds(for: graph, zerosForStaticPlaceholders: true, budget: budget)
        let outputs = try fetchOptions.outputs(of: graph)
        var options = SessionOptions()
        options.memoryBudget = budget
        guard let compiled = try withToolErrors({ try Session(graph: graph, options: options).plan(fetches: outputs, feeds: feeds) }) else {
            throw ToolError("the graph's shapes depend on fed values, so it has no static plan")
        }
        if json {
            let object: [String: Any] = [
                "peak_bytes": compiled.arenaBytes, "lower_bound_bytes": compiled.lowerBoundBytes,
                "no_reuse_bytes": compiled.noReuseBytes,
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

    let nodeCount: Int
    let inputs: [Tensor]
    let outputs: [Tensor]
    let opCounts: [String: Int]
    let constParameters: Int
    let constBytes: Int
    let variableParameters: Int
    let controlEdges: Int
    let nodes: [NodeInfo]

    enum CodingKeys: String, CodingKey {
        case nodeCount = "node_count", inputs, outputs, opCounts = "op_counts", constParameters = "const_parameters"
        case constBytes = "const_bytes", variableParameters = "variable_parameters", controlEdges = "control_edges", nodes
    }

    init(_ graph: Graph) {
        let all = graph.nodes
        nodeCount = all.count
        inputs = all.filter { $0.op == "Placeholder" || $0.op == "PlaceholderWithDefault" }.map {
            Tensor(name: $0.name, op: $0.op, dtype: $0.outputTypes[0].name, shape: $0.outputShapes[0].description)
        }
        outputs = Self.possibleOutputNodes(graph).map {
            Tensor(name: $0.name, op: $0.op, dtype: $0.outputTypes[0].name, shape: $0.outputShapes[0].description)
        }
        opCounts = Dictionary(all.map { ($0.op, 1) }, uniquingKeysWith: +)
        let consts = all.filter { $0.op == "Const" }.compactMap { node -> Soma.Tensor? in
            if case .tensor(let t)? = node.attrs["value"] { return t }
            return nil
        }
        constParameters = consts.reduce(0) { $0 + $1.scalarCount }
        constBytes = consts.reduce(0) { $0 + $1.byteCount }
        variableParameters = all.filter { $0.op == "VariableV2" }.reduce(0) { $0 + ($1.outputShapes[0].elementCount ?? 0) }
        controlEdges = all.reduce(0) { $0 + $1.controlInputs.count }
        nodes = all.map { node in
            NodeInfo(name: node.name, op: node.op, outputs: zip(node.outputTypes, node.outputShapes).map { "\($0.name) \($1)" })
        }
    }

    /// Nodes whose outputs nothing consumes (TF's rule for possible outputs), NoOps excepted.
    static func possibleOutputNodes(_ graph: Graph) -> [Node] {
        var consumed = Set<String>()
        for node in graph.nodes {
            for input in node.inputs { consumed.insert(input.node.name) }
            for control in node.controlInputs { consumed.insert(control.name) }
        }
        return graph.nodes.filter { !consumed.contains($0.name) && $0.outputCount > 0 }
    }

    /// Output 0 of each possible output node.
    static func possibleOutputs(_ graph: Graph) -> [Output] { possibleOutputNodes(graph).map { graph.output(of: $0) } }

    func text(listNodes: Bool) -> String {
        var lines: [String] = []
        func list(_ tensors: [Tensor], _ what: String) {
            if tensors.isEmpty { lines.append("No \(what) spotted.") ; return }
            lines.append("Found \(tensors.count) \(what):")
            for t in tensors { lines.append("  (name=\(t.name), op=\(t.op), type=\(t.dtype), shape=\(t.shape))") }
        }
        list(inputs, "possible inputs")
        list(outputs, "possible outputs")
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
