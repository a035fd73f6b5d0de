import Testing
@testable import Soma

/// `Graph.gradients` against central differences for every differentiable op, in float64
/// (max |J − J_num| ≤ 1e-5) and float32 (≤ 1e-3), over several shapes with broadcasting.
@Suite struct GradientTests {
    typealias Input = GradientChecker.Input
    struct Case: CustomTestStringConvertible, Sendable {
        let op: String
        let label: String
        let inputs: [Input]
        let build: @Sendable ([Output]) throws -> Output
        var testDescription: String { "\(op) \(label)" }
    }

    static func unary(_ op: String, range: ClosedRange<Double> = -2...2, shapes: [[Int]] = [[], [2, 3]],
                      _ f: @escaping @Sendable (Output) throws -> Output) -> [Case] {
        shapes.enumerated().map { k, s in
            Case(op: op, label: "\(s)", inputs: [Input(s, seed: UInt64(10 + k), range: range)]) { try f($0[0]) }
        }
    }

    static func binary(_ op: String, range: ClosedRange<Double> = -2...2, _ f: @escaping @Sendable (Output, Output) throws -> Output) -> [Case] {
        [([2, 3], [2, 3]), ([2, 3], [3]), ([2, 1], [1, 3]), ([], [2, 2])].enumerated().map { k, p in
            Case(op: op, label: "\(p.0) ⊕ \(p.1)", inputs: [Input(p.0, seed: UInt64(20 + k), range: range),
                                                          Input(p.1, seed: UInt64(40 + k), range: range)]) { try f($0[0], $0[1]) }
        }
    }

    /// Branches, loops, calls, lists and optionals (ControlFlow.swift, List.swift). The
    /// stateful `If`/`While` come from branches and bodies holding an `Assert` that no
    /// result depends on.
    static let controlFlowCases: [Case] = {
        func two(_ seed: UInt64) -> [Input] { [Input([2, 3], seed: seed), Input([3], seed: seed + 1)] }
        @Sendable func assertTrue(_ g: Graph) throws { try assertThat(g.constant(true), data: []) }
        var c: [Case] = []
        for taken in [true, false] {
            c.append(Case(op: "StatelessIf", label: "taken \(taken)", inputs: two(60)) { x in
                try cond(x[0].graph.constant(taken), then: { try multiply(tanh(x[0]), x[1]) }, else: { try square(x[0]) })
            })
            c.append(Case(op: "If", label: "taken \(taken)", inputs: two(62)) { x in
                try cond(x[0].graph.constant(taken), then: { try assertTrue(x[0].graph); return try exp(x[0]) },
                         else: { try add(x[0], x[1]) })
            })
        }
        for index in [0, 1, 5] {
            c.append(Case(op: "StatelessCase", label: "index \(index)", inputs: two(64)) { x in
                try switchCase(x[0].graph.constant(Int32(index)), branches: [{ [try sigmoid(x[0])] }, { [try multiply(x[0], x[1])] },
                                                                              { [try square(x[1])] }])[0]
            })
            c.append(Case(op: "Case", label: "index \(index)", inputs: two(66)) { x in
                try switchCase(x[0].graph.constant(Int32(index)), branches: [{ try assertTrue(x[0].graph); return [try tanh(x[0])] },
                                                                              { [try subtract(x[0], x[1])] }])[0]
            })
        }
        @Sendable func loop(_ x: [Output], stateful: Bool) throws -> Output {
            let g = x[0].graph
            return try whileLoop(cond: { v in try less(v[0], g.constant(Int32(3))) }, body: { v in
                if stateful { try assertTrue(g) }
                return [try add(v[0], g.constant(Int32(1))), try tanh(add(multiply(v[1], x[1]), v[1]))]
            }, loopVars: [try g.constant(Int32(0)), x[0]])[1]
        }
        c.append(Case(op: "StatelessWhile", label: "3 iterations", inputs: two(68)) { try loop($0, stateful: false) })
        c.append(Case(op: "While", label: "3 iterations", inputs: two(70)) { try loop($0, stateful: true) })
        for op in ["PartitionedCall", "StatefulPartitionedCall"] {
            c.append(Case(op: op, label: "call", inputs: two(72)) { x in
                let body = try FunctionBodyBuilder(in: x[0].graph, arguments: [("a", x[0].dtype, x[0].shape), ("b", x[1].dtype, x[1].shape)])
                let result = try body.build {
                    if op == "StatefulPartitionedCall" { try assertTrue(x[0].graph) }
                    return try multiply(tanh(body.arguments[0]), body.arguments[1])
                }
                _ = body.sealCaptures()
                let f = body.finish(name: "f", arguments: body.arguments, results: [result])
                return try ControlFlowOps.call(f, [x[0], x[1]], graph: x[0].graph)[0]
            })
        }
        // Lists: through FromTensor/Stack, SetItem/GetItem, PushBack/PopBack; optionals.
        c.append(Case(op: "TensorListFromTensor", label: "and TensorListStack", inputs: [Input([3, 2], seed: 74)]) { x in
            let list = try x[0].graph.output("TensorListFromTensor", [x[0], listShapeTensor(x[0].graph, [2])], name: nil, file: "", line: 0)
            return try square(x[0].graph.output("TensorListStack", [list, listShapeTensor(x[0].graph, [2])],
                                                attrs: ["element_dtype": .type(x[0].dtype)], name: nil, file: "", line: 0))
        })
        c.append(Case(op: "TensorListStack", label: "of a list from a tensor", inputs: [Input([2, 2], seed: 75)]) { x in
            let list = try x[0].graph.output("TensorListFromTensor", [tanh(x[0]), listShapeTensor(x[0].graph, [2])], name: nil,
                                             file: "", line: 0)
            return try x[0].graph.output("TensorListStack", [list, listShapeTensor(x[0].graph, [2])],
                                         attrs: ["element_dtype": .type(x[0].dtype)], name: nil, file: "", line: 0)
        })
        for op in ["TensorListSetItem", "TensorListGetItem"] {
            c.append(Case(op: op, label: "element 1", inputs: two(76)) { x in
                let g = x[0].graph
                let list = try g.output("TensorListReserve", [listShapeTensor(g, [3]), g.constant(Int32(2))],
                                        attrs: ["element_dtype": .type(x[1].dtype)], name: nil, file: "", line: 0)
                let set = try g.output("TensorListSetItem", [list, g.constant(Int32(1)), x[1]], name: nil, file: "", line: 0)
                let item = try g.output("TensorListGetItem", [set, g.constant(Int32(1)), listShapeTensor(g, [3])],
                                        attrs: ["element_dtype": .type(x[1].dtype)], name: nil, file: "", line: 0)
                return try multiply(x[0], exp(item))
            })
        }
        // TensorArray's gather and scatter: rows 2 and 0 of x scattered into a list of 4,
        // then rows 0, 2 and 3 gathered (an unwritten row reads as zeros).
        for op in ["TensorListGather", "TensorListScatterIntoExistingList"] {
            c.append(Case(op: op, label: "rows", inputs: [Input([2, 3], seed: 77)]) { x in
                let g = x[0].graph
                let ta = try TensorArray(g, dtype: x[0].dtype, size: 4, elementShape: [3])
                    .scatter(g.constant([Int32(2), 0], shape: [2]), tanh(x[0]))
                let picked = try ta.gather(g.constant([Int32(0), 2, 3], shape: [3]))
                return try multiply(picked, picked)
            })
        }
        for op in ["TensorListPushBack", "TensorListPopBack"] {
            c.append(Case(op: op, label: "one element", inputs: two(78)) { x in
                let g = x[0].graph
                let pushed = try tensorListPushBack(emptyTensorList(g, dtype: x[0].dtype, elementShape: [2, 3]), sigmoid(x[0]))
                return try multiply(tensorListPopBack(pushed, dtype: x[0].dtype, elementShape: [2, 3]).tensor, x[1])
            })
        }
        for op in ["OptionalFromValue", "OptionalGetValue"] {
            c.append(Case(op: op, label: "two components", inputs: two(80)) { x in
                let g = x[0].graph
                let optional = try g.output("OptionalFromValue", [tanh(x[0]), x[1]], name: nil, file: "", line: 0)
                let values = try g.outputs("OptionalGetValue", [optional],
                                           attrs: ["output_types": .types([x[0].dtype, x[1].dtype]), "output_shapes": .shapes([[2, 3], [3]])],
                                           name: nil, file: "", line: 0)
                return try multiply(values[0], values[1])
            })
        }
        return c
    }()

    static let cases: [Case] = {
        var c: [Case] = []
        c += binary("AddV2") { try add($0, $1) }
        c += binary("Add") { try $0.graph.output("Add", [$0, $1], name: nil, file: "", line: 0) }
        c += binary("Sub") { try subtract($0, $1) }
        c += binary("Mul") { try multiply($0, $1) }
        c += binary("RealDiv", range: 0.5...2) { try divide($0, $1) }
        c += binary("FloorMod", range: 0.3...2.9) { try floorMod($0, $1) }
        c += binary("Maximum") { try maximum($0, $1) }
        c += binary("Minimum") { try minimum($0, $1) }
        c += binary("Pow", range: 0.5...2) { try pow($0, $1) }
        c += binary("SquaredDifference") { try squaredDifference($0, $1) }
        c += unary("Neg") { try negative($0) }
        c += unary("Abs") { try abs($0) }
        c += unary("Sign") { try multiply(sign($0), $0) }
        c += unary("Exp") { try exp($0) }
        c += unary("Log", range: 0.2...3) { try log($0) }
        c += unary("Log1p", range: -0.5...3) { try log1p($0) }
        c += unary("Sqrt", range: 0.2...3) { try sqrt($0) }
        c += unary("Rsqrt", range: 0.2...3) { try rsqrt($0) }
        c += unary("Square") { try square($0) }
        c += unary("Reciprocal", range: 0.3...3) { try reciprocal($0) }
        c += unary("Erf") { try erf($0) }
        c += unary("Erfc") { try erfc($0) }
        c += unary("Relu") { try relu($0) }
        c += unary("Relu6", range: -3...9) { try relu6($0) }
        c += unary("LeakyRelu") { try leakyRelu($0, alpha: 0.3) }
        c += unary("Elu") { try elu($0) }
        c += unary("Selu") { try selu($0) }
        c += unary("Softplus") { try softplus($0) }
        c += unary("Softsign") { try softsign($0) }
        c += unary("Sigmoid") { try sigmoid($0) }
        c += unary("Tanh") { try tanh($0) }
        c += unary("Softmax", shapes: [[4], [2, 3]]) { try softmax($0) }
        c += unary("LogSoftmax", shapes: [[4], [2, 3]]) { try logSoftmax($0) }
        c += unary("Cast", shapes: [[2, 3]]) { try cast(cast($0, to: .float64), to: $0.dtype) }
        c += unary("Identity") { try identity($0) }
        c += unary("CheckNumerics") { try checkNumerics(square($0), message: "square") }
        c += unary("Sum", shapes: [[2, 3, 2]]) { try reduceSum($0, axis: [0, 2]) }
        c += unary("Sum", shapes: [[2, 3]]) { try reduceSum($0, axis: [1], keepDims: true) }
        c += unary("Mean", shapes: [[2, 3, 2]]) { try reduceMean($0, axis: [1]) }
        c += unary("Max", shapes: [[2, 3, 2]]) { try reduceMax($0, axis: [1]) }
        c += unary("Min", shapes: [[2, 3]]) { try reduceMin($0) }
        c += unary("Prod", shapes: [[2, 3]]) { try reduceProd($0, axis: [1]) }
        c += [Case(op: "Prod", label: "with zeros", inputs: [Input([0, 2, 3, 0, 0, 4, 1.5, -1, 2], shape: [3, 3])]) { try reduceProd($0[0], axis: [1]) }]
        c += unary("Reshape", shapes: [[2, 3]]) { try reshape($0, [3, 2]) }
        c += unary("ExpandDims", shapes: [[2, 3]]) { try expandDims($0, axis: 1) }
        c += unary("Squeeze", shapes: [[2, 1, 3]]) { try squeeze($0, axis: [1]) }
        c += unary("Transpose", shapes: [[2, 3, 2]]) { try transpose($0, perm: [2, 0, 1]) }
        c += unary("Tile", shapes: [[2, 3]]) { try tile($0, multiples: [2, 1]) }
        c += unary("BroadcastTo", shapes: [[3], [2, 1]]) { try broadcastTo($0, shape: [2, 2, 3]) }
        c += unary("Pad", shapes: [[2, 3]]) { try pad($0, paddings: [[1, 0], [0, 2]]) }
        c += unary("PadV2", shapes: [[2, 2]]) { x in try pad(x, paddings: [[1, 1], [0, 1]], constantValue: 0.5) }
        c += unary("Slice", shapes: [[3, 4]]) { try slice($0, begin: [1, 1], size: [2, 2]) }
        c += unary("Split", shapes: [[2, 4]]) { x in let p = try split(x, count: 2, axis: 1); return try multiply(p[0], p[1]) }
        c += unary("SplitV", shapes: [[5, 2]]) { x in let p = try split(x, sizes: [2, 3], axis: 0); return try reduceSum(p[1], axis: [0]) }
        c += unary("Unpack", shapes: [[3, 2]]) { x in let p = try unstack(x); return try add(p[0], square(p[2])) }
        c += unary("Fill", shapes: [[]]) { try $0.graph.output("Fill", [$0.graph.constant(Tensor([Int32(2), 3])), $0], name: nil, file: "", line: 0) }
        c += [
            Case(op: "AddN", label: "three", inputs: [Input([2, 2], seed: 20), Input([2, 2], seed: 21), Input([2, 2], seed: 22)]) {
                try $0[0].graph.output("AddN", $0 + [], name: nil, file: "", line: 0)
            },
            Case(op: "ConcatV2", label: "axis 1", inputs: [Input([2, 2], seed: 1), Input([2, 3], seed: 2)]) { try concat($0, axis: 1) },
            Case(op: "Pack", label: "axis 1", inputs: [Input([2, 3], seed: 3), Input([2, 3], seed: 4)]) { try stack($0, axis: 1) },
            Case(op: "SelectV2", label: "broadcast", inputs: [Input([2, 3], seed: 5), Input([3], seed: 6)]) {
                try `where`($0[0].graph.constant(Tensor([true, false, true, false, false, true], shape: [2, 3])), $0[0], $0[1])
            },
            Case(op: "Select", label: "rows", inputs: [Input([3, 2], seed: 9), Input([3, 2], seed: 10)]) {
                try select($0[0].graph.constant(Tensor([true, false, true])), $0[0], $0[1])
            },
            Case(op: "Select", label: "elementwise", inputs: [Input([2, 2], seed: 11), Input([2, 2], seed: 12)]) {
                try select($0[0].graph.constant(Tensor([true, false, false, true], shape: [2, 2])), $0[0], $0[1])
            },
            Case(op: "IdentityN", label: "two", inputs: [Input([2, 3], seed: 13), Input([3], seed: 14)]) {
                let outs = try identityN([$0[0], $0[1]])
                return try add(outs[0], square(outs[1]))
            },
            Case(op: "BiasAdd", label: "NHWC", inputs: [Input([2, 2, 3], seed: 7), Input([3], seed: 8)]) { try biasAdd($0[0], $0[1]) },
            Case(op: "BiasAdd", label: "NCHW", inputs: [Input([2, 3, 2], seed: 7), Input([3], seed: 8)]) { try biasAdd($0[0], $0[1], dataFormat: "NCHW") },
        ]
        // Convolution and pooling, NHWC, over paddings, strides and dilations.
        c += [
            Case(op: "Conv2D", label: "VALID", inputs: [Input([2, 4, 4, 2], seed: 30), Input([3, 3, 2, 3], seed: 31)]) {
                try conv2D($0[0], filter: $0[1])
            },
            Case(op: "Conv2D", label: "SAME stride 2", inputs: [Input([1, 5, 4, 2], seed: 32), Input([3, 2, 2, 2], seed: 33)]) {
                try conv2D($0[0], filter: $0[1], strides: [2, 2], padding: "SAME")
            },
            Case(op: "Conv2D", label: "EXPLICIT dilation 2", inputs: [Input([1, 5, 5, 1], seed: 34), Input([2, 2, 1, 2], seed: 35)]) {
                try conv2D($0[0], filter: $0[1], explicitPaddings: [[1, 0], [0, 2]], dilations: [2, 2])
            },
            Case(op: "Conv2D", label: "1x1", inputs: [Input([2, 2, 3, 3], seed: 36), Input([1, 1, 3, 2], seed: 37)]) {
                try conv2D($0[0], filter: $0[1])
            },
            Case(op: "Conv2DBackpropInput", label: "transposed, stride 2", inputs: [Input([1, 2, 2, 2], seed: 38), Input([3, 3, 1, 2], seed: 39)]) {
                try conv2DTranspose($0[0], filter: $0[1], outputShape: [1, 4, 4, 1], strides: [2, 2], padding: "SAME")
            },
            Case(op: "Conv2DBackpropFilter", label: "SAME", inputs: [Input([1, 3, 3, 2], seed: 40), Input([1, 3, 3, 2], seed: 41)]) {
                try $0[0].graph.output("Conv2DBackpropFilter", [$0[0], $0[0].graph.constant(Tensor([Int32(2), 2, 2, 2])), $0[1]],
                                       attrs: ["strides": .ints([1, 1, 1, 1]), "padding": .string("SAME")], name: nil, file: "", line: 0)
            },
            Case(op: "DepthwiseConv2dNative", label: "SAME stride 2, multiplier 2", inputs: [Input([2, 4, 5, 2], seed: 46), Input([3, 2, 2, 2], seed: 47)]) {
                try depthwiseConv2D($0[0], filter: $0[1], strides: [2, 2], padding: "SAME")
            },
            Case(op: "DepthwiseConv2dNativeBackpropInput", label: "VALID", inputs: [Input([1, 2, 2, 4], seed: 48), Input([2, 2, 2, 2], seed: 49)]) {
                try $0[0].graph.output("DepthwiseConv2dNativeBackpropInput", [$0[0].graph.constant(Tensor([Int32(1), 3, 3, 2])), $0[1], $0[0]],
                                       attrs: ["strides": .ints([1, 1, 1, 1]), "padding": .string("VALID")], name: nil, file: "", line: 0)
            },
            Case(op: "DepthwiseConv2dNativeBackpropFilter", label: "VALID dilation 2", inputs: [Input([1, 4, 4, 2], seed: 58), Input([1, 2, 2, 2], seed: 59)]) {
                try $0[0].graph.output("DepthwiseConv2dNativeBackpropFilter", [$0[0], $0[0].graph.constant(Tensor([Int32(2), 2, 2, 1])), $0[1]],
                                       attrs: ["strides": .ints([1, 1, 1, 1]), "padding": .string("VALID"), "dilations": .ints([1, 2, 2, 1])],
                                       name: nil, file: "", line: 0)
            },
            Case(op: "MaxPool", label: "VALID 2x2", inputs: [Input([2, 4, 4, 2], seed: 42)]) { try maxPool($0[0], ksize: [2, 2], strides: [2, 2]) },
            Case(op: "MaxPool", label: "SAME 3x3 stride 2", inputs: [Input([1, 5, 5, 1], seed: 43)]) {
                try maxPool($0[0], ksize: [3, 3], strides: [2, 2], padding: "SAME")
            },
            Case(op: "AvgPool", label: "SAME 2x2 stride 2", inputs: [Input([1, 5, 3, 2], seed: 44)]) {
                try avgPool($0[0], ksize: [2, 2], strides: [2, 2], padding: "SAME")
            },
            Case(op: "AvgPool", label: "VALID 3x2 stride 1", inputs: [Input([1, 4, 4, 1], seed: 45)]) {
                try avgPool($0[0], ksize: [3, 2], strides: [1, 1])
            },
        ]
        // Batch normalisation: training (batch statistics) and inference (given statistics).
        c += [
            Case(op: "FusedBatchNormV3", label: "training", inputs: [Input([2, 2, 3, 2], seed: 70), Input([2], seed: 71), Input([2], seed: 72)]) { v in
                let g = v[0].graph, dtype = v[0].dtype
                let zeros = try g.constant(Tensor.scalar(0, dtype: dtype)), shape = try g.constant(Tensor([Int32(2)]))
                let stats = try fill(dims: shape, value: zeros)
                return try multiply(fusedBatchNorm(v[0], scale: v[1], offset: v[2], mean: stats, variance: stats).y, v[0])
            },
            Case(op: "FusedBatchNormV3", label: "inference", inputs: [Input([1, 2, 2, 3], seed: 73), Input([3], seed: 74), Input([3], seed: 75)]) { v in
                let g = v[0].graph, dtype = v[0].dtype
                let mean = try g.constant(dtype == .float64 ? Tensor([0.5, -0.25, 1]) : Tensor([Float(0.5), -0.25, 1]))
                let variance = try g.constant(dtype == .float64 ? Tensor([1.5, 0.5, 2]) : Tensor([Float(1.5), 0.5, 2]))
                return try fusedBatchNorm(v[0], scale: v[1], offset: v[2], mean: mean, variance: variance, isTraining: false).y
            },
        ]
        // The fused LSTM step, with and without peepholes: h and cs both feed the result.
        for peephole in [false, true] {
            c.append(Case(op: "LSTMBlockCell", label: peephole ? "peephole" : "plain", inputs: [
                Input([2, 3], seed: 50), Input([2, 2], seed: 51), Input([2, 2], seed: 52), Input([5, 8], seed: 53, range: -1...1),
                Input([2], seed: 54), Input([2], seed: 55), Input([2], seed: 56), Input([8], seed: 57),
            ]) { v in
                let outs = try v[0].graph.outputs("LSTMBlockCell", v, attrs: ["use_peephole": .bool(peephole), "cell_clip": .float(-1)],
                                                  name: nil, file: "", line: 0)
                return try add(outs[6], multiply(outs[1], v[0].scalarLike(0.5, file: "", line: 0)))
            })
        }
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            c.append(Case(op: "MatMul", label: "ta \(ta) tb \(tb)", inputs: [Input(ta ? [3, 2] : [2, 3], seed: 9), Input(tb ? [4, 3] : [3, 4], seed: 10)]) {
                try matmul($0[0], $0[1], transposeA: ta, transposeB: tb)
            })
        }
        c += [
            Case(op: "BatchMatMulV2", label: "broadcast batch", inputs: [Input([2, 2, 3], seed: 11), Input([3, 2], seed: 12)]) { try batchMatmul($0[0], $0[1]) },
            Case(op: "BatchMatMulV2", label: "adjoints", inputs: [Input([2, 3, 2], seed: 13), Input([2, 2, 3], seed: 14)]) {
                try batchMatmul($0[0], $0[1], adjointX: true, adjointY: true)
            },
            Case(op: "Einsum", label: "abc,cde->abde", inputs: [Input([2, 3, 4], seed: 90), Input([4, 2, 3], seed: 91)]) {
                try einsum("abc,cde->abde", [$0[0], $0[1]])
            },
            Case(op: "Einsum", label: "aecd,abcd->acbe", inputs: [Input([2, 3, 2, 2], seed: 92), Input([2, 4, 2, 2], seed: 93)]) {
                try einsum("aecd,abcd->acbe", [$0[0], $0[1]])
            },
            Case(op: "Einsum", label: "...ij,...jk->...ik", inputs: [Input([2, 2, 3], seed: 94), Input([2, 3, 2], seed: 95)]) {
                try einsum("...ij,...jk->...ik", [$0[0], $0[1]])
            },
            Case(op: "Einsum", label: "ij->ji", inputs: [Input([2, 3], seed: 96)]) { try einsum("ij->ji", [$0[0]]) },
            // Labels are distributions (rows summing to 1), as the op assumes.
            Case(op: "SoftmaxCrossEntropyWithLogits", label: "logits and labels", inputs: [Input([3, 4], seed: 15), Input([3, 4], seed: 16)]) {
                try $0[0].graph.outputs("SoftmaxCrossEntropyWithLogits", [$0[0], softmax($0[1])], name: nil, file: "", line: 0)[0]
            },
            Case(op: "StridedSlice", label: "strides and shrink", inputs: [Input([3, 4, 2], seed: 18)]) {
                try stridedSlice($0[0], begin: [0, 3, 1], end: [3, 0, 2], strides: [2, -2, 1], shrinkAxisMask: 4)
            },
            Case(op: "GatherV2", label: "repeated indices", inputs: [Input([4, 2], seed: 19)]) {
                try gather($0[0], indices: $0[0].graph.constant(Tensor([Int32(1), 3, 1], shape: [3])))
            },
            Case(op: "SparseSoftmaxCrossEntropyWithLogits", label: "logits", inputs: [Input([3, 4], seed: 17)]) {
                try $0[0].graph.outputs("SparseSoftmaxCrossEntropyWithLogits", [$0[0], $0[0].graph.constant(Tensor([Int64(1), 3, 0]))],
                                        name: nil, file: "", line: 0)[0]
            },
        ]
        c += controlFlowCases
        return c
    }()

    @Test(arguments: cases) func float64GradientsMatchCentralDifferences(_ c: Case) throws {
        let error = try GradientChecker.maxError(.float64, c.inputs, c.build)
        #expect(error <= 1e-5, "\(c.op) \(c.label): max |J − J_num| = \(error)")
    }

    @Test(arguments: cases) func float32GradientsMatchCentralDifferences(_ c: Case) throws {
        let error = try GradientChecker.maxError(.float32, c.inputs, c.build)
        #expect(error <= 1e-3, "\(c.op) \(c.label): max |J − J_num| = \(error)")
    }

    /// Gradients checked exactly elsewhere: the collectives' need several ranks
    /// (CollectiveTests runs them as threads and compares with the analytic values).
    static let checkedElsewhere: Set<String> = ["HorovodAllreduce", "_SomaFusedAllreduce", "HorovodAllgather", "HorovodBroadcast"]

    @Test func everyDifferentiableOpIsChecked() {
        let checked = Set(Self.cases.map(\.op)).union(Self.checkedElsewhere)
        var unchecked: [String] = [], undeclared: [String] = []
        for (name, def) in OpRegistry.ops {
            switch def.gradient {
            case .notDifferentiable, .undefined: continue
            case .pending: undeclared.append(name)
            case .function: if !checked.contains(name) { unchecked.append(name) }
            }
        }
        #expect(unchecked.sorted().isEmpty, "gradients without a gradient-checker case: \(unchecked.sorted())")
        #expect(undeclared.sorted().isEmpty, "ops neither differentiable nor marked non-differentiable: \(undeclared.sorted())")
    }
}

/// `tf.gradients` semantics of `Graph.gradients`.
@Suite struct GradientSemanticsTests {
    @Test func pathsSumStopGradientStopsAndUnconnectedIsNil() throws {
        let g = Graph()
        let x = try g.placeholder(.float64, shape: [2], name: "x")
        let z = try g.placeholder(.float64, shape: [2], name: "z")
        // y = Σ (x·x + 3x + stop(x)·x): dy/dx = 2x + 3 + x (the stopped factor counts as a constant).
        let y = try reduceSum(add(add(multiply(x, x), multiply(x, g.constant(3.0))), multiply(stopGradient(x), x)))
        let grads = try g.gradients(of: [y], wrt: [x, z])
        #expect(grads[1] == nil)
        let session = Session(graph: g)
        let value = try session.run(grads[0]!, feeds: [x: Tensor([1.5, -2.0])])
        let expected: [Double] = [7.5, -3]  // 3x + 3
        #expect(value.scalars(as: Double.self) == expected)
        // An initial gradient scales the result.
        let scaled = try g.gradients(of: [y], wrt: [x], gradYs: [g.constant(2.0)])[0]!
        let doubled: [Double] = [12, 6]
        #expect(try session.run(scaled, feeds: [x: Tensor([1.0, 0.0])]).scalars(as: Double.self) == doubled)
    }

    /// Differentiating through an op without a gradient is an error naming it, not a zero.
    @Test func opsWithoutAGradientAreNamed() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [2, 3], name: "x")
        let w = try g.constant(Tensor(repeating: Float(1), shape: [3, 2]))
        let b = try g.constant(Tensor(repeating: Float(0), shape: [2]))
        let fused = try g.output("_FusedMatMul", [x, w, b], attrs: ["fused_ops": .strings(["BiasAdd", "Relu"]), "num_args": .int(1)],
                                 name: "dense/fused", file: "", line: 0)
        #expect {
            _ = try g.gradients(of: [reduceSum(fused)], wrt: [x])
        } throws: { "\($0)".contains("No gradient defined for operation 'dense/fused' (op type: _FusedMatMul)") }
        // A non-differentiable op (TF's NotDifferentiable) contributes nothing, silently.
        let floored = try reduceSum(floor(x))
        #expect(try g.gradients(of: [floored], wrt: [x])[0] == nil)
    }

    @Test func gradientGraphsUseTensorFlowsGradientOps() throws {
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [nil, 3], name: "x")
        let w = try g.variable(Tensor(repeating: Float(0.1), shape: [3, 2]), name: "w")
        let b = try g.variable(Tensor(repeating: Float(0), shape: [2]), name: "b")
        let logits = try biasAdd(matmul(relu(x), w.value), b.value)
        let labels = try g.placeholder(.int64, shape: [nil], name: "labels")
        let loss = try reduceMean(g.outputs("SparseSoftmaxCrossEntropyWithLogits", [logits, labels], name: nil, file: "", line: 0)[0])
        let grads = try g.gradients(of: [loss], wrt: [w.value, b.value, x])
        #expect(grads.allSatisfy { $0 != nil })
        let ops = Set(g.nodes.filter { $0.name.hasPrefix("gradients/") }.map(\.op))
        #expect(ops.isSuperset(of: ["ReluGrad", "BiasAddGrad", "MatMul"]), "\(ops.sorted())")
    }
}
