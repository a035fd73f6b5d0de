import Testing
@testable import Soma

/// Every op against NumPy-computed cases, through three build paths:
/// constant inputs (build-time inference must give the exact shapes), placeholders of
/// known shape (values unknown at build time), and placeholders of unknown rank.
@Suite struct OpFixtureTests {
    enum InputMode: CaseIterable { case constants, knownShapes, unknownShapes }

    static let ops = OpCase.byOp.keys.sorted()

    @Test(arguments: ops)
    func matchesNumPy(op: String) throws {
        for c in OpCase.byOp[op]! {
            for mode in InputMode.allCases {
                try check(c, mode)
            }
        }
    }

    func check(_ c: OpCase, _ mode: InputMode) throws {
        let g = Graph()
        var feeds: [Output: Tensor] = [:]
        let inputs = try c.inputs.enumerated().map { i, t -> Output in
            switch mode {
            case .constants:
                return try g.constant(t, name: "in\(i)")
            case .knownShapes, .unknownShapes:
                let p = try g.placeholder(t.dtype, shape: mode == .knownShapes ? TensorShape(t.shape) : .unknown, name: "in\(i)")
                feeds[p] = t
                return p
            }
        }
        let node: Node
        do {
            node = try g.addNode(op: c.op, inputs: inputs, attrs: c.attrs, name: "op")
        } catch {
            Issue.record("\(c.name) [\(mode)]: building failed: \(error)")
            return
        }
        #expect(node.outputCount == c.outputs.count, "\(c.name): output count")
        for (i, expected) in c.outputs.enumerated() where i < node.outputCount {
            let inferred = node.outputShapes[i]
            if mode == .constants {
                #expect(inferred == TensorShape(expected.shape), "\(c.name): inferred \(inferred), expected \(expected.shape)")
            } else {
                #expect(inferred.isCompatible(with: expected.shape), "\(c.name) [\(mode)]: inferred \(inferred) vs \(expected.shape)")
            }
            #expect(node.outputTypes[i] == expected.dtype, "\(c.name): dtype")
        }
        let fetches = (0..<node.outputCount).map { g.output(of: node, $0) }
        let results: [Tensor]
        do {
            results = try Session(graph: g).run(fetches: fetches, feeds: feeds)
        } catch {
            Issue.record("\(c.name) [\(mode)]: run failed: \(error)")
            return
        }
        for (actual, expected) in zip(results, c.outputs) where !matches(actual, expected, tolerance: c.tolerance) {
            Issue.record("\(c.name) [\(mode)]: got \(actual), expected \(expected)")
        }
    }
}
