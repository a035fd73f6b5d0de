import Testing
import Soma

/// The README's example, kept true.
@Suite struct ReadmeTests {
    @Test func theExampleRunsAsDocumented() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil, 3], name: "x")
        let w = try g.variable(Tensor(repeating: Float(0.5), shape: [3, 2]), name: "w")
        let b = try g.variable(Tensor([Float(0), -1]), name: "b")
        let y = try g.withNameScope("dense") {
            try relu(biasAdd(matmul(x, w.value), b.value))
        }
        #expect(y.shape == [nil, 2])
        #expect(y.node.name == "dense/Relu")
        let session = Session(graph: g)
        try session.run(target: g.globalVariablesInitializer())
        let batch = try Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        let out = try session.run(y, feeds: [x: batch])
        #expect(out.description == "Tensor([[3.0, 2.0],\n [7.5, 6.5]], dtype: float32, shape: [2,2])")
    }
}
