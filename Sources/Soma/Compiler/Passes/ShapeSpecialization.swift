/// Full static shape and dtype inference for the fed shapes.
///
/// Contract: re-runs every node's shape function in topological order, so each output
/// shape becomes as specific as the feed shapes allow (concrete, when every feed is).
/// Rewrites nothing. A conflict that only appears with concrete shapes is an error naming
/// the node, op and shapes.
struct ShapeSpecialization: CompilerPass {
    static let name = "shape_specialization"

    func run(_ ir: IRGraph, _ context: PassContext) throws {
        let chains = IdentityChains()
        for node in ir.nodes where !node.isFeed && !node.isConstant {
            try ir.inferShapes(node, chains: chains)
        }
    }
}
