import ArgumentParser
import Foundation
import Soma

/// `--input NAME=FILE.npy …`, shared by `run`, `bench` and `inspect --plan`.
struct FeedOptions: ParsableArguments {
    @Option(name: .customLong("input"), help: ArgumentHelp(
        "A value to feed, as NAME=FILE.npy (NAME is a node or node:k; with --signature, an input key). Repeatable.",
        valueName: "name=file.npy"))
    var inputs: [String] = []

    func validate() throws {
        for input in inputs {
            let parts = input.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ValidationError("--input '\(input)' must be NAME=FILE.npy")
            }
        }
    }

    /// The feeds, loaded. With `zerosForStaticPlaceholders`, placeholders not fed that the
    /// `fetches` and `targets` need get zeros when their shape is fully known, and are an
    /// error asking for `--input` otherwise; placeholders they do not need get nothing.
    func feeds(for model: LoadedModel, zerosForStaticPlaceholders: Bool = false, fetches: [Output] = [], targets: [Node] = [],
               budget: MemoryBudget = MemoryBudget()) throws -> [Output: Soma.Tensor] {
        let graph = model.graph
        var feeds: [Output: Soma.Tensor] = [:]
        for input in inputs {
            let parts = input.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let output = try model.input(parts[0])
            do {
                feeds[output] = try Soma.Tensor(contentsOfNPY: URL(fileURLWithPath: parts[1]))
            } catch let error as SomaError {
                throw ToolError("--input \(parts[0]): \(error.message)")
            }
        }
        guard zerosForStaticPlaceholders else { return feeds }
        if let signature = model.signature {
            // A signature's inputs not given get zeros, unknown dimensions (the batch) 1.
            for (key, info) in signature.inputs.sorted(by: { $0.key < $1.key }) where feeds[info.output] == nil {
                let dims = (info.shape.dimensions ?? []).map { $0 ?? 1 }
                guard let dtype = info.dtype else { throw ToolError("signature input '\(key)' has a dtype Soma lacks: give --input \(key)=FILE.npy") }
                do {
                    feeds[info.output] = try Soma.Tensor(zeros: dtype, shape: dims, budget: budget)
                } catch {
                    throw ToolError("zeros for signature input '\(key)': \(error.message)")
                }
                printEscaped("input \(key): zeros of shape \(GraphTool.Run.shapeText(dims)) (give --input \(key)=FILE.npy for other values)")
            }
            return feeds
        }
        let needed = Self.nodesNeeded(by: fetches, targets: targets, feeds: Set(feeds.keys.map(\.node.name)))
        for node in graph.nodes where node.op == "Placeholder" && needed.contains(node.name)
            && !feeds.keys.contains(where: { $0.node === node }) {
            guard let dims = node.outputShapes[0].concrete else {
                throw ToolError("placeholder '\(node.name)' has shape \(node.outputShapes[0]): give --input \(node.name)=FILE.npy")
            }
            do {
                feeds[graph.output(of: node)] = try Soma.Tensor(zeros: node.outputTypes[0], shape: dims, budget: budget)
            } catch {
                throw ToolError("zeros for placeholder '\(node.name)': \(error.message)")
            }
        }
        return feeds
    }
}

extension FeedOptions {
    /// The names of the nodes computing `fetches` and `targets` needs, through data and
    /// control edges, stopping at fed nodes (an explicit stack: a file controls the depth).
    static func nodesNeeded(by fetches: [Output], targets: [Node], feeds: Set<String>) -> Set<String> {
        var needed = Set<String>()
        var stack = fetches.map(\.node) + targets
        while let node = stack.popLast() {
            guard needed.insert(node.name).inserted, !feeds.contains(node.name) else { continue }
            stack.append(contentsOf: node.inputs.map(\.node))
            stack.append(contentsOf: node.controlInputs)
        }
        return needed
    }
}

/// `--fetch NAME …` for commands that compute outputs without writing them.
struct FetchOptions: ParsableArguments {
    @Option(name: .customLong("fetch"), help: ArgumentHelp(
        "An output to compute (NAME or NAME:k; with --signature, an output key). Repeatable; default: the signature's outputs, "
        + "or the graph's possible outputs.", valueName: "name"))
    var fetches: [String] = []

    func outputs(of model: LoadedModel) throws -> [Output] {
        try fetches.isEmpty ? model.defaultFetches.map(\.output) : fetches.map { try model.output($0) }
    }
}

/// `--init`, `--target`, `--checkpoint` and `--threads`, for the commands that run a graph
/// many times (`bench`, `profile`), and the preparation they share.
struct RepeatedRunOptions: ParsableArguments {
    @Option(name: .customLong("init"), help: ArgumentHelp(
        "A node to run once before timing (a variable initializer, e.g. init). Repeatable.", valueName: "node"))
    var initializers: [String] = []

    @Option(name: .customLong("target"), help: ArgumentHelp(
        "A node to run in every timed run for its effects (a training op). Repeatable.", valueName: "node"))
    var targets: [String] = []

    @Option(help: ArgumentHelp(
        "A checkpoint (prefix, or a folder's latest) to restore the graph's variables from, by name.", valueName: "prefix"))
    var checkpoint: String? = nil

    @Option(help: "Threads for both inter-op and intra-op parallelism (0: the number of cores).")
    var threads = 0

    @Flag(inversion: .prefixedNo,
          help: "While other processes keep the cores busy, run each plan on the calling thread alone (Soma's default).")
    var adaptToContention = true

    func validate() throws {
        guard threads >= 0 else { throw ValidationError("--threads must not be negative") }
    }

    /// What the runs need: the loaded model, fetches (none when only targets are given),
    /// targets, initialisers run once already, and the feeds the fetches and targets need.
    struct Prepared {
        let model: LoadedModel
        let outputs: [Output]
        let targets: [Node]
        let feeds: [Output: Soma.Tensor]
    }

    func prepare(_ path: String, savedModel: SavedModelOptions, feedOptions: FeedOptions, fetchOptions: FetchOptions,
                 budget: MemoryBudget, checkNumerics: Bool = false) throws -> Prepared {
        var options = SessionOptions()
        options.interOpThreads = threads
        options.intraOpThreads = threads
        options.adaptsToContention = adaptToContention
        options.checkNumerics = checkNumerics
        let loaded = try LoadedModel.load(path, savedModel: savedModel, checkpoint: checkpoint, budget: budget, options: options)
        let outputs = try fetchOptions.fetches.isEmpty && !targets.isEmpty ? [] : fetchOptions.outputs(of: loaded)
        let targetNodes = try targets.map { try loaded.node($0, "--target") }
        let initNodes = try initializers.map { try loaded.node($0, "--init") }
        let feeds = try feedOptions.feeds(for: loaded, zerosForStaticPlaceholders: true, fetches: outputs,
                                          targets: targetNodes + initNodes, budget: budget)
        try withToolErrors { for n in initNodes { try loaded.session.run(target: n) } }
        return Prepared(model: loaded, outputs: outputs, targets: targetNodes, feeds: feeds)
    }
}
