import Foundation

/// One graph rewrite of the compiler pipeline.
///
/// A pass states its contract in its documentation: what it rewrites, the guards under
/// which it does (never a fetched node's name, never a stateful op, never across a control
/// edge), and that outputs do not change. It may leave dead nodes behind; the pipeline
/// removes them after each pass.
protocol CompilerPass {
    /// Grappler-style name, used by `--disable` and in reports: `constant_folding`.
    static var name: String { get }
    func run(_ ir: IRGraph, _ context: PassContext) throws
}

/// What passes may consult.
struct PassContext {
    /// Largest constant constant folding may create (TF's cap is 10 MiB).
    var foldingCapBytes = 10 << 20
    /// Compiling an executable plan (fused ops that TF lacks are allowed) rather than
    /// optimising a graph to save.
    var forPlan: Bool
}

/// A line of the compile report: `constant_folding: 18 nodes (-2), 0.7 ms`.
public struct PassReport: Sendable, CustomStringConvertible {
    public let pass: String
    public let nodes: Int
    public let delta: Int
    public let milliseconds: Double

    public var description: String {
        String(format: "%@: %d nodes (%@%d), %.1f ms", pass, nodes, delta > 0 ? "+" : "", delta, milliseconds)
    }
}

extension PassReport {
    /// The first line of a report: copying only what the fetches and targets need.
    static func pruning(graph: Graph, ir: IRGraph, since start: UInt64) -> PassReport {
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        return PassReport(pass: "pruning", nodes: ir.nodes.count, delta: ir.nodes.count - graph.nodes.count, milliseconds: ms)
    }
}

/// The passes and their order.
public enum Passes {
    /// Every pass name, in pipeline order.
    public static let all = [
        ShapeSpecialization.name, ConstantFolding.name, ListLengthInference.name, CommonSubexpressionElimination.name,
        AlgebraicSimplification.name, DependencyOptimization.name, PadFolding.name, BatchNormFolding.name, PaddingTapPruning.name,
        RecurrentCellFusion.name, MatMulBiasActivationFusion.name,
        MatMulSumFusion.name, SharedTransposeMaterialization.name, ElementwiseFusion.name, LoopAccumulatorSharing.name, LoopVariablePruning.name,
        LoopInputProjectionHoisting.name, WinogradFilterTransform.name, WeightPanelPacking.name,
    ]

    static func pipeline(disabled: Set<String>, forPlan: Bool) -> [any CompilerPass] {
        var passes: [any CompilerPass] = [
            // A list's length known once its count is folded: the shapes after it become static.
            ShapeSpecialization(), ConstantFolding(), ListLengthInference(), CommonSubexpressionElimination(), AlgebraicSimplification(),
            // Simplification exposes more constants and duplicates.
            ConstantFolding(), CommonSubexpressionElimination(), DependencyOptimization(),
        ]
        // Plans only: folding changes rounding, and saved graphs keep TF's arithmetic.
        // Recurrent cells before the remapper, which would take a GRU's `BiasAdd(MatMul)`.
        if forPlan { passes += [PadFolding(), BatchNormFolding(), PaddingTapPruning(), RecurrentCellFusion()] }
        passes.append(MatMulBiasActivationFusion())
        if forPlan {
            passes += [MatMulSumFusion(), SharedTransposeMaterialization(), ElementwiseFusion(), LoopAccumulatorSharing(), LoopVariablePruning(),
                       LoopInputProjectionHoisting(), WinogradFilterTransform(), WeightPanelPacking()]
        }
        return passes.filter { !disabled.contains(type(of: $0).name) }
    }

    /// Runs `passes` over `ir`, removing dead nodes after each and reporting each.
    static func run(_ passes: [any CompilerPass], on ir: IRGraph, context: PassContext) throws -> [PassReport] {
        var reports: [PassReport] = []
        ir.removeDeadNodes()
        for pass in passes {
            let before = ir.nodes.count
            let start = DispatchTime.now().uptimeNanoseconds
            try pass.run(ir, context)
            ir.removeDeadNodes()
            let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            reports.append(PassReport(pass: type(of: pass).name, nodes: ir.nodes.count, delta: ir.nodes.count - before,
                                      milliseconds: ms))
        }
        return reports
    }
}

extension IRNode: AttributeBearing {}
