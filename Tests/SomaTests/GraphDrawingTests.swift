import Foundation
import Testing
@testable import Soma

@Suite struct GraphDrawingTests {
    /// Graphviz's `dot`, when installed (Tools/install-deps.sh installs it).
    static let dot: String? = ["/usr/bin/dot", "/usr/local/bin/dot"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Runs `dot -Tsvg` on `text`: its exit status and stderr.
    static func render(_ text: String) throws -> (status: Int32, errors: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(dot))
        process.arguments = ["-Tsvg", "-o", "/dev/null"]
        let input = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, message)
    }

    static func scopedGraph() throws -> (Graph, Output) {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil, 3], name: "x")
        let h = try g.withNameScope("encoder") {
            try g.withNameScope("layer1") { try relu(matmul(x, g.constant(Tensor(repeating: Float(1), shape: [3, 4])), name: "mm"), name: "act") }
        }
        let check = try assertThat(g.constant(true), data: [h])
        let out = try g.withNameScope("head") {
            try g.withControlDependencies([check]) { try identity(reduceSum(h, axis: [1], name: "sum"), name: "out") }
        }
        return (g, out)
    }

    @Test func graphsDrawWithScopesColoursAndEdgeLabels() throws {
        let (g, _) = try Self.scopedGraph()
        let text = GraphDrawing.dot(of: g, title: "test")
        #expect(text.hasPrefix("digraph soma {"))
        #expect(text.contains("label=\"encoder\"") && text.contains("label=\"layer1\"") && text.contains("label=\"head\""))
        #expect(text.contains("label=\"mm\\nMatMul\"") && text.contains("fillcolor=\"#e4d4f4\""), "linalg colour")
        #expect(text.contains("[label=\"float32 [?,4]\"]"), "dtype and partial shape on data edges")
        #expect(text.contains("style=dashed"), "the control edge")
        // Depth 0: each top-level scope is one box counting its nodes.
        let collapsed = GraphDrawing.dot(of: g, depth: 0)
        #expect(collapsed.contains("\"encoder\\n") && collapsed.contains("shape=box3d") && !collapsed.contains("label=\"layer1\""))
        // Names are escaped: a quote or a control character cannot break out of a label.
        #expect(GraphDrawing.quoted("a\"b\\c\nd\u{1B}") == "\"a\\\"b\\\\c\\nd?\"")
        if Self.dot != nil {
            for picture in [text, collapsed] {
                let result = try Self.render(picture)
                #expect(result.status == 0, "dot: \(result.errors)")
            }
        }
    }

    @Test func plansDrawWithReuseAndMemoryPlots() throws {
        let (g, out) = try Self.scopedGraph()
        let session = Session(graph: g)
        let x = try #require(g.output(named: "x"))
        let plan = try #require(try session.plan(fetches: [out], feeds: [x: Tensor(repeating: Float(1), shape: [64, 3])]))
        let text = GraphDrawing.dot(of: plan, title: "plan")
        #expect(text.contains("\(plan.steps.count) steps, arena \(plan.arenaBytes) bytes"))
        #expect(text.contains("_FusedMatMul [Relu]") || text.contains("MatMul"), "\(text)")
        #expect(text.contains("\"x\\nfeed\""))
        if Self.dot != nil {
            let result = try Self.render(text)
            #expect(result.status == 0, "dot: \(result.errors)")
        }
        let live = GraphDrawing.liveBytes(of: plan)
        #expect(live.count == plan.steps.count)
        #expect(live.max() == plan.lowerBoundBytes, "the curve's peak is the lower bound: \(live) vs \(plan.lowerBoundBytes)")
        let svg = GraphDrawing.memorySVG(of: plan)
        #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>") && svg.contains("<polyline"))
        #expect(svg.contains("lower bound"))
    }
}
