import Testing
@testable import Soma

/// Walks the op registry: every op needs a kernel and a test of its shape function.
@Suite struct RegistryTests {
    /// Ops tested by hand instead of by NumPy fixtures (state and plumbing), with the
    /// suite that tests them.
    static let handTested: [String: String] = [
        "Const": "GraphTests", "Placeholder": "SessionTests", "PlaceholderWithDefault": "SessionTests",
        "VariableV2": "GraphTests", "Assign": "SessionTests", "AssignAdd": "SessionTests",
        "AssignSub": "SessionTests", "NoOp": "GraphTests",
        "_FusedMatMul": "CompilerTests", "_SomaFusedElementwise": "CompilerTests", "_SomaFusedConv2D": "CompilerTests",
        "_SomaFusedDepthwiseConv2dNative": "CompilerTests", "_SomaFusedMaxPoolGrad": "CompilerTests",
        "_SomaFusedBatchMatMul": "CompilerTests", "_SomaFusedMatMulSum": "CompilerTests", "_SomaFusedLSTMCell": "RecurrentCellFusionTests", "_SomaFusedGRUCell": "RecurrentCellFusionTests",
        // Gradient ops: checked through the gradients they compute, against central differences.
        "ReluGrad": "GradientTests", "Relu6Grad": "GradientTests", "LeakyReluGrad": "GradientTests",
        "EluGrad": "GradientTests", "SeluGrad": "GradientTests", "SoftplusGrad": "GradientTests",
        "SoftsignGrad": "GradientTests", "SigmoidGrad": "GradientTests", "TanhGrad": "GradientTests",
        "SqrtGrad": "GradientTests", "RsqrtGrad": "GradientTests", "ReciprocalGrad": "GradientTests",
        "BiasAddGrad": "GradientTests", "BroadcastGradientArgs": "GradientTests", "StridedSliceGrad": "GradientTests",
        "AddN": "TensorFlowFixtureTests", "Assert": "LoggingTests",
        "ApplyGradientDescent": "TrainingTests", "ApplyMomentum": "TrainingTests", "ApplyAdam": "TrainingTests",
        "ApplyRMSProp": "TrainingTests", "ApplyAdagrad": "TrainingTests", "CheckNumerics": "TrainingTests",
        "ShapeN": "TensorFlowFixtureTests", "DepthwiseConv2dNative": "TensorFlowFixtureTests",
        "DepthwiseConv2dNativeBackpropInput": "TensorFlowFixtureTests", "DepthwiseConv2dNativeBackpropFilter": "TensorFlowFixtureTests", "FusedBatchNormV3": "TensorFlowFixtureTests",
        "FusedBatchNormGradV3": "TensorFlowFixtureTests", "ConcatOffset": "TensorFlowFixtureTests", "LSTMBlockCell": "TensorFlowFixtureTests",
        "LSTMBlockCellGrad": "TensorFlowFixtureTests", "MaxPoolGrad": "GradientTests", "AvgPoolGrad": "GradientTests",
        "Conv2D": "TensorFlowFixtureTests", "Conv2DBackpropInput": "TensorFlowFixtureTests",
        "Conv2DBackpropFilter": "TensorFlowFixtureTests", "MaxPool": "TensorFlowFixtureTests", "AvgPool": "TensorFlowFixtureTests",
        "RandomUniform": "TrainingTests", "RandomStandardNormal": "TrainingTests", "TruncatedNormal": "TrainingTests",
        "SoftmaxCrossEntropyWithLogits": "GradientTests", "SparseSoftmaxCrossEntropyWithLogits": "GradientTests",
        // Resource variables, checkpoints and string plumbing: SavedModels and training
        // graphs TF wrote, and hand-built graphs.
        "VarHandleOp": "ResourceVariableTests", "ReadVariableOp": "ResourceVariableTests",
        "AssignVariableOp": "ResourceVariableTests", "AssignAddVariableOp": "ResourceVariableTests",
        "AssignSubVariableOp": "ResourceVariableTests", "VarIsInitializedOp": "ResourceVariableTests",
        "IsVariableInitialized": "ResourceVariableTests", "DisableCopyOnRead": "ResourceVariableTests",
        "ResourceGather": "ResourceVariableTests", "ResourceApplyGradientDescent": "ResourceVariableTests",
        "ResourceApplyMomentum": "ResourceVariableTests", "ResourceApplyAdam": "ResourceVariableTests",
        "ResourceApplyRMSProp": "ResourceVariableTests", "ResourceApplyAdagrad": "ResourceVariableTests",
        "SaveV2": "ResourceVariableTests", "RestoreV2": "ResourceVariableTests", "MergeV2Checkpoints": "ResourceVariableTests",
        "StringJoin": "ResourceVariableTests", "ShardedFilename": "ResourceVariableTests", "ShardedFilespec": "ResourceVariableTests",
        "StaticRegexFullMatch": "ResourceVariableTests", "RegexFullMatch": "ResourceVariableTests",
        "Select": "ResourceVariableTests", "IdentityN": "SavedModelTests",
        // Control flow, lists and optionals: Soma-built graphs (values, gradients, TF
        // interop) and TF's own control-flow fixtures (cond_while, keras_lstm, dynamic_rnn).
        "If": "ControlFlowTests", "StatelessIf": "ControlFlowTests", "Case": "GradientTests", "StatelessCase": "ControlFlowTests",
        "While": "GradientTests", "StatelessWhile": "ControlFlowTests", "PartitionedCall": "GradientTests",
        "StatefulPartitionedCall": "GradientTests", "EmptyTensorList": "ControlFlowTests", "TensorListReserve": "ControlFlowTests",
        "TensorListFromTensor": "GradientTests", "TensorListGetItem": "ControlFlowTests", "TensorListSetItem": "GradientTests",
        "TensorListStack": "GradientTests", "TensorListLength": "ControlFlowTests", "TensorListElementShape": "ControlFlowTests",
        "TensorListGather": "ControlFlowTests", "TensorListScatterIntoExistingList": "ControlFlowTests",
        "TensorListPushBack": "GradientTests", "TensorListPopBack": "ControlFlowTests", "OptionalFromValue": "ControlFlowTests",
        "OptionalNone": "ControlFlowTests", "OptionalHasValue": "ControlFlowTests", "OptionalGetValue": "ControlFlowTests",
        "InvertPermutation": "TensorFlowFixtureTests",
        // Summaries: decoded with protobuf-c here; TF's own summary ops and TensorBoard's
        // reader check the same files in Tools/check_tensorboard.py.
        "ScalarSummary": "SummaryTests", "HistogramSummary": "SummaryTests", "ImageSummary": "SummaryTests",
        "TensorSummaryV2": "SummaryTests", "MergeSummary": "SummaryTests",
        // Collectives: ranks as threads here; the MPI transport under mpirun in Tools/test-mpi.sh.
        "HorovodAllreduce": "CollectiveTests", "_SomaFusedAllreduce": "CollectiveTests", "HorovodAllgather": "CollectiveTests",
        "HorovodBroadcast": "CollectiveTests",
    ]

    @Test func everyOpHasAKernel() {
        let missing = OpRegistry.ops.keys.filter { !Kernels.hasKernel($0) }.sorted()
        #expect(missing.isEmpty, "ops without a CPU kernel: \(missing)")
        let orphans = Kernels.table.keys.filter { OpRegistry.lookup($0) == nil }.sorted()
        #expect(orphans.isEmpty, "kernels for undeclared ops: \(orphans)")
    }

    @Test func everyOpHasShapeAndValueTests() {
        let covered = Set(OpCase.byOp.keys).union(Self.handTested.keys)
        let untested = OpRegistry.ops.keys.filter { !covered.contains($0) }.sorted()
        #expect(untested.isEmpty, "ops with no fixture cases and no hand tests: \(untested)")
    }

    @Test func theIssuesOpListIsComplete() {
        let required = """
            AddV2 Add Sub Mul RealDiv FloorDiv FloorMod Maximum Minimum Pow SquaredDifference Equal NotEqual Less
            LessEqual Greater GreaterEqual LogicalAnd LogicalOr LogicalNot SelectV2 Neg Abs Sign Exp Log Log1p Sqrt Erf Erfc
            Rsqrt Square Reciprocal Floor Ceil Round Cast Relu Relu6 LeakyRelu Elu Selu Softplus Softsign Sigmoid Tanh
            Softmax LogSoftmax MatMul BatchMatMulV2 BiasAdd Sum Mean Max Min Prod All Any ArgMax ArgMin Shape Size Rank
            Reshape ExpandDims Squeeze Transpose ConcatV2 Pack Unpack Split SplitV Slice StridedSlice Pad PadV2 Tile
            Fill ZerosLike OnesLike Range GatherV2 OneHot BroadcastTo StopGradient PlaceholderWithDefault Identity NoOp
            Const Placeholder VariableV2 Assign
            """.split(whereSeparator: \.isWhitespace).map(String.init)
        let missing = required.filter { OpRegistry.lookup($0) == nil }
        #expect(missing.isEmpty, "missing ops: \(missing)")
    }

    @Test func attributeDefaultsFollowTensorFlow() {
        #expect(OpRegistry.lookup("MatMul")?.attr("transpose_a")?.defaultValue == .bool(false))
        #expect(OpRegistry.lookup("Sum")?.attr("keep_dims")?.defaultValue == .bool(false))
        #expect(OpRegistry.lookup("Sum")?.attr("Tidx")?.defaultValue == .type(.int32))
        #expect(OpRegistry.lookup("ArgMax")?.attr("output_type")?.defaultValue == .type(.int64))
        #expect(OpRegistry.lookup("LeakyRelu")?.attr("alpha")?.defaultValue == .float(0.2))
        #expect(OpRegistry.lookup("BiasAdd")?.attr("data_format")?.defaultValue == .string("NHWC"))
        #expect(OpRegistry.lookup("StridedSlice")?.attr("shrink_axis_mask")?.defaultValue == .int(0))
        #expect(OpRegistry.lookup("OneHot")?.attr("axis")?.defaultValue == .int(-1))
        #expect(OpRegistry.lookup("GatherV2")?.attr("batch_dims")?.defaultValue == .int(0))
        #expect(OpRegistry.lookup("Cast")?.attr("Truncate")?.defaultValue == .bool(false))
        #expect(OpRegistry.lookup("Shape")?.attr("out_type")?.defaultValue == .type(.int32))
        #expect(OpRegistry.lookup("SplitV")?.attr("Tlen")?.defaultValue == .type(.int64))
        #expect(OpRegistry.lookup("Assign")?.inputs.first?.isRef == true)
    }

    @Test func traitsMarkStateAndElementwiseOps() {
        #expect(OpRegistry.lookup("VariableV2")!.traits.contains([.stateful, .variable]))
        #expect(OpRegistry.lookup("AddV2")!.traits.contains([.elementwise, .commutative]))
        #expect(!OpRegistry.lookup("Sub")!.traits.contains(.commutative))
        #expect(OpRegistry.lookup("Placeholder")!.traits.contains(.feedable))
    }
}
