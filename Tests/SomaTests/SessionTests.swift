import Testing
@testable import Soma

@Suite struct SessionTests {
    @Test func variablesKeepStateAcrossRuns() throws {
        let g = Graph()
        let v = try g.variable(Tensor([1, 2] as [Float]), name: "v")
        let step = try v.assignAdd(g.constant([10, 20] as [Float], shape: [2]))
        let s = Session(graph: g)
        try s.run(target: g.globalVariablesInitializer())
        #expect(try s.run(v.value).scalars(as: Float.self) == [1, 2])
        _ = try s.run(step)
        _ = try s.run(step)
        #expect(try s.run(v.value).scalars(as: Float.self) == [21, 42])
        _ = try s.run(v.assignSub(g.constant([1, 2] as [Float], shape: [2])))
        #expect(try s.run(v.value).scalars(as: Float.self) == [20, 40])
        _ = try s.run(v.assign(g.constant([0, 0] as [Float], shape: [2])))
        #expect(try s.run(v.value).scalars(as: Float.self) == [0, 0])
        // A second session has its own state.
        let other = Session(graph: g)
        #expect(throws: SomaError.self) { try other.run(v.value) }
        // Re-initialising resets.
        try s.run(target: g.globalVariablesInitializer())
        #expect(try s.run(v.value).scalars(as: Float.self) == [1, 2])
    }

    @Test func variableInitialisedFromAnotherOp() throws {
        let g = Graph()
        let v = try g.variable(initialValue: { try g.zeros(shape: [2, 2]) + 3 }, name: "threes")
        let s = Session(graph: g)
        try s.run(target: v.initializer!)
        #expect(try s.run(v.value).scalars(as: Float.self) == [3, 3, 3, 3])
        #expect(v.shape == [2, 2])
    }

    @Test func badInputsGiveErrorsNamingTheNodeAndTheSessionStaysUsable() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil, 3], name: "x")
        let w = try g.variable(Tensor(repeating: Float(1), shape: [3, 2]), name: "w")
        let y = try matmul(x, w.value, name: "y")
        let s = Session(graph: g)
        let good = try Tensor([1, 2, 3] as [Float], shape: [1, 3])

        let unfed = #expect(throws: SomaError.self) { try s.run(y) }
        #expect(unfed?.message.hasPrefix("You must feed a value for placeholder tensor 'x' with dtype float32 and shape [?,3]") == true)

        let uninitialised = #expect(throws: SomaError.self) { try s.run(y, feeds: [x: good]) }
        #expect(uninitialised?.message.hasPrefix("Attempting to use uninitialized value w (read by ") == true)
        #expect(uninitialised?.code == .failedPrecondition)

        try s.run(target: g.globalVariablesInitializer())
        let badShape = #expect(throws: SomaError.self) {
            try s.run(y, feeds: [x: Tensor(repeating: Float(1), shape: [2, 4])])
        }
        #expect(badShape?.message.hasPrefix("Cannot feed value of shape [2,4] for 'x:0', which has shape [?,3]") == true)
        let badType = #expect(throws: SomaError.self) { try s.run(y, feeds: [x: Tensor(repeating: Int32(1), shape: [1, 3])]) }
        #expect(badType?.message.hasPrefix("Cannot feed value of dtype int32 for 'x:0', which has dtype float32") == true)

        // Still usable after all of that.
        #expect(try s.run(y, feeds: [x: good]).scalars(as: Float.self) == [6, 6])
    }

    @Test func kernelErrorsNameTheNodeAndShapes() throws {
        let g = Graph()
        let a = try g.placeholder(.int32, shape: [2], name: "a")
        let b = try g.placeholder(.int32, shape: [2], name: "b")
        let q = try floorDiv(a, b, name: "q")
        let s = Session(graph: g)
        let error = #expect(throws: SomaError.self) {
            try s.run(q, feeds: [a: Tensor([Int32(1), 2]), b: Tensor([Int32(1), 0])])
        }
        #expect(error?.message.hasPrefix("Integer division by zero for 'q' (op: 'FloorDiv') with input shapes: [2], [2] (created at") == true)
        let params = try g.placeholder(.float32, shape: [3], name: "params")
        let idx = try g.placeholder(.int32, shape: [1], name: "idx")
        let gathered = try gather(params, indices: idx, name: "lookup")
        let oob = #expect(throws: SomaError.self) {
            try s.run(gathered, feeds: [params: Tensor([Float(1), 2, 3]), idx: Tensor([Int32(3)])])
        }
        #expect(oob?.message.hasPrefix("indices[0] = 3 is not in [0, 3) for 'lookup' (op: 'GatherV2')") == true)
        // A runtime shape violation (batch sizes only known when fed).
        let p = try g.placeholder(.float32, shape: [nil, 2], name: "p")
        let r = try g.placeholder(.float32, shape: [nil, 2], name: "r")
        let sum = try add(p, r, name: "sum")
        let mismatch = #expect(throws: SomaError.self) {
            try s.run(sum, feeds: [p: Tensor(repeating: Float(1), shape: [3, 2]), r: Tensor(repeating: Float(1), shape: [4, 2])])
        }
        #expect(mismatch?.message.hasPrefix("Dimensions must be equal, but are 3 and 4 for 'sum' (op: 'AddV2') with input shapes: [3,2], [4,2]") == true)
        let pow = try pow(a, b, name: "pow")
        let negative = #expect(throws: SomaError.self) { try s.run(pow, feeds: [a: Tensor([Int32(2), 2]), b: Tensor([Int32(1), -1])]) }
        #expect(negative?.message.hasPrefix("Integers to negative integer powers are not allowed") == true)
    }

    @Test func feedingAnyOutputAndPlaceholderWithDefault() throws {
        let g = Graph()
        let d = try placeholderWithDefault(g.constant([1, 2] as [Float], shape: [2]), shape: [nil], name: "d")
        let doubled = try d * 2
        let s = Session(graph: g)
        #expect(try s.run(doubled).scalars(as: Float.self) == [2, 4])
        #expect(try s.run(doubled, feeds: [d: Tensor([Float(5), 6, 7])]).scalars(as: Float.self) == [10, 12, 14])
        // Feeding an intermediate output short-circuits what produced it.
        let x = try g.placeholder(.float32, shape: [2], name: "x")
        let h = try exp(x, name: "h")
        let out = try h + 1
        #expect(try s.run(out, feeds: [h: Tensor([Float(1), 2])]).scalars(as: Float.self) == [2, 3])
        // A fed fetch returns the fed value.
        #expect(try s.run(x, feeds: [x: Tensor([Float(9), 8])]).scalars(as: Float.self) == [9, 8])
        // Fetching one output twice.
        let both = try s.run(fetches: [doubled, doubled])
        #expect(both[0] == both[1])
    }

    @Test func fetchesAndTargetsMustComeFromTheSessionsGraph() throws {
        let g = Graph(), other = Graph()
        let x = try other.constant(Float(1))
        let s = Session(graph: g)
        let error = #expect(throws: SomaError.self) { try s.run(x) }
        #expect(error?.message.contains("is not an element of this session's graph") == true)
        #expect(throws: SomaError.self) { try s.run(target: other.noOp()) }
    }

    @Test func multiOutputOps() throws {
        let g = Graph()
        let x = try g.constant([1, 2, 3, 4, 5, 6] as [Int32], shape: [3, 2])
        let rows = try unstack(x)
        let cols = try split(x, count: 2, axis: 1)
        let r = try Session(graph: g).run(fetches: rows + cols)
        #expect(r[0].scalars(as: Int32.self) == [1, 2])
        #expect(r[2].scalars(as: Int32.self) == [5, 6])
        #expect(r[3].scalars(as: Int32.self) == [1, 3, 5])
        #expect(r[4].shape == [3, 1])
    }
}

/// `Session.makeCallable`: feeds, fetches and targets bound once (TF's MakeCallable).
@Suite struct CallableTests {
    static func graph() throws -> (Graph, Output, Output, Variable) {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil, 3], name: "x")
        let w = try g.variable(Tensor([Float](stride(from: 0.5, to: 3.5, by: 0.5)), shape: [3, 2]), name: "w")
        let y = try tanh(matmul(x, w.value) + 1, name: "y")
        return (g, x, y, w)
    }

    @Test func runsLikeSessionRunAndWritesIntoOutputs() throws {
        let (g, x, y, w) = try Self.graph()
        let session = Session(graph: g)
        try session.run(target: w.initializer!)
        let callable = try session.makeCallable(feeds: [x], fetches: [y, x])
        for rows in [1, 4, 1, 7] {  // shape changes compile a plan per shape; old ones stay
            let feed = CompilerTests.random([rows, 3], seed: UInt64(rows))
            let expected = try session.run(fetches: [y, x], feeds: [x: feed])
            #expect(try callable.run([feed]) == expected)
            let outputs = [Tensor(zeros: .float32, shape: [rows, 2]), Tensor(zeros: .float32, shape: [rows, 3])]
            try callable.run([feed], into: outputs)
            #expect(outputs == expected)
        }
        // Feeds are checked against the dtypes and shapes read once, with Session.run's messages.
        let badShape = #expect(throws: SomaError.self) { try callable.run([Tensor(repeating: Float(1), shape: [2, 4])]) }
        #expect(badShape?.message.hasPrefix("Cannot feed value of shape [2,4] for 'x:0', which has shape [?,3]") == true)
        let badType = #expect(throws: SomaError.self) { try callable.run([Tensor(repeating: Int32(1), shape: [1, 3])]) }
        #expect(badType?.message.hasPrefix("Cannot feed value of dtype int32 for 'x:0', which has dtype float32") == true)
    }

    /// `run(_:into:)` has the kernels computing the fetches write the caller's tensors (no
    /// copy afterwards) where the plan allows — and gets the same values as `Session.run`
    /// on one or two threads, keeps a variable assigned from such a fetch apart from the
    /// caller's tensor, and falls back to copying for an output that shares a feed's memory.
    @Test func writesFetchesIntoTheCallersTensors() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [4, 3], name: "x")
        let w = try g.variable(CompilerTests.random([3, 3], seed: 5), name: "w")
        let kept = try g.variable(Tensor(zeros: .float32, shape: [4, 3]), name: "kept")
        let y = try matmul(x, w.value, name: "y")
        let z = try identity(relu(y * 2), name: "z")  // fetched through a forward: its input is written
        let keep = try kept.assign(y)
        let square = try matmul(x, w.value, name: "square")
        for threads in [1, 2] {
            var options = SessionOptions()
            options.intraOpThreads = threads
            options.interOpThreads = threads
            let session = Session(graph: g, options: options)
            try session.run(target: g.globalVariablesInitializer())
            // The plan a callable compiles: both computed fetches have a kernel that may write them.
            let feed = CompilerTests.random([4, 3], seed: 9)
            let plan = try #require(try session.compile(fetches: [y.endpoint, z.endpoint, x.endpoint], feeds: [x.endpoint: feed],
                                                        targets: [], fetchesInArena: true)).plan
            let slots = Set(plan.steps.flatMap { $0.fetchSlots.compactMap { $0 } })
            #expect(slots == [0, 1])
            let expected = try session.run(fetches: [y, z, x], feeds: [x: feed])
            let callable = try session.makeCallable(feeds: [x], fetches: [y, z, x], targets: [keep.node])
            let held = try session.run(kept.value)  // the variable's buffer is shared: assigning copies
            for _ in 0..<3 {
                let outputs = [Tensor(zeros: .float32, shape: [4, 3]), Tensor(zeros: .float32, shape: [4, 3]),
                               Tensor(zeros: .float32, shape: [4, 3])]
                try callable.run([feed], into: outputs)
                #expect(outputs == expected)
                outputs[0].rawPointer.initializeMemory(as: UInt8.self, repeating: 0xFF, count: outputs[0].byteCount)
                #expect(try session.run(kept.value) == expected[0])
            }
            #expect(held.scalars(as: Float.self).allSatisfy { $0 == 0 })
            // An output that is the feed: a product written into it would read what it wrote.
            let product = try session.makeCallable(feeds: [x], fetches: [square])
            let reference = try session.run(fetches: [square], feeds: [x: feed])[0]
            let shared = try Tensor(feed.scalars(as: Float.self), shape: [4, 3])
            try product.run([shared], into: [shared])
            #expect(shared == reference)
        }
    }

    @Test func runsTargetsAndRejectsBadArguments() throws {
        let (g, x, y, w) = try Self.graph()
        let session = Session(graph: g)
        let initialize = try session.makeCallable(feeds: [], fetches: [], targets: [w.initializer!])
        #expect(try initialize.run([]).isEmpty)
        let callable = try session.makeCallable(feeds: [x], fetches: [y])
        let feed = CompilerTests.random([2, 3], seed: 1)
        #expect(throws: SomaError.self) { try callable.run([]) }
        #expect(throws: SomaError.self) { try callable.run([CompilerTests.random([2, 4], seed: 1)]) }
        do {
            try callable.run([feed], into: [Tensor(zeros: .float32, shape: [3, 2])])
            Issue.record("a wrong output shape was accepted")
        } catch let error as SomaError {
            #expect("\(error)".contains("'y:0'") && "\(error)".contains("[2,2]"))
        }
        #expect(throws: SomaError.self) { try session.makeCallable(feeds: [x, x], fetches: [y]) }
        #expect(throws: SomaError.self) { try session.makeCallable(feeds: [], fetches: [Graph().constant(Float(1))]) }
    }
}
