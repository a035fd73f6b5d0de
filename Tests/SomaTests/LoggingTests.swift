import Foundation
import Testing
@testable import Soma

/// `Assert`: passes silently, fails the run with TF's message (data summarised exactly as
/// TensorFlow 2.21 prints it, `Tools/make_assert_fixtures.py`).
@Suite struct LoggingTests {
    struct Fixture: Decodable {
        struct Case: Decodable {
            struct Data: Decodable {
                let dtype: String
                let shape: [Int]
                let values: [JSONValue]
            }
            let summarize: Int
            let message: String
            let data: [Data]
        }
        let cases: [Case]
    }

    static func tensor(_ d: Fixture.Case.Data) throws -> Tensor {
        switch d.dtype {
        case "string":
            // Latin-1 in the JSON: one character per byte.
            let bytes = d.values.map { v -> [UInt8] in
                guard case .string(let s) = v else { return [] }
                return s.unicodeScalars.map { UInt8($0.value) }
            }
            return try Tensor(byteStrings: bytes, shape: d.shape)
        case "bool": return try Tensor(d.values.map { if case .bool(let b) = $0 { b } else { false } }, shape: d.shape)
        case "float32": return try Tensor(d.values.map { Float($0.number) }, shape: d.shape)
        case "float64": return try Tensor(d.values.map(\.number), shape: d.shape)
        case "int32": return try Tensor(d.values.map { Int32($0.number) }, shape: d.shape)
        case "int64": return try Tensor(d.values.map { Int64($0.number) }, shape: d.shape)
        default: return try Tensor(d.values.map { UInt8($0.number) }, shape: d.shape)
        }
    }

    @Test func failingAssertionsGiveTensorFlowsMessage() throws {
        let url = Bundle.module.url(forResource: "assert_messages", withExtension: "json", subdirectory: "Fixtures/logging")!
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
        #expect(fixture.cases.count >= 10)
        for c in fixture.cases {
            let g = Graph()
            let data = try c.data.map { try g.constant(Self.tensor($0)) }
            let check = try assertThat(g.constant(false), data: data, summarize: c.summarize)
            do {
                try Session(graph: g).run(target: check)
                Issue.record("the assertion passed: \(c.message)")
            } catch let error as SomaError {
                #expect(error.code == .invalidArgument)
                #expect(error.message.contains(c.message), "\(error.message) vs TF's \(c.message)")
                #expect(error.message.contains("'Assert'"))
            }
        }
    }

    /// The checked computation depends on the assertion; a true condition changes nothing.
    @Test func assertionsGuardWhatDependsOnThem() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil], name: "x")
        let positive = try reduceAll(greater(x, g.constant(Float(0))))
        let check = try assertThat(positive, data: [g.constant("x must be positive"), x])
        let y = try g.withControlDependencies([check]) { try sqrt(x) }
        let session = Session(graph: g)
        #expect(try session.run(y, feeds: [x: Tensor([Float(4), 9], shape: [2])]).scalars(as: Float.self) == [2, 3])
        #expect(throws: SomaError.self) { try session.run(y, feeds: [x: Tensor([Float(4), -9, 1, 2], shape: [4])]) }
        do {
            _ = try session.run(y, feeds: [x: Tensor([Float(4), -9, 1, 2], shape: [4])])
        } catch let error as SomaError {
            #expect(error.message.contains("assertion failed: [x must be positive] [4 -9 1...]"), "\(error.message)")
        }
        // The graph round-trips through a GraphDef and behaves the same.
        let loaded = try Graph(graphDef: g.graphDef())
        let ly = try #require(loaded.output(named: y.name)), lx = try #require(loaded.output(named: "x:0"))
        #expect(throws: SomaError.self) { try Session(graph: loaded).run(ly, feeds: [lx: Tensor([Float(-1)], shape: [1])]) }
        #expect(throws: SomaError.self) { try assertThat(x, data: []) }  // the condition must be a scalar bool
    }
}
