import Foundation

extension SavedModel {
    /// A signature to export: graph tensors by input and output key.
    public struct SignatureSpec: Sendable {
        public var inputs: [String: Output]
        public var outputs: [String: Output]
        public var methodName: String

        public init(inputs: [String: Output], outputs: [String: Output], methodName: String = "tensorflow/serving/predict") {
            self.inputs = inputs
            self.outputs = outputs
            self.methodName = methodName
        }
    }

    /// Writes `graph` with `session`'s variable values as a TF1-style SavedModel that
    /// TensorFlow loads (`tf.compat.v1.saved_model.loader.load`, `tf.saved_model.load`) and
    /// Soma loads (``load(from:tags:options:limits:)``).
    ///
    /// The saved graph is `graph` plus a TF1 saver (`save/SaveV2`, `save/RestoreV2`,
    /// `save/restore_all`, fed through `save/Const`) named in the `saver_def`; the variables
    /// go to `variables/variables` (TensorBundle V2) under their names, and the `variables`
    /// and `trainable_variables` collections list them. Variables first, `saved_model.pb`
    /// last, each file atomically.
    ///
    /// - Throws: `FailedPrecondition` naming an uninitialised variable; `InvalidArgument`
    ///   for a signature tensor of another graph.
    public static func save(graph: Graph, session: Session, to directory: URL, signatures: [String: SignatureSpec],
                            tags: Set<String> = ["serve"]) throws {
        for (key, spec) in signatures {
            for output in Array(spec.inputs.values) + Array(spec.outputs.values) where output.graph !== graph {
                throw SomaError.invalidArgument("signature '\(key)': tensor \(output.name) is not of the graph being saved")
            }
        }
        let copy = try Graph(graphDef: graph.graphDef())
        let variables = copy.variables.sorted { $0.name < $1.name }
        let trainable = Set(graph.variables.filter(\.trainable).map(\.name))  // the copy cannot know
        var scope = "save"
        var k = 0
        while copy.node(named: "\(scope)/Const") != nil { k += 1; scope = "save_\(k)" }
        let saver = try addSaver(to: copy, variables: variables, scope: scope)

        let variablesFolder = directory.appendingPathComponent("variables")
        try FileManager.default.createDirectory(at: variablesFolder, withIntermediateDirectories: true)
        var writer = CheckpointWriter(prefix: variablesFolder.appendingPathComponent("variables").path)
        for v in variables {
            guard let value = session.state.value(of: v.sessionKey) else {
                throw SomaError.failedPrecondition("cannot save variable \(v.name): it is uninitialized in the session")
            }
            try writer.add(v.name, value)
        }
        try writer.write()

        var meta = ProtoBytes()
        meta.message(1) { info in
            // meta_graph_version says who wrote it; tensorflow_version stays empty, since
            // TF parses it as a version number.
            info.string(1, "soma")
            for tag in tags.sorted() { info.string(4, tag) }
        }
        meta.data(2, copy.graphDef())
        meta.message(3) { s in
            s.string(1, saver.filename)
            s.string(2, saver.save)
            s.string(3, saver.restore)
            s.varint(4, 5)
            s.fixed32(6, Float(10000).bitPattern)
            s.varint(7, 2)  // V2
        }
        for (collection, members) in [("trainable_variables", variables.filter { trainable.contains($0.name) }), ("variables", variables)] {
            guard !members.isEmpty else { continue }
            meta.message(4) { entry in
                entry.string(1, collection)
                entry.message(2) { c in
                    c.message(2) { list in
                        for v in members { list.data(1, variableDef(v, trainable: trainable.contains(v.name))) }
                    }
                }
            }
        }
        for (key, spec) in signatures.sorted(by: { $0.key < $1.key }) {
            meta.message(5) { entry in
                entry.string(1, key)
                entry.message(2) { s in
                    for (field, side) in [(1, spec.inputs), (2, spec.outputs)] {
                        for (name, output) in side.sorted(by: { $0.key < $1.key }) {
                            s.message(field) { e in
                                e.string(1, name)
                                e.message(2) { info in
                                    info.string(1, output.name)
                                    info.varint(2, UInt64(output.dtype.rawValue))
                                    info.shape(3, output.shape)
                                }
                            }
                        }
                    }
                    s.string(3, spec.methodName)
                }
            }
        }
        var model = ProtoBytes()
        model.varint(1, 1)
        model.data(2, meta.bytes)
        try AtomicFile.write(model.bytes, to: directory.appendingPathComponent("saved_model.pb"))
    }

    /// TF1's `VariableDef` for the collections.
    private static func variableDef(_ v: Variable, trainable: Bool) -> [UInt8] {
        var b = ProtoBytes()
        b.string(1, v.name + ":0")
        if let initializer = v.initializer { b.string(2, initializer.name) }
        b.string(3, v.value.name)
        b.bool(5, v.ref.dtype == .resource)
        b.bool(7, trainable)
        return b.bytes
    }

    /// Adds TF1's saver subgraph (format V2, one shard) for `variables` under `scope`.
    /// - Returns: the `saver_def` names: filename tensor, save tensor, restore op.
    static func addSaver(to g: Graph, variables: [Variable], scope: String) throws -> (filename: String, save: String, restore: String) {
        func node(_ op: String, _ inputs: [Output], _ attrs: [String: AttrValue] = [:], _ name: String, controls: [Node] = []) throws -> Node {
            try g.addNode(op: op, inputs: inputs, attrs: attrs, name: "\(scope)/\(name)", controlInputs: controls, uniquifyName: false)
        }
        func out(_ n: Node, _ k: Int = 0) -> Output { Output(graph: g, node: n, index: k) }
        let stringScalar: [String: AttrValue] = ["dtype": .type(.string), "shape": .shape(.scalar)]
        let defaultName = try node("Const", [], ["value": .tensor(Tensor("model")), "dtype": .type(.string)], "filename/input")
        let filename = try node("PlaceholderWithDefault", [out(defaultName)], stringScalar, "filename")
        let prefix = try node("PlaceholderWithDefault", [out(filename)], stringScalar, "Const")
        let names = try Tensor(strings: variables.map(\.name), shape: [variables.count])
        let slices = try Tensor(strings: Array(repeating: "", count: variables.count), shape: [variables.count])
        func constant(_ t: Tensor, _ name: String) throws -> Output { out(try node("Const", [], ["value": .tensor(t), "dtype": .type(t.dtype)], name)) }
        var values: [Output] = []
        for (k, v) in variables.enumerated() {
            if v.ref.dtype == .resource {
                values.append(out(try node("ReadVariableOp", [v.ref], ["dtype": .type(v.dtype)], "Read_\(k)/ReadVariableOp")))
            } else {
                values.append(v.ref)
            }
        }
        let save = try node("SaveV2", [out(prefix), try constant(names, "SaveV2/tensor_names"), try constant(slices, "SaveV2/shape_and_slices")]
                            + values, [:], "SaveV2")
        let saved = try node("Identity", [out(prefix)], [:], "control_dependency", controls: [save])
        let restore = try node("RestoreV2", [out(prefix), try constant(names, "RestoreV2/tensor_names"),
                                             try constant(slices, "RestoreV2/shape_and_slices")],
                               ["dtypes": .types(variables.map(\.dtype))], "RestoreV2")
        var assigns: [Node] = []
        for (k, v) in variables.enumerated() {
            let suffix = k == 0 ? "" : "_\(k)"
            if v.ref.dtype == .resource {
                let value = try node("Identity", [out(restore, k)], [:], "Identity\(suffix)")
                assigns.append(try node("AssignVariableOp", [v.ref, out(value)], [:], "AssignVariableOp\(suffix)"))
            } else {
                assigns.append(try node("Assign", [v.ref, out(restore, k)], [:], "Assign\(suffix)"))
            }
        }
        let restoreAll = try node("NoOp", [], [:], "restore_all", controls: assigns)
        return ("\(prefix.name):0", "\(saved.name):0", restoreAll.name)
    }
}
