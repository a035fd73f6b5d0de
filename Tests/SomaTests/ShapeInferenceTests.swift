import Testing
@testable import Soma

/// Build-time shape inference on partial shapes, and its errors.
@Suite struct ShapeInferenceTests {
    @Test func theFoundationIssuesExample() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil, 3], name: "x")
        let w = try g.variable(Tensor(repeating: Float(0), shape: [4, 5]), name: "w")
        let line = #line + 1
        let error = #expect(throws: SomaError.self) { try g.withNameScope("dense") { try matmul(x, w.value) } }
        #expect(error?.message == "Dimensions must be equal, but are 3 and 4 for 'dense/MatMul' (op: 'MatMul') "
                + "with input shapes: [?,3], [4,5] (created at ShapeInferenceTests.swift:\(line))")
        #expect(error?.code == .invalidArgument)
    }

    @Test func partialShapesPropagate() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil, 3], name: "x")
        let w = try g.placeholder(.float32, shape: [3, 5], name: "w")
        let h = try relu(matmul(x, w))
        #expect(h.shape == [nil, 5])
        #expect(try (h + g.placeholder(.float32, shape: [5])).shape == [nil, 5])
        #expect(try (h * g.placeholder(.float32, shape: [1, 1])).shape == [nil, 5])
        #expect(try add(h, g.placeholder(.float32, shape: [7, 1])).shape == [7, 5])
        #expect(try reduceSum(h, axis: [1]).shape == [nil])
        #expect(try reduceMean(h, axis: [0], keepDims: true).shape == [1, 5])
        #expect(try reduceMax(h).shape == [])
        #expect(try reshape(h, [-1, 5, 1]).shape == [nil, 5, 1])
        #expect(try transpose(h).shape == [5, nil])
        #expect(try expandDims(h, axis: 1).shape == [nil, 1, 5])
        #expect(try concat([h, h], axis: 1).shape == [nil, 10])
        #expect(try concat([h, h], axis: 0).shape == [nil, 5])
        #expect(try stack([h, h], axis: 1).shape == [nil, 2, 5])
        #expect(try argmax(h, axis: 1).shape == [nil])
        #expect(try softmax(h).shape == [nil, 5])
        #expect(try shape(h).shape == [2])
        #expect(try split(h, count: 5, axis: 1).map(\.shape) == Array(repeating: [nil, 1], count: 5))
        #expect(try gather(h, indices: g.placeholder(.int32, shape: [nil, 2]), axis: 1).shape == [nil, nil, 2])
        #expect(try oneHot(g.placeholder(.int64, shape: [nil]), depth: 10).shape == [nil, 10])
        #expect(try stridedSlice(h, begin: [0, 1], end: [0, 3], beginMask: 1, endMask: 1).shape == [nil, 2])
        #expect(try stridedSlice(h, begin: [0], end: [1], shrinkAxisMask: 1).shape == [5])
        let unknown = try g.placeholder(.float32, name: "u")
        #expect(try relu(unknown).shape == .unknown)
        #expect(try matmul(unknown, w).shape == [nil, 5])
        #expect(try reduceSum(unknown, axis: [0], keepDims: true).shape == .unknown)
    }

    @Test func reshapeSolvesTheWildcardFromAPartialShapeTensor() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil, 4, 3], name: "x")
        // reshape(x, [shape(x)[0], -1]) is TF's flatten.
        let batch = try stridedSlice(shape(x), begin: [0], end: [1], shrinkAxisMask: 1)
        let flat = try reshape(x, stack([batch, g.constant(Int32(-1))]))
        #expect(flat.shape == [nil, nil])
        let known = try reshape(x, stack([g.constant(Int32(-1)), g.constant(Int32(12))]))
        #expect(known.shape == [nil, 12])
        let y = try g.placeholder(.float32, shape: [2, 6])
        // The element count of y solves the unknown dimension, as TF's shape function does.
        #expect(try reshape(y, shape(x)).shape == [1, 4, 3])
        let fed = try Session(graph: g).run(flat, feeds: [x: Tensor(repeating: Float(1), shape: [5, 4, 3])])
        #expect(fed.shape == [5, 12])
    }

    @Test func violationsThrowWithTensorFlowWording() throws {
        let g = Graph()
        let a = try g.placeholder(.float32, shape: [2, 3], name: "a")
        let b = try g.placeholder(.float32, shape: [4, 3], name: "b")
        func message(_ body: () throws -> Output) -> String {
            do { _ = try body(); return "no error" } catch { return (error as? SomaError)?.message ?? "\(error)" }
        }
        let line = #line + 1
        #expect(message { try add(a, b, name: "sum") }
                == "Dimensions must be equal, but are 2 and 4 for 'sum' (op: 'AddV2') with input shapes: [2,3], [4,3]"
                + " (created at ShapeInferenceTests.swift:\(line))")
        #expect(message { try reshape(a, [4]) }.hasPrefix("Cannot reshape a tensor with 6 elements to shape [4] (4 elements) for 'Reshape'"))
        #expect(message { try reshape(a, [-1, -1]) }.hasPrefix("Only one input size may be -1, not both 0 and 1"))
        #expect(message { try concat([a, b], axis: 1) }.hasPrefix(
            "Dimension 0 in both shapes must be equal, but are 2 and 4. Shapes are [2,3] and [4,3]. for 'concat' (op: 'ConcatV2')"))
        #expect(message { try concat([a, a], axis: 2) }.contains("ConcatOp : Expected concatenating dimensions in the range [-2, 2), but got 2"))
        #expect(message { try squeeze(a, axis: [1]) }.hasPrefix("Can not squeeze dim[1], expected a dimension of 1, got 3"))
        #expect(message { try transpose(a, perm: [0, 0]) }.hasPrefix("perm [0, 0] is not a permutation of [0, 2)"))
        #expect(message { try matmul(a, g.placeholder(.float32, shape: [3])) }.hasPrefix("Shape must be rank 2 but is rank 1"))
        #expect(message { try reduceSum(a, axis: [2]) }.hasPrefix("Invalid reduction dimension 2 for input with 2 dimensions."))
        #expect(message { try reduceMean(a, axis: [1, -1]) }.hasPrefix("Invalid reduction arguments: Axes contains duplicate dimension: 1"))
        #expect(message { try split(a, count: 2, axis: 1).first! }.hasPrefix("Dimension size must be evenly divisible by 2 but is 3"))
        #expect(message { try slice(a, begin: [1, 0], size: [2, 1]) }.hasPrefix("Expected size[0] in [0, 1], but got 2"))
        #expect(message { try stridedSlice(a, begin: [5], end: [6], shrinkAxisMask: 1) }.hasPrefix(
            "slice index 5 of dimension 0 out of bounds."))
        #expect(message { try stridedSlice(a, begin: [0], end: [1], strides: [0]) }.hasPrefix("strides[0] must be non-zero"))
        #expect(message { try stridedSlice(a, begin: [0, 0, 0], end: [1, 1, 1]) }.hasPrefix(
            "Index out of range using input dim 2; input has only 2 dims"))
        #expect(message { try stridedSlice(a, begin: [0, 0], end: [1, 1], ellipsisMask: 3) }.hasPrefix(
            "Multiple ellipses in slice spec not allowed"))
        #expect(message { try pad(a, paddings: [[1, 1]]) }.hasPrefix("The first dimension of paddings must be the rank of inputs"))
        #expect(message { try pad(a, paddings: [[1, -1], [0, 0]]) }.hasPrefix("Paddings must be non-negative"))
        #expect(message { try tile(a, multiples: [2]) }.hasPrefix("Expected multiples argument to be a vector of length 2 but got length 1"))
        #expect(message { try broadcastTo(a, shape: [4, 3]) }.hasPrefix("Unable to broadcast tensor of shape [2,3] to tensor of shape [4,3]"))
        #expect(message { try gather(a, indices: g.constant(Int32(0)), axis: 2) }.contains("Expected axis in the range [-2, 2), but got 2"))
        #expect(message { try g.range(0, 5, 0) }.hasPrefix("Requires delta != 0"))
        #expect(message { try g.range(5, 0, 1) }.hasPrefix("Requires start <= limit when delta > 0"))
        #expect(message { try biasAdd(a, g.placeholder(.float32, shape: [2])) }.hasPrefix("Dimensions must be equal, but are 3 and 2"))
        #expect(message { try batchMatmul(g.placeholder(.float32, shape: [2, 2, 3]), g.placeholder(.float32, shape: [3, 2, 4])) }
                    .hasPrefix("Dimensions must be equal, but are 3 and 2"))
        #expect(message { try argmax(a, axis: 2) }.hasPrefix("Expected dimension in the range [-2, 2), but got 2"))
        #expect(message { try softmax(g.constant(Float(1))) }.hasPrefix("Shape must be at least rank 1 but is rank 0"))
        #expect(message { try expandDims(a, axis: 3) }.hasPrefix("Tried to expand dim index 3 for tensor with 2 dimensions."))
        #expect(message { try unstack(a, axis: 0).first! } == "no error")
        #expect(message { try oneHot(g.constant(Int32(1)), depth: -1) }.hasPrefix("depth must be non-negative, got: -1"))
    }
}
