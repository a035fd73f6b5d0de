import Foundation
import Testing
@testable import Soma

/// The classic activation table and the composite activations, against Swift formulas.
@Suite struct ActivationTests {
    let xs: [Float] = [-3, -1.5, -0.5, 0, 0.25, 1, 2.5]

    func run(_ build: (Output) throws -> Output) throws -> [Float] {
        let g = Graph()
        let x = try g.constant(Tensor(xs))
        return try Session(graph: g).run(build(x)).scalars(as: Float.self)
    }

    func expectClose(_ actual: [Float], _ expected: [Float], tolerance: Float = 1e-6) {
        #expect(actual.count == expected.count)
        for (a, e) in zip(actual, expected) {
            #expect(Swift.abs(a - e) <= tolerance * Swift.max(1, Swift.abs(e)), "\(a) vs \(e)")
        }
    }

    @Test func classicTable() throws {
        #expect(try run { try step($0) } == xs.map { $0 >= 0 ? 1 : 0 })
        #expect(try run { try sign($0) } == xs.map { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) })
        #expect(try run { try linear($0) } == xs)
        #expect(try run { try relu($0) } == xs.map { Swift.max($0, 0) })
        expectClose(try run { try sigmoid($0) }, xs.map { 1 / (1 + Foundation.exp(-$0)) })
        expectClose(try run { try tanh($0) }, xs.map { Foundation.tanh($0) })
    }

    @Test func stepIsCastOfGreaterEqual() throws {
        let g = Graph()
        let x = try g.placeholder(.float64, shape: [nil], name: "x")
        let y = try step(x)
        #expect(y.node.op == "Cast")
        #expect(y.node.inputs[0].node.op == "GreaterEqual")
        #expect(y.dtype == .float64)
    }

    @Test func modernActivations() throws {
        expectClose(try run { try gelu($0) }, xs.map { 0.5 * $0 * (1 + Foundation.erf($0 / Float(2).squareRoot())) })
        let c = Float((2.0 / Double.pi).squareRoot())
        expectClose(try run { try gelu($0, approximate: true) },
                    xs.map { 0.5 * $0 * (1 + Foundation.tanh(c * ($0 + 0.044715 * $0 * $0 * $0))) })
        expectClose(try run { try silu($0) }, xs.map { $0 / (1 + Foundation.exp(-$0)) })
        expectClose(try run { try leakyRelu($0, alpha: 0.1) }, xs.map { $0 > 0 ? $0 : 0.1 * $0 })
        expectClose(try run { try elu($0) }, xs.map { $0 > 0 ? $0 : Foundation.expm1($0) })
        expectClose(try run { try softplus($0) }, xs.map { Foundation.log1p(Foundation.exp($0)) })
        expectClose(try run { try softsign($0) }, xs.map { $0 / (1 + Swift.abs($0)) })
        expectClose(try run { try relu6($0 * 3) }, xs.map { Swift.min(Swift.max(3 * $0, 0), 6) })
        let scale: Float = 1.0507009873554804934193349852946, alpha: Float = 1.6732632423543772848170429916717
        expectClose(try run { try selu($0) }, xs.map { $0 > 0 ? scale * $0 : scale * alpha * Foundation.expm1($0) })
    }
}
