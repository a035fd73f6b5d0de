import Testing
@testable import Soma

@Suite struct GraphTests {
    @Test func namesAreUniqueTensorFlowStyle() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil, 3], name: "x")
        let w = try g.constant(Tensor(repeating: Float(1), shape: [3, 2]), name: "w")
        let a = try g.withNameScope("dense") { try matmul(x, w) }
        let b = try g.withNameScope("dense") { try matmul(x, w) }
        let c = try g.withNameScope("dense") { try g.withNameScope("inner") { try matmul(x, w) } }
        let d = try matmul(x, w)
        let e = try matmul(x, w)
        #expect(a.node.name == "dense/MatMul")
        #expect(b.node.name == "dense_1/MatMul")
        #expect(c.node.name == "dense_2/inner/MatMul")
        #expect(d.node.name == "MatMul")
        #expect(e.node.name == "MatMul_1")
        #expect(try g.placeholder(.float32, name: "x").node.name == "x_1")
        #expect(g.node(named: "dense_1/MatMul") === b.node)
        #expect(g.output(named: "dense/MatMul:0") == a)
        #expect(g.output(named: "dense/MatMul") == a)
        #expect(g.output(named: "dense/MatMul:1") == nil)
    }

    @Test func nodesRecordOpAttributesInputsAndCallSite() throws {
        let g = Graph()
        let x = try g.placeholder(.float64, shape: [2, 3], name: "x")
        let y = try g.placeholder(.float64, shape: [4, 3], name: "y")
        let line = #line + 1
        let p = try matmul(x, y, transposeB: true, name: "product")
        #expect(p.node.op == "MatMul")
        #expect(p.node.attrs["transpose_a"] == .bool(false))
        #expect(p.node.attrs["transpose_b"] == .bool(true))
        #expect(p.node.attrs["T"] == .type(.float64))
        #expect(p.node.inputs.map(\.name) == ["x:0", "y:0"])
        #expect(p.shape == [2, 4])
        #expect(p.dtype == .float64)
        #expect(p.node.location?.description == "GraphTests.swift:\(line)")
        #expect(p.name == "product:0")
    }

    @Test func deviceIsKeptAndIgnored() throws {
        let g = Graph()
        let x = try g.constant(Float(2), name: "x")
        let node = try g.addNode(op: "Neg", inputs: [x], name: "neg", device: "/device:GPU:0")
        #expect(node.device == "/device:GPU:0")
        #expect(try Session(graph: g).run(g.output(of: node)).scalar(as: Float.self) == -2)
    }

    @Test func controlDependenciesAndGrouping() throws {
        let g = Graph()
        let v = try g.variable(Tensor(Float(0)), name: "counter")
        let one = try g.constant(Float(1))
        let inc = try v.assignAdd(one)
        let after = try g.withControlDependencies([inc.node]) { try identity(v.value, name: "after") }
        #expect(after.node.controlInputs == [inc.node])
        let s = Session(graph: g)
        try s.run(target: g.globalVariablesInitializer())
        _ = try s.run(after)
        _ = try s.run(after)
        #expect(try s.run(v.value).scalar(as: Float.self) == 2)
        let group = try g.group([inc.node, inc.node])
        #expect(group.op == "NoOp")
        try s.run(target: group)
        #expect(try s.run(v.value).scalar(as: Float.self) == 3)
    }

    @Test func variablesFollowTensorFlowsLayout() throws {
        let g = Graph()
        let w = try g.variable(Tensor(repeating: Float(0.5), shape: [3, 2]), name: "w")
        #expect(w.ref.node.op == "VariableV2")
        #expect(w.name == "w")
        #expect(w.initializer?.name == "w/Assign")
        #expect(w.value.node.name == "w/read")
        #expect(w.ref.node.attrs["shape"] == .shape([3, 2]))
        #expect(g.node(named: "w/initial_value")?.op == "Const")
        let w2 = try g.variable(Tensor(Float(1)), name: "w")
        #expect(w2.name == "w_1")
        #expect(g.variables.count == 2)
        let initNode = try g.globalVariablesInitializer()
        #expect(initNode.name == "init")
        #expect(Set(initNode.controlInputs.map(\.name)) == ["w/Assign", "w_1/Assign"])
    }

    @Test func signatureChecksNameTheNode() throws {
        let g = Graph()
        let f = try g.constant(Float(1), name: "f")
        let i = try g.constant(Int32(1), name: "i")
        let mixed = #expect(throws: SomaError.self) { try add(f, i, name: "sum") }
        #expect(mixed?.message.contains("Input 'y' has type int32 that does not match type float32 of argument 'x'") == true)
        #expect(mixed?.message.contains("for 'sum' (op: 'AddV2')") == true)
        let b = try g.constant(true, name: "b")
        let badType = #expect(throws: SomaError.self) { try exp(b, name: "e") }
        #expect(badType?.message.hasPrefix("Value for attr 'T' of bool is not in the list of allowed values: float32, float64") == true)
        let unknown = #expect(throws: SomaError.self) { try g.addNode(op: "NoSuchOp", inputs: []) }
        #expect(unknown?.message == "Op type not registered 'NoSuchOp'")
        let missing = #expect(throws: SomaError.self) { try g.addNode(op: "Placeholder", inputs: [], name: "p") }
        #expect(missing?.message.contains("Missing required attr 'dtype' for 'p' (op: 'Placeholder')") == true)
        let arity = #expect(throws: SomaError.self) { try g.addNode(op: "AddV2", inputs: [f], name: "a") }
        #expect(arity?.message.contains("Expected 2 inputs but got 1") == true)
        let kind = #expect(throws: SomaError.self) {
            try g.addNode(op: "LeakyRelu", inputs: [f], attrs: ["alpha": .int(1)], name: "lr")
        }
        #expect(kind?.message.contains("Attr 'alpha' has kind int but must be float") == true)
        let format = #expect(throws: SomaError.self) {
            try g.addNode(op: "BiasAdd", inputs: [f, f], attrs: ["data_format": .string("NDHWC")], name: "ba")
        }
        #expect(format?.message.contains("Value for attr 'data_format' of \"NDHWC\" is not in the list") == true)
        let other = Graph()
        #expect(throws: SomaError.self) { try add(f, other.constant(Float(1))) }
        let dup = #expect(throws: SomaError.self) { try g.addNode(op: "NoOp", inputs: [], name: "f", uniquifyName: false) }
        #expect(dup?.message == "Duplicate node name in graph: 'f'")
    }

    @Test func operatorsBuildTensorFlowOps() throws {
        let g = Graph()
        let x = try g.constant([1, 2, 3] as [Float], shape: [3])
        let y = try g.constant([4, 5, 6] as [Float], shape: [3])
        let sum = try x + y, diff = try x - y, prod = try x * y, quot = try x / y, neg = try -x
        #expect([sum, diff, prod, quot, neg].map(\.node.op) == ["AddV2", "Sub", "Mul", "RealDiv", "Neg"])
        #expect(sum.node.location == nil)  // operators cannot see their call site
        let scaled = try 2 * x + 1
        let fromRight = try 10 - x / 2
        let s = Session(graph: g)
        let r = try s.run(fetches: [sum, diff, prod, quot, neg, scaled, fromRight])
        #expect(r[0].scalars(as: Float.self) == [5, 7, 9])
        #expect(r[1].scalars(as: Float.self) == [-3, -3, -3])
        #expect(r[2].scalars(as: Float.self) == [4, 10, 18])
        #expect(r[3].scalars(as: Float.self) == [0.25, 0.4, 0.5])
        #expect(r[4].scalars(as: Float.self) == [-1, -2, -3])
        #expect(r[5].scalars(as: Float.self) == [3, 5, 7])
        #expect(r[6].scalars(as: Float.self) == [9.5, 9, 8.5])
        let i = try g.constant([7, -7] as [Int32], shape: [2])
        #expect(try s.run(i * 3).scalars(as: Int32.self) == [21, -21])
    }

    /// A graph with variables (built, or loaded with its variables recovered) is freed with
    /// its last reference, and gives its constants' memory back.
    @Test func graphsWithVariablesAreFreed() throws {
        weak var built: Graph?
        let budget = MemoryBudget(limit: 1 << 20)
        var limits = GraphDefLimits()
        limits.memoryBudget = budget
        do {
            let g = Graph()
            let w = try g.variable(Tensor([Float(1), 2], shape: [2]), name: "w")
            _ = try GradientDescentOptimizer(learningRate: 0.1).minimize(reduceSum(square(w.value)))
            let loaded = try Graph(graphDef: g.graphDef(), limits: limits)
            #expect(loaded.variables.map(\.name) == ["w"])
            #expect(budget.bytesInUse > 0)
            built = loaded
        }
        #expect(built == nil)
        #expect(budget.bytesInUse == 0)
    }
}
