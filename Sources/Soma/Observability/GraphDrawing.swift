import Foundation

/// Pictures of graphs and plans: Graphviz DOT (`graphtool draw` renders it with `dot`) and
/// an SVG of a plan's memory over its schedule.
///
/// Names come from model files: every label is escaped for DOT and SVG, and nodes are
/// identified by number, never by name.
public enum GraphDrawing {
    /// The fill colour of each op family (a pastel palette; unknown ops grey).
    static let familyColours: [String: String] = [
        "math": "#dbe9f6", "nn": "#fde0c5", "conv": "#f9c6c9", "linalg": "#e4d4f4", "reduction": "#d5f0e3",
        "array": "#eeeeee", "state": "#fff3b0", "resource": "#fff3b0", "training": "#ffd6a5", "fused": "#ffadad",
        "random": "#e2f0cb", "rnn": "#f1c0e8", "control_flow": "#cfbaf0", "list": "#cfbaf0", "string": "#f5f5dc",
        "io": "#f5f5dc", "logging": "#f5f5dc", "summary": "#b9fbc0",
    ]

    static func colour(of op: String) -> String {
        if op == "Placeholder" || op == "PlaceholderWithDefault" { return "#a0c4ff" }
        if op == "Const" { return "#f8f8f8" }
        return familyColours[OpRegistry.families[op] ?? ""] ?? "#dddddd"
    }

    /// A DOT string literal.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out += scalar.value < 0x20 || scalar.value == 0x7F ? "?" : String(scalar)
            }
        }
        return out + "\""
    }

    /// Text for SVG content.
    static func xmlEscaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            default: out += scalar.value < 0x20 ? "?" : String(scalar)
            }
        }
        return out
    }

    /// A tree of name scopes: clusters with their nodes and child scopes.
    private final class Scope {
        let path: String
        var children: [String: Scope] = [:]
        var childOrder: [String] = []
        var lines: [String] = []
        init(path: String) { self.path = path }
        func child(_ name: String) -> Scope {
            if let c = children[name] { return c }
            let c = Scope(path: path.isEmpty ? name : "\(path)/\(name)")
            children[name] = c
            childOrder.append(name)
            return c
        }
        /// The clusters as DOT, depth first with an explicit stack (a file controls the depth).
        func render(into out: inout [String], clusterIDs: inout Int) {
            var stack: [(scope: Scope, open: Bool)] = [(self, false)]
            while let (scope, opened) = stack.popLast() {
                if opened { out.append("}"); continue }
                let isRoot = scope === self
                if !isRoot {
                    clusterIDs += 1
                    out.append("subgraph cluster_\(clusterIDs) {")
                    out.append("label=\(GraphDrawing.quoted(String(scope.path.split(separator: "/").last ?? "")));")
                    out.append("style=\"rounded,dashed\"; color=\"#888888\"; fontcolor=\"#444444\";")
                }
                out += scope.lines
                if !isRoot { stack.append((scope, true)) }
                for name in scope.childOrder.reversed() { stack.append((scope.children[name]!, false)) }
            }
        }
    }

    /// The graph as DOT: name scopes as clusters, scopes below `depth` levels collapsed
    /// into one box each (`nil`: none), ops coloured by family, data edges labelled with
    /// dtype and shape, control edges dashed.
    public static func dot(of graph: Graph, depth: Int? = nil, title: String? = nil) -> String {
        let root = Scope(path: "")
        var box: [Int: String] = [:]  // node id → DOT id of what draws it
        var collapsed: [String: (id: String, count: Int, scope: Scope, name: String)] = [:]
        var collapsedOrder: [String] = []
        // Every scope path; a node named like a scope (`w` beside `w/read`) is drawn inside
        // it, as TensorBoard groups them.
        var scopePaths = Set<Substring>()
        for node in graph.nodes {
            var name = Substring(node.name)
            while let slash = name.lastIndex(of: "/") { name = name[..<slash]; scopePaths.insert(name) }
        }
        for node in graph.nodes {
            let parts = node.name.split(separator: "/").map(String.init)
            let scopes = scopePaths.contains(Substring(node.name)) ? parts[...] : parts.dropLast()
            var scope = root
            if let depth, scopes.count > depth {
                for part in scopes.prefix(depth) { scope = scope.child(part) }
                let key = parts.prefix(depth + 1).joined(separator: "/")
                if collapsed[key] == nil {
                    collapsed[key] = ("g\(collapsedOrder.count)", 0, scope, parts[depth])
                    collapsedOrder.append(key)
                }
                collapsed[key]!.count += 1
                box[node.id] = collapsed[key]!.id
                continue
            }
            for part in scopes { scope = scope.child(part) }
            let id = "n\(node.id)"
            box[node.id] = id
            let label = "\(parts.last ?? node.name)\n\(node.op)"
            scope.lines.append("\(id) [label=\(quoted(label)), fillcolor=\(quoted(colour(of: node.op))), tooltip=\(quoted(node.name))];")
        }
        for key in collapsedOrder {
            let c = collapsed[key]!
            c.scope.lines.append("\(c.id) [label=\(quoted("\(c.name)\n\(c.count) nodes")), shape=box3d, fillcolor=\"#ffffff\", tooltip=\(quoted(key))];")
        }
        var lines = ["digraph soma {",
                     "graph [rankdir=TB, fontname=\"Helvetica\", fontsize=11, label=\(quoted(title ?? "")), labelloc=t, compound=true];",
                     "node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];",
                     "edge [fontname=\"Helvetica\", fontsize=8, color=\"#555555\", fontcolor=\"#555555\"];"]
        var clusterIDs = 0
        root.render(into: &lines, clusterIDs: &clusterIDs)
        var seen = Set<String>()
        for node in graph.nodes {
            let to = box[node.id]!
            for input in node.inputs {
                let from = box[input.node.id]!
                guard from != to else { continue }
                let label = "\(input.dtype.name) \(input.shape)"
                if seen.insert("\(from)>\(to)|\(label)").inserted {
                    lines.append("\(from) -> \(to) [label=\(quoted(label))];")
                }
            }
            for control in node.controlInputs {
                let from = box[control.id]!
                guard from != to, seen.insert("\(from)>\(to)|^").inserted else { continue }
                lines.append("\(from) -> \(to) [style=dashed, color=\"#999999\", arrowhead=odot];")
            }
        }
        lines.append("}")
        return lines.joined(separator: "\n")
    }

    /// A plan as DOT: one box per step in schedule order (fused steps show their op and
    /// what they fused), edges labelled with the value's shape and arena placement, and the
    /// steps whose output takes over the buffer of an earlier value marked with it.
    public static func dot(of plan: Plan, title: String? = nil) -> String {
        var producer: [Int: Int] = [:]
        for (s, step) in plan.steps.enumerated() { for v in step.outputs { producer[v] = s } }
        // The last earlier value placed at each arena offset: whose buffer a value reuses.
        var holder: [Int: Int] = [:]
        var lines = ["digraph plan {",
                     "graph [rankdir=TB, fontname=\"Helvetica\", fontsize=11, labelloc=t, label="
                        + quoted("\(title.map { $0 + ": " } ?? "")\(plan.steps.count) steps, arena \(plan.arenaBytes) bytes "
                                 + "(lower bound \(plan.lowerBoundBytes), no reuse \(plan.noReuseBytes))") + "];",
                     "node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];",
                     "edge [fontname=\"Helvetica\", fontsize=8, color=\"#555555\", fontcolor=\"#555555\"];"]
        for (s, step) in plan.steps.enumerated() {
            var label = "\(s): \(step.name)\n\(step.op)"
            if let fused = step.node.strings("fused_ops"), !fused.isEmpty { label += " [\(fused.joined(separator: ", "))]" }
            var reuses: [String] = []
            for v in step.outputs {
                guard case .arena(let offset, _) = plan.values[v].storage else { continue }
                if let earlier = holder[offset], earlier != v { reuses.append(plan.values[earlier].name) }
                holder[offset] = v
            }
            if !reuses.isEmpty { label += "\nreuses \(reuses.joined(separator: ", "))" }
            let style = reuses.isEmpty ? "" : ", penwidth=2, color=\"#2a9d8f\""
            lines.append("s\(s) [label=\(quoted(label)), fillcolor=\(quoted(colour(of: step.op)))\(style)];")
        }
        for (s, step) in plan.steps.enumerated() {
            for v in step.inputs {
                var root = v
                while case .alias(let of) = plan.values[root].storage { root = of }
                let value = plan.values[v]
                var label = "\(value.dtype.name) \(value.isDynamic ? "[dynamic]" : shapeString(value.shape))"
                if case .arena(let offset, let bytes) = plan.values[root].storage { label += "\n@\(offset) +\(bytes)" }
                if let p = producer[v] ?? producer[root] {
                    lines.append("s\(p) -> s\(s) [label=\(quoted(label))];")
                } else {
                    let source = "v\(v)"
                    let kind: String
                    switch value.storage {
                    case .feed: kind = "feed"
                    case .constant: kind = "constant"
                    case .variable: kind = "variable"
                    default: kind = "value"
                    }
                    lines.append("\(source) [label=\(quoted("\(value.name)\n\(kind)")), shape=note, fillcolor=\"#ffffff\"];")
                    lines.append("\(source) -> s\(s) [label=\(quoted(label))];")
                }
            }
        }
        lines.append("}")
        return lines.joined(separator: "\n")
    }

    /// The arena bytes live at each step: the union of the (alignment-rounded) arena
    /// ranges of values produced at or before it and read at or after it (a value's aliases
    /// extend its life). Its peak is the plan's lower bound.
    public static func liveBytes(of plan: Plan) -> [Int] {
        var last = plan.values.map(\.lastUse)
        var ranges: [(first: Int, range: Range<Int>, value: Int)] = []
        for (v, value) in plan.values.enumerated() {
            var root = v
            while case .alias(let of) = plan.values[root].storage { root = of }
            if root != v { last[root] = Swift.max(last[root], value.lastUse) }
        }
        for (v, value) in plan.values.enumerated() {
            if case .arena(let offset, let bytes) = value.storage, bytes > 0 {
                ranges.append((value.firstUse, offset..<offset + PlanBuilder.aligned(bytes), v))
            }
        }
        return plan.steps.indices.map { s in
            let live = ranges.filter { $0.first <= s && s <= last[$0.value] }.map(\.range).sorted { $0.lowerBound < $1.lowerBound }
            var total = 0, end = Int.min
            for r in live {
                if r.lowerBound >= end { total += r.count; end = r.upperBound }
                else if r.upperBound > end { total += r.upperBound - end; end = r.upperBound }
            }
            return total
        }
    }

    /// An SVG chart of ``liveBytes(of:)`` over the schedule beside the lower bound (the
    /// peak any placement needs) and the planned arena.
    public static func memorySVG(of plan: Plan, title: String? = nil) -> String {
        let live = liveBytes(of: plan)
        let width = 900.0, height = 360.0, left = 80.0, right = 20.0, top = 40.0, bottom = 50.0
        let top_ = Double(Swift.max(plan.arenaBytes, plan.lowerBoundBytes, live.max() ?? 0, 1))
        let steps = Double(Swift.max(live.count - 1, 1))
        func x(_ s: Double) -> Double { left + (width - left - right) * s / steps }
        func y(_ b: Double) -> Double { top + (height - top - bottom) * (1 - b / top_) }
        func mib(_ b: Int) -> String { String(format: "%.2f MiB", Double(b) / 1_048_576) }
        var svg = ["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"Helvetica\" font-size=\"11\">",
                   "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
                   "<text x=\"\(left)\" y=\"20\" font-size=\"13\">\(xmlEscaped(title ?? "plan memory")): live arena bytes per step</text>"]
        // Axes and labels.
        svg.append("<line x1=\"\(left)\" y1=\"\(y(0))\" x2=\"\(width - right)\" y2=\"\(y(0))\" stroke=\"#333\"/>")
        svg.append("<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(y(0))\" stroke=\"#333\"/>")
        svg.append("<text x=\"\(left)\" y=\"\(height - 15)\">step 0</text>")
        svg.append("<text x=\"\(width - right)\" y=\"\(height - 15)\" text-anchor=\"end\">step \(live.count - 1)</text>")
        svg.append("<text x=\"\(left - 6)\" y=\"\(y(0))\" text-anchor=\"end\">0</text>")
        svg.append("<text x=\"\(left - 6)\" y=\"\(top + 4)\" text-anchor=\"end\">\(mib(Int(top_)))</text>")
        for (bytes, colour, name) in [(plan.arenaBytes, "#e76f51", "arena"), (plan.lowerBoundBytes, "#2a9d8f", "lower bound")] {
            let yy = y(Double(bytes))
            svg.append("<line x1=\"\(left)\" y1=\"\(yy)\" x2=\"\(width - right)\" y2=\"\(yy)\" stroke=\"\(colour)\" stroke-dasharray=\"6,4\"/>")
            svg.append("<text x=\"\(width - right)\" y=\"\(yy - 4)\" text-anchor=\"end\" fill=\"\(colour)\">\(name) \(mib(bytes))</text>")
        }
        let points = live.enumerated().map { String(format: "%.1f,%.1f", x(Double($0.offset)), y(Double($0.element))) }
        svg.append("<polyline fill=\"none\" stroke=\"#264653\" stroke-width=\"1.5\" points=\"\(points.joined(separator: " "))\"/>")
        svg.append("</svg>")
        return svg.joined(separator: "\n")
    }
}
