import ArgumentParser
import Foundation
import Soma

extension GraphTool {
    struct Draw: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Draw a graph (name scopes as clusters, ops coloured by family, edges with dtype and shape), its compiled plan, or the plan's memory.",
            discussion: """
                The output's extension picks the format: .svg or .png are rendered with Graphviz's dot (Tools/install-deps.sh
                installs it; without it the DOT file is written beside, with a note), .dot is written as it is; no -o prints DOT.
                --memory draws an SVG of the plan's live arena bytes per step against the lower bound and the arena.
                Examples:
                  graphtool draw model.pb -o graph.svg --depth 1
                  graphtool draw model.pb --plan --input x=x.npy -o plan.svg
                  graphtool draw model.pb --memory -o memory.svg
                  graphtool draw train.pb --plan --target train --input x=x.npy --input y=y.npy -o step.svg
                """)

        @Argument(help: "The GraphDef file (.pb) or SavedModel directory.")
        var model: String

        @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Where to write: .svg, .png or .dot.", valueName: "file"))
        var output: String? = nil

        @Option(help: ArgumentHelp("Show this many levels of name scopes; deeper scopes collapse into one box each.", valueName: "n"))
        var depth: Int? = nil

        @Flag(help: "Draw the compiled plan: steps in schedule order, fused nodes, arena placement and buffer reuse.")
        var plan = false

        @Flag(help: "Plot the compiled plan's live bytes per step against its lower bound (SVG).")
        var memory = false

        @OptionGroup var savedModelOptions: SavedModelOptions
        @OptionGroup(title: "With --plan or --memory") var feedOptions: FeedOptions
        @OptionGroup(title: "With --plan or --memory") var fetchOptions: FetchOptions

        @Option(name: .customLong("target"), help: ArgumentHelp(
            "With --plan or --memory: a node the plan runs for its effects (a training op). Repeatable.", valueName: "node"))
        var targets: [String] = []
        @OptionGroup var memoryOptions: MemoryOptions

        func validate() throws {
            guard !(plan && memory) else { throw ValidationError("Give --plan or --memory, not both.") }
            if let depth, depth < 0 { throw ValidationError("--depth must not be negative") }
            if let output {
                let ext = URL(fileURLWithPath: output).pathExtension.lowercased()
                guard memory ? ext == "svg" : ["svg", "png", "dot", "gv"].contains(ext) else {
                    throw ValidationError(memory ? "--memory writes SVG: give -o FILE.svg" : "-o must end in .svg, .png or .dot")
                }
            }
        }

        func run() throws {
            let budget = memoryOptions.budget()
            let loaded = try LoadedModel.load(model, savedModel: savedModelOptions, budget: budget)
            let title = URL(fileURLWithPath: model).lastPathComponent
            let text: String
            if plan || memory {
                let outputs = try fetchOptions.fetches.isEmpty && !targets.isEmpty ? [] : fetchOptions.outputs(of: loaded)
                let targetNodes = try targets.map { try loaded.node($0, "--target") }
                let feeds = try feedOptions.feeds(for: loaded, zerosForStaticPlaceholders: true, fetches: outputs, targets: targetNodes,
                                                  budget: budget)
                guard let compiled = try withToolErrors({ try loaded.session.plan(fetches: outputs, feeds: feeds, targets: targetNodes) })
                else {
                    throw ToolError("the graph's shapes depend on fed values, so it has no static plan")
                }
                text = memory ? GraphDrawing.memorySVG(of: compiled, title: title) : GraphDrawing.dot(of: compiled, title: title)
            } else {
                text = GraphDrawing.dot(of: loaded.graph, depth: depth, title: title)
            }
            guard let output else { return print(text) }
            let url = URL(fileURLWithPath: output)
            let ext = url.pathExtension.lowercased()
            if memory || ext == "dot" || ext == "gv" {
                try write(text, to: url)
                return printEscaped("\(memory ? "memory plot" : "DOT") → \(output)")
            }
            guard let dot = Self.findDot() else {
                let fallback = url.deletingPathExtension().appendingPathExtension("dot")
                try write(text, to: fallback)
                return printEscaped("Graphviz's dot is not installed (Tools/install-deps.sh installs it): wrote \(fallback.path); "
                                    + "render it with dot -T\(ext) \(fallback.path) -o \(output)")
            }
            try Self.render(text, with: dot, format: ext, to: output)
            printEscaped("\(plan ? "plan" : "graph") → \(output)")
        }

        private func write(_ text: String, to url: URL) throws {
            do { try Data(text.utf8).write(to: url, options: .atomic) } catch {
                throw ToolError("cannot write \(url.path): \(error.localizedDescription)")
            }
        }

        /// Graphviz's `dot` on the PATH.
        static func findDot() -> String? {
            for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
                let candidate = "\(folder)/dot"
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            }
            return nil
        }

        /// Runs `dot -T<format> -o <output>` on `text`; its errors become one line.
        static func render(_ text: String, with dot: String, format: String, to output: String) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: dot)
            process.arguments = ["-T\(format)", "-o", output]
            let input = Pipe(), errors = Pipe()
            process.standardInput = input
            process.standardError = errors
            do { try process.run() } catch { throw ToolError("cannot run \(dot): \(error.localizedDescription)") }
            input.fileHandleForWriting.write(Data(text.utf8))
            try? input.fileHandleForWriting.close()
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw ToolError("dot failed: \(message.split(separator: "\n").first.map(String.init) ?? "exit \(process.terminationStatus)")")
            }
        }
    }
}
