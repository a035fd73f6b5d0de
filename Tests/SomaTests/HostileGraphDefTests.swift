import Foundation
import Testing
@testable import Soma

/// Model files are untrusted: every malformed input is a clear error naming the node and
/// field — never a crash, a hang or an unbounded allocation.
@Suite struct HostileGraphDefTests {
    typealias B = GraphDefBuilder

    /// The error loading `bytes` gives (failing the test when it loads).
    func loadError(_ bytes: [UInt8], limits: GraphDefLimits = .default, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> String {
        do {
            _ = try Graph(graphDef: bytes, limits: limits)
            Issue.record("loaded without error", sourceLocation: sourceLocation)
            return ""
        } catch let error as SomaError {
            return error.message
        } catch {
            Issue.record("unexpected error type \(error)", sourceLocation: sourceLocation)
            return ""
        }
    }

    @Test func fileSizeIsCapped() {
        var limits = GraphDefLimits()
        limits.maxFileBytes = 16
        let bytes = B.graph([B.placeholder("x")])
        #expect(loadError(bytes, limits: limits).contains("exceeds the limit of 16"))
    }

    @Test func wireFormatErrorsAreNamed() {
        #expect(loadError([0x0A, 0x80]).contains("truncated varint"))
        #expect(loadError([0x0A, 100, 1, 2]).contains("GraphDef: field 1 at byte 0 declares 100 bytes but only 2 remain"))
        #expect(loadError([0x0B]).contains("unsupported wire type 3"))
        #expect(loadError([0x00, 0x00]).contains("invalid field number 0"))
        var w = ProtoWriter()
        w.message(1) { n in n.string(1, "x"); n.tag(5, 2); n.varint(50) }
        #expect(loadError(w.bytes).contains("GraphDef.node[0]: field 5 at byte 5 declares 50 bytes but only 0 remain"))
        // A float field cut short.
        #expect(loadError([0x0A, 0x02, 0x25, 0x00]).contains("needs 4 bytes but 1 remain"))
    }

    @Test func deepNestingIsRefusedBeforeUnpacking() {
        // AttrValue.func → NameAttrList.attr → entry.value → AttrValue … 3,000 deep: the
        // recursion that overflows protobuf-c's stack.
        var value = ProtoWriter()
        for _ in 0..<3000 {
            var nameAttrList = ProtoWriter()
            nameAttrList.message(2) { entry in entry.string(1, "a"); entry.data(2, value.bytes) }
            var attr = ProtoWriter()
            attr.data(10, nameAttrList.bytes)
            value = attr
        }
        let bytes = B.graph([B.node("n", "NoOp", attrs: [("f", { $0.bytes += value.bytes })])])
        #expect(loadError(bytes).contains("nesting deeper than 64 levels"))
    }

    @Test func unpackingIsBudgeted() {
        // 200,000 empty NodeDefs: 400 KB on disk, ~30 MB as protobuf-c structs.
        let bytes = (0..<400_000).map { UInt8($0 % 2 == 0 ? 0x0A : 0x00) }
        var limits = GraphDefLimits()
        limits.maxUnpackedBytes = 4 << 20
        #expect(loadError(bytes, limits: limits).contains("memory budget"))
    }

    @Test func namesMustBeValidAndUnique() {
        #expect(loadError(B.graph([B.node("", "NoOp")])).contains("node[0] has an empty name"))
        #expect(loadError(B.graph([B.node("a", "NoOp"), B.node("a", "NoOp")])).contains("duplicate node name 'a'"))
        #expect(loadError(B.graph([B.node("a:1", "NoOp")])).contains("node name 'a:1' contains a character"))
        #expect(loadError(B.graph([B.node("a", "")])).contains("node 'a' has no op"))
        var w = ProtoWriter()
        w.message(1) { n in n.data(1, [0x61, 0xFF, 0xFE]); n.string(2, "NoOp") }
        #expect(loadError(w.bytes).contains("node[0].name is not valid UTF-8"))
    }

    /// A hostile Einsum equation is one clear line naming the node, never a trap.
    @Test(arguments: [("ij,jk", "Expecting exactly one '->'"), ("ii,jk->ik", "repeats a label"), ("ij,jk,kl->il", "3 input terms"),
                      ("i\u{e9},jk->ik", "invalid label"), ("ij,jk->iz", "absent from the inputs"), ("i...j...,jk->ik", "more than one ellipsis")])
    func einsumEquationsAreChecked(_ equation: String, _ message: String) throws {
        let g = Graph()
        let a = try g.placeholder(.float32, shape: [2, 3], name: "a"), b = try g.placeholder(.float32, shape: [3, 4], name: "b")
        let error = #expect(throws: SomaError.self) {
            try g.output("Einsum", [a, b], attrs: ["equation": .string(equation)], name: "e", file: "", line: 0)
        }
        #expect(error?.message.contains(message) == true && error?.message.contains("'e'") == true, "\(String(describing: error))")
        // Sizes that disagree are caught at run time too, with the node named.
        let c = try g.placeholder(.float32, shape: .unknown, name: "c")
        let product = try g.output("Einsum", [a, c], attrs: ["equation": .string("ij,jk->ik")], name: "late", file: "", line: 0)
        let runError = #expect(throws: SomaError.self) { try Session(graph: g).run(product, feeds: [a: Tensor(zeros: .float32, shape: [2, 3]), c: Tensor(zeros: .float32, shape: [4, 4])]) }
        #expect(runError?.message.contains("label 'j' has size 3") == true && runError?.message.contains("late") == true, "\(String(describing: runError))")
    }

    /// A graph may name the compiler's `_SomaFusedElementwise` itself: an operand the loop
    /// cannot read element for element (here a broadcast over rows) is one clear error at
    /// run time naming the node — never a read past its buffer — and one value per channel
    /// broadcasts as TF's ops do.
    @Test func fusedElementwiseOperandsAreChecked() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [30, 40], name: "x")
        let rows = try g.constant(Tensor((0..<30).map(Float.init), shape: [30, 1]))
        let channels = try g.constant(Tensor((0..<40).map(Float.init), shape: [40]))
        func fused(_ operand: Output, _ name: String) throws -> Output {
            try g.output("_SomaFusedElementwise", [x, operand], attrs: ["N": .int(2), "T": .type(.float32), "ops": .strings(["Mul"]),
                                                                        "operands": .ints([0, 1]), "alphas": .floats([0])],
                         name: name, file: "", line: 0)
        }
        let badRows = try fused(rows, "rows"), perChannel = try fused(channels, "channels")
        let value = try Tensor((0..<1200).map { Float($0 % 7) - 3 }, shape: [30, 40])
        let error = #expect(throws: SomaError.self) { try Session(graph: g).run(badRows, feeds: [x: value]) }
        #expect(error?.message.contains("'rows'") == true && error?.message.contains("input 1 (float32[30,1])") == true,
                "\(String(describing: error))")
        let product: [Float] = try Session(graph: g).run(perChannel, feeds: [x: value]).scalars(as: Float.self)
        let expected: [Float] = (0..<1200).map { i in (Float(i % 7) - 3) * Float(i % 40) }
        #expect(product == expected)
    }

    @Test func unsupportedOpsAreListedTogether() throws {
        let bytes = B.graph([B.placeholder("x"), B.node("a", "Conv3D", inputs: ["x"]), B.node("b", "Conv3D", inputs: ["a"]),
                             B.node("c", "FFT", inputs: ["x"])])
        let error = #expect(throws: SomaError.self) { try Graph(graphDef: bytes) }
        #expect(error?.code == .unimplemented)
        #expect(error?.message == "The graph uses 2 op type(s) Soma does not support: Conv3D (used by 'a', 'b'); FFT (used by 'c')")
    }

    @Test func inputsMustResolve() {
        #expect(loadError(B.graph([B.node("n", "Neg", inputs: ["ghost"])])).contains("node 'n' has input 'ghost', which is not a node of the graph"))
        #expect(loadError(B.graph([B.node("n", "NoOp", inputs: ["^ghost"])])).contains("control input '^ghost', which is not a node"))
        #expect(loadError(B.graph([B.placeholder("x"), B.node("n", "Neg", inputs: ["x:3"])]))
                    .contains("node 'n' input 'x:3' refers to output 3 of 'x' (op: 'Placeholder'), which has 1 output(s)"))
        #expect(loadError(B.graph([B.placeholder("x"), B.node("n", "Neg", inputs: ["x:-1"])])).contains("bad output index"))
        #expect(loadError(B.graph([B.placeholder("x"), B.node("n", "Neg", inputs: ["^x", "x"])]))
                    .contains("node 'n' lists data input 'x' after a control input"))
        #expect(loadError(B.graph([B.placeholder("x"), B.node("n", "AddV2", inputs: ["x"])])).contains("Expected 2 inputs but got 1 for 'n'"))
    }

    @Test func cyclesAreFound() {
        let bytes = B.graph([B.placeholder("x"), B.node("a", "AddV2", inputs: ["x", "b"]), B.node("b", "Neg", inputs: ["a"])])
        #expect(loadError(bytes).contains("the graph has a cycle: 'a' → 'b' → 'a'"))
        #expect(loadError(B.graph([B.node("self", "NoOp", inputs: ["^self"])])).contains("cycle: 'self' → 'self'"))
    }

    @Test func nodesOutOfOrderAreSorted() throws {
        let bytes = B.graph([B.node("n", "Neg", inputs: ["x"]), B.placeholder("x")])
        let g = try Graph(graphDef: bytes)
        #expect(g.nodes.map(\.name) == ["x", "n"])
    }

    @Test func attributesAreChecked() {
        #expect(loadError(B.graph([B.node("p", "Placeholder")])).contains("Missing required attr 'dtype' for 'p' (op: 'Placeholder')"))
        let mistyped = B.graph([B.placeholder("x", dims: [2, 2]),
                                B.node("m", "MatMul", inputs: ["x", "x"], attrs: [("transpose_a", B.int(1))])])
        #expect(loadError(mistyped).contains("Attr 'transpose_a' has kind int but must be bool for 'm' (op: 'MatMul')"))
        #expect(loadError(B.graph([B.node("p", "Placeholder", attrs: [("dtype", B.type(8))])]))
                    .contains("attr 'dtype' of node 'p' (op: 'Placeholder') has dtype 8, which Soma does not support"))
        #expect(loadError(B.graph([B.node("p", "Placeholder", attrs: [("dtype", B.type(1)), ("shape", B.shape([2, -5]))])]))
                    .contains("attr 'shape' of node 'p' (op: 'Placeholder') has negative dimension -5"))
        let mixed: B.Attr = { a in a.message(1) { l in l.int(3, 1); l.int(5, 1) } }
        #expect(loadError(B.graph([B.placeholder("x"), B.node("s", "Squeeze", inputs: ["x"], attrs: [("squeeze_dims", mixed)])]))
                    .contains("attr 'squeeze_dims' of node 's' (op: 'Squeeze') is a list holding values of 2 different kinds"))
        let hugeNum = B.graph([B.placeholder("x"), B.node("u", "Unpack", inputs: ["x"], attrs: [("num", B.int(1_000_000_000))])])
        #expect(loadError(hugeNum).contains("Value for attr 'num' of 1000000000 is out of range"))
        let negativeN = B.graph([B.placeholder("x"), B.node("p", "Pack", inputs: ["x"], attrs: [("N", B.int(-1))])])
        #expect(loadError(negativeN).contains("Value for attr 'N' of -1 is out of range"))
    }

    @Test func tensorsAreChecked() {
        func const(_ tensor: @escaping B.Attr) -> [UInt8] {
            B.graph([B.node("c", "Const", attrs: [("dtype", B.type(1)), ("value", tensor)])])
        }
        #expect(loadError(const(B.tensor(dtype: 1, dims: [2, 3], content: [UInt8](repeating: 0, count: 20))))
                    .contains("attr 'value' of node 'c' (op: 'Const') has tensor_content of 20 bytes, but float32 [2,3] needs 6 × 4 = 24"))
        #expect(loadError(const(B.tensor(dtype: 1, dims: [-1, 3]))).contains("has a tensor of partial shape [?,3]"))
        #expect(loadError(const(B.tensor(dtype: 1, dims: [-7]))).contains("has negative dimension -7"))
        #expect(loadError(const(B.tensor(dtype: 1, dims: [1 << 40, 1 << 40]))).contains("larger than the"))
        #expect(loadError(const(B.tensor(dtype: 8, dims: [1]))).contains("has dtype 8, which Soma does not support"))
        #expect(loadError(const(B.tensor(dtype: 1, dims: [2], floats: [1, 2, 3]))).contains("lists 3 values for a tensor of 2 elements"))
        // One value broadcast over a huge shape is refused before anything is allocated.
        var limits = GraphDefLimits()
        limits.maxTensorBytes = 1 << 20
        #expect(loadError(const(B.tensor(dtype: 1, dims: [1 << 30], floats: [1])), limits: limits).contains("larger than the 1048576-byte limit"))
        limits.maxTensorBytes = 1 << 20
        limits.maxTotalTensorBytes = 1 << 20
        let two = B.graph([1, 2].map { i in
            B.node("c\(i)", "Const", attrs: [("dtype", B.type(1)), ("value", B.tensor(dtype: 1, dims: [200_000], floats: [1]))])
        })
        #expect(loadError(two, limits: limits).contains("the graph's constants exceed the 1048576-byte limit"))
        // A short value list repeats its last value (TF's rule), and Const's dtype must match.
        #expect((try? Graph(graphDef: const(B.tensor(dtype: 1, dims: [3], floats: [4, 5])))).map {
            try? Session(graph: $0).run($0.output(named: "c")!).scalars(as: Float.self)
        } == [4, 5, 5])
        #expect(loadError(B.graph([B.node("c", "Const", attrs: [("dtype", B.type(3)), ("value", B.tensor(dtype: 1, dims: [1]))])]))
                    .contains("Const value has dtype float32 but attr dtype is int32"))
    }

    @Test func shapeArithmeticCannotOverflow() {
        let big: Int64 = 1 << 40
        let tile = B.graph([
            B.placeholder("x", dims: [big, big]),
            B.node("m", "Const", attrs: [("dtype", B.type(3)), ("value", { a in
                a.message(8) { t in t.int(1, 3); t.message(2, B.shapeMessage([2])); t.data(4, [0, 0, 0, 64, 0, 0, 0, 64]) }
            })]),
            B.node("t", "Tile", inputs: ["x", "m"]),
        ])
        #expect(loadError(tile).contains("Dimension size overflows"))
        let reshape = B.graph([B.placeholder("x", dims: [big, big, big]), B.node("s", "Shape", inputs: ["x"]),
                               B.node("r", "Reshape", inputs: ["x", "s"])])
        _ = try? Graph(graphDef: reshape)  // must not trap; the element count is unrepresentable
    }

    @Test func runtimeAllocationsAreCapped() throws {
        let g = Graph()
        let huge = try g.fill(shape: [1 << 20, 1 << 20], value: Tensor(Float(1)))
        let session = Session(graph: g)
        let error = #expect(throws: SomaError.self) { try session.run(huge) }
        #expect(error?.code == .resourceExhausted)
        #expect(error?.message.contains("exceeds the session's 4294967296-byte tensor limit") == true)
    }

    /// Reduction axes computed at run time (a fed value here; in a file, anything the
    /// compiler cannot fold) are checked as the shape functions check known ones: out of
    /// range or repeated, a clear error — never a trap.
    @Test func runtimeReductionAxesAreChecked() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [2, 3], name: "x"), axes = try g.placeholder(.int32, shape: TensorShape([nil]), name: "axes")
        let sum = try g.output("Sum", [x, axes], attrs: ["T": .type(.float32), "Tidx": .type(.int32)], name: "sum", file: "", line: 0)
        let all = try g.output("All", [try g.output("Equal", [x, x], attrs: ["T": .type(.float32)], name: "eq", file: "", line: 0), axes],
                               attrs: ["Tidx": .type(.int32)], name: "all", file: "", line: 0)
        let dimension = try g.placeholder(.int32, shape: [], name: "dimension")
        let argMax = try g.output("ArgMax", [x, dimension], attrs: ["T": .type(.float32), "Tidx": .type(.int32), "output_type": .type(.int64)],
                                  name: "argmax", file: "", line: 0)
        let session = Session(graph: g), value = try Tensor([1, 5, 2, 4, 3, 6] as [Float], shape: [2, 3])
        func message(_ fetch: Output, _ axisValues: [Int32]) -> String? {
            let fed = fetch == argMax ? (dimension, try! Tensor(axisValues, shape: [])) : (axes, try! Tensor(axisValues, shape: [axisValues.count]))
            return (#expect(throws: SomaError.self) { try session.run(fetch, feeds: [x: value, fed.0: fed.1]) })?.message
        }
        #expect(message(sum, [5])?.contains("Invalid reduction dimension 5 for input with 2 dimensions.") == true)
        #expect(message(sum, [-3])?.contains("Invalid reduction dimension -3") == true)
        #expect(message(sum, [1, -1])?.contains("Axes contains duplicate dimension: 1") == true)
        #expect(message(all, [2])?.contains("Invalid reduction dimension 2") == true)
        #expect(message(argMax, [2])?.contains("Expected dimension in the range [-2, 2), but got 2") == true)
        // In range, the same values as constant axes.
        #expect(try session.run(sum, feeds: [x: value, axes: try Tensor([-1] as [Int32], shape: [1])]).scalars(as: Float.self) == [8, 13])
        #expect(try session.run(argMax, feeds: [x: value, dimension: try Tensor([1] as [Int32], shape: [])]).scalars(as: Int64.self) == [1, 2])
    }

    /// A list length the compiler infers from a file (``ListLengthInference``) is checked
    /// like any shape: a reserved length too large for the session is a clear error, and a
    /// chain of set-items longer than the walk's bound leaves the length to the run.
    @Test func inferredListLengthsAreChecked() throws {
        func reserve(_ g: Graph, _ count: Int32) throws -> Output {
            try g.output("TensorListReserve", [listShapeTensor(g, [2]), g.constant(count)], attrs: ["element_dtype": .type(.float32)],
                         name: nil, file: "", line: 0)
        }
        func stack(_ g: Graph, _ list: Output) throws -> Output {
            try g.output("TensorListStack", [list, listShapeTensor(g, [2])], attrs: ["element_dtype": .type(.float32)],
                         name: "stacked", file: "", line: 0)
        }
        let g = Graph()
        let huge = try stack(g, reserve(g, .max))
        let error = #expect(throws: SomaError.self) { try Session(graph: g).run(huge) }
        #expect(error?.code == .resourceExhausted, "\(String(describing: error))")

        for (chain, inferred) in [(ListLengthInference.maximumChain - 1, true), (ListLengthInference.maximumChain + 1, false)] {
            let g = Graph()
            let item = try g.placeholder(.float32, shape: [2], name: "item")  // (nothing to fold)
            var list = try reserve(g, 3)
            for k in 0..<chain {
                list = try g.output("TensorListSetItem", [list, g.constant(Int32(k % 3)), item], attrs: ["element_dtype": .type(.float32)],
                                    name: nil, file: "", line: 0)
            }
            let stacked = try stack(g, list)
            let session = Session(graph: g), feeds = [item: try Tensor([7, 1] as [Float], shape: [2])]
            let plan = try #require(try session.plan(fetches: [stacked], feeds: feeds))
            #expect(plan.steps.contains { $0.op == "TensorListStack" && $0.isDynamic } == !inferred, "chain \(chain)")
            #expect(try session.run(stacked, feeds: feeds).scalars(as: Float.self) == [7, 1, 7, 1, 7, 1], "chain \(chain)")
        }
    }

    /// Test threads have small stacks: any walk or release that recursed once per node
    /// would overflow long before 30,000 nodes (the compiler benchmark runs 1,000,000), and a
    /// quadratic pass would take minutes.
    @Test func deepChainsLoadRunDifferentiateOptimiseSaveAndRelease() throws {
        let n = 30_000
        var data: [(inout ProtoWriter) -> Void] = [B.placeholder("x")]
        var control: [(inout ProtoWriter) -> Void] = [B.node("c0", "NoOp")]
        for i in 1..<n {
            data.append(B.node("n\(i)", "Identity", inputs: [i == 1 ? "x" : "n\(i - 1)"], attrs: [("T", B.type(1))]))
            control.append(B.node("c\(i)", "NoOp", inputs: ["^c\(i - 1)"]))
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("soma-deep-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        do {
            var g: Graph? = try Graph(graphDef: B.graph(data))
            let x = try #require(g!.output(named: "x")), y = try #require(g!.output(named: "n\(n - 1)"))
            let value = try Tensor([1, 2] as [Float], shape: [2])
            #expect(try Session(graph: g!).run(y, feeds: [x: value]).scalars(as: Float.self) == [1, 2])
            var options = SessionOptions()
            options.useCompiler = false  // the reference executor walks the chain too
            #expect(try Session(graph: g!, options: options).run(y, feeds: [x: value]).scalars(as: Float.self) == [1, 2])
            let dx = try #require(try g!.gradients(of: [y], wrt: [x])[0])
            #expect(try Session(graph: g!).run(dx, feeds: [x: value]).scalars(as: Float.self) == [1, 1])
            let (optimized, _) = try g!.optimized(for: [y])
            #expect(optimized.nodes.count == 2)
            try g!.save(to: folder.appendingPathComponent("data.pb"))
            g = nil
        }
        do {
            var g: Graph? = try Graph(graphDef: B.graph(control))
            try Session(graph: g!).run(target: try #require(g!.node(named: "c\(n - 1)")))
            try g!.save(to: folder.appendingPathComponent("control.pb"))
            g = nil
        }
    }

    @Test func everyReservationIsGivenBackWhenTheSessionEnds() throws {
        let budget = MemoryBudget(limit: 64 << 20)
        do {
            let g = Graph()
            let x = try g.placeholder(.float32, shape: [nil, 8], name: "x")
            let w = try g.variable(Tensor(repeating: Float(0.5), shape: [8, 4]), name: "w")
            let y = try relu(matmul(x, w.value) + 1)
            var options = SessionOptions()
            options.memoryBudget = budget
            let session = Session(graph: g, options: options)
            try session.run(target: g.globalVariablesInitializer())
            let batch = try Tensor(zeros: .float32, shape: [16, 8], budget: budget)
            for _ in 0..<3 { _ = try session.run(y, feeds: [x: batch]) }
            let callable = try session.makeCallable(feeds: [x], fetches: [y])
            _ = try callable.run([batch])
            #expect(budget.bytesInUse > 0)  // the variable, the feed, pooled arenas
        }
        // Arenas cache views of themselves: the pool must break that cycle when it goes.
        #expect(budget.bytesInUse == 0, "\(budget)")
    }

    // MARK: Damaged real files

    static let fixtureFiles: [[UInt8]] = TensorFlowFixtureTests.models.map { model in
        [UInt8](try! Data(contentsOf: TensorFlowFixtureTests.root.appendingPathComponent("\(model)/model.pb")))
    }

    static let fuzzLimits: GraphDefLimits = {
        var limits = GraphDefLimits()
        limits.maxTensorBytes = 1 << 20
        limits.maxTotalTensorBytes = 4 << 20
        limits.maxUnpackedBytes = 16 << 20
        return limits
    }()

    /// Loads `bytes`; any outcome but a crash is acceptable, and errors must be SomaErrors.
    static func survive(_ bytes: [UInt8]) -> Bool {
        do {
            let g = try Graph(graphDef: bytes, limits: fuzzLimits)
            _ = g.graphDef()  // and whatever loaded can be written again
            return true
        } catch is SomaError {
            return false
        } catch {
            Issue.record("non-Soma error \(error)")
            return false
        }
    }

    @Test func everyTruncationOfARealModelIsHandled() throws {
        let file = Self.fixtureFiles[TensorFlowFixtureTests.models.firstIndex(of: "mlp")!]
        var loaded = 0
        for n in 0..<file.count where Self.survive(Array(file[..<n])) { loaded += 1 }
        // Cuts at node boundaries leave valid smaller graphs; everything else is an error.
        #expect(loaded < file.count / 10, "\(loaded) of \(file.count) prefixes loaded")
        #expect(Self.survive(file))
    }


    static func mutate(_ file: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = file
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            guard !bytes.isEmpty else { break }
            let i = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: bytes[i] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)        // bit flip
            case 1: bytes[i] = UInt8.random(in: 0...255, using: &rng)                   // byte set
            case 2: bytes[i] = [0x00, 0x7F, 0x80, 0xFF][Int.random(in: 0..<4, using: &rng)]  // varint edge
            case 3: bytes.remove(at: i)                                                  // deletion
            case 4: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: i)          // insertion
            default:                                                                     // splice a chunk
                let length = Int.random(in: 1...Swift.min(64, bytes.count), using: &rng)
                let from = Int.random(in: 0...(bytes.count - length), using: &rng)
                let chunk = Array(bytes[from..<from + length])
                bytes.replaceSubrange(i..<Swift.min(i + length, bytes.count), with: chunk)
            }
        }
        return bytes
    }

    /// 10,000 seeded mutations of the TF fixture files, in 8 parallel batches.
    @Test(arguments: 0..<8)
    func seededMutationsNeverCrash(batch: Int) {
        var rng = SplitMix64(seed: UInt64(batch) &* 0x1000_0000 &+ 2026)
        var loaded = 0
        for _ in 0..<1250 {
            let file = Self.fixtureFiles[Int.random(in: 0..<Self.fixtureFiles.count, using: &rng)]
            if Self.survive(Self.mutate(file, &rng)) { loaded += 1 }
        }
        // Some mutations hit only values (a weight's bits) and still load.
        #expect(loaded < 1250)
    }
}
