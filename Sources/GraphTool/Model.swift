import ArgumentParser
import Foundation
import Soma

/// `--tags` and `--signature`, for subcommands that take a SavedModel directory as well as
/// a GraphDef file.
struct SavedModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("With a SavedModel directory: the MetaGraphDef's tag set, comma-separated.", valueName: "tags"))
    var tags = "serve"

    @Option(help: ArgumentHelp(
        "With a SavedModel directory: a signature key (e.g. serving_default); --input and --fetch then name its input and output keys.",
        valueName: "key"))
    var signature: String? = nil

    var tagSet: Set<String> { Set(tags.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }) }
}

/// Whether `path` is a directory (so, a SavedModel).
func isDirectory(_ path: String) -> Bool {
    var folder: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &folder) && folder.boolValue
}

/// A model named on the command line, loaded: its graph, a session (variables restored
/// for a SavedModel, or from `--checkpoint`), and the signature `--signature` chose.
struct LoadedModel {
    let path: String
    let graph: Graph
    let session: Session
    let signature: SavedModel.Signature?

    /// Loads a GraphDef file or a SavedModel directory; every failure one line.
    static func load(_ path: String, savedModel: SavedModelOptions, checkpoint: String? = nil, budget: MemoryBudget,
                     options: SessionOptions = SessionOptions()) throws -> LoadedModel {
        var options = options
        options.memoryBudget = budget
        var limits = GraphDefLimits()
        limits.memoryBudget = budget
        if isDirectory(path) {
            let model = try withToolErrors {
                try SavedModel.load(from: URL(fileURLWithPath: path), tags: savedModel.tagSet, options: options, limits: limits)
            }
            var signature: SavedModel.Signature?
            if let key = savedModel.signature {
                guard let s = model.signatures[key] else {
                    throw ToolError("\(path) has no signature '\(key)'; its signatures: \(model.signatures.keys.sorted().joined(separator: ", "))")
                }
                signature = s
            }
            let session = model.session
            if let checkpoint { try restore(session, of: model.graph, from: checkpoint) }
            return LoadedModel(path: path, graph: model.graph, session: session, signature: signature)
        }
        if savedModel.signature != nil {
            throw ToolError("--signature needs a SavedModel directory; \(path) is a GraphDef file")
        }
        let graph = try loadGraph(path, budget: budget)
        let session = Session(graph: graph, options: options)
        if let checkpoint { try restore(session, of: graph, from: checkpoint) }
        return LoadedModel(path: path, graph: graph, session: session, signature: nil)
    }

    /// Restores every variable of `graph` by name from a checkpoint prefix, or from the
    /// latest checkpoint of a folder.
    static func restore(_ session: Session, of graph: Graph, from checkpoint: String) throws {
        let prefix = try checkpointPrefix(checkpoint)
        guard !graph.variables.isEmpty else { throw ToolError("--checkpoint: the graph has no variables to restore") }
        try withToolErrors { try Saver(graph: graph).restore(session, from: prefix) }
    }

    /// A tensor to feed: a signature input key with `--signature`, else a graph tensor.
    func input(_ name: String) throws -> Output {
        guard let signature else { return try resolveOutput(name, in: graph) }
        guard let info = signature.inputs[name] else {
            throw ToolError("signature '\(signature.key)' has no input '\(name)'; its inputs: \(signature.inputs.keys.sorted().joined(separator: ", "))")
        }
        return info.output
    }

    /// A tensor to fetch: a signature output key with `--signature`, else a graph tensor.
    func output(_ name: String) throws -> Output {
        guard let signature else { return try resolveOutput(name, in: graph) }
        guard let info = signature.outputs[name] else {
            throw ToolError("signature '\(signature.key)' has no output '\(name)'; its outputs: \(signature.outputs.keys.sorted().joined(separator: ", "))")
        }
        return info.output
    }

    /// A node to run for its effects.
    func node(_ name: String, _ option: String) throws -> Node {
        guard let node = graph.node(named: name) else { throw ToolError("\(option) '\(name)' is not a node of \(path)") }
        return node
    }

    /// What to fetch when no `--fetch` is given: the signature's outputs by key, else the
    /// graph's possible outputs by name.
    var defaultFetches: [(label: String, output: Output)] {
        if let signature { return signature.outputs.sorted { $0.key < $1.key }.map { ($0.key, $0.value.output) } }
        return GraphSummary.possibleOutputs(graph).map { ($0.name, $0) }
    }
}

/// The prefix `--checkpoint` names: a prefix, or a folder's latest checkpoint.
func checkpointPrefix(_ path: String) throws -> String {
    if isDirectory(path) {
        guard let latest = Saver.latestCheckpoint(in: URL(fileURLWithPath: path)) else {
            throw ToolError("\(path) is a folder without a checkpoint file naming an existing checkpoint")
        }
        return latest
    }
    return path.hasSuffix(".index") ? String(path.dropLast(".index".count)) : path
}
