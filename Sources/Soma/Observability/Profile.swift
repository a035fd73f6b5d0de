import Foundation

extension StepStats {
    /// The steps as Chrome trace JSON (the Trace Event Format's complete events, one row
    /// per thread): open it in Perfetto (ui.perfetto.dev) or `chrome://tracing`. Names
    /// from the model are JSON-escaped.
    public func chromeTrace() -> Data {
        var events: [[String: Any]] = []
        for thread in Set(nodeStats.map(\.threadID)).sorted() {
            events.append(["name": "thread_name", "ph": "M", "pid": 0, "tid": thread,
                           "args": ["name": thread == 0 ? "caller" : "worker \(thread)"]])
        }
        events.append(["name": "process_name", "ph": "M", "pid": 0, "args": ["name": device]])
        for s in nodeStats {
            events.append([
                "name": s.op, "cat": "Op", "ph": "X", "pid": 0, "tid": s.threadID,
                "ts": Double(s.allStartNanos) / 1000, "dur": Double(s.durationNanos) / 1000,
                "args": ["name": s.nodeName, "op": s.op, "label": s.timelineLabel, "output_bytes": s.outputBytes, "depth": s.depth],
            ])
        }
        let object: [String: Any] = ["traceEvents": events, "displayTimeUnit": "ns"]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    }

    /// Time per node summed over these stats, most expensive first (ties by name).
    public func profile() -> [NodeProfile] {
        var byNode: [String: NodeProfile] = [:]
        for s in nodeStats {
            var entry = byNode[s.nodeName] ?? NodeProfile(nodeName: s.nodeName, op: s.op, calls: 0, totalNanos: 0, flops: 0,
                                                          outputBytes: s.outputBytes, depth: s.depth)
            entry.calls += 1
            entry.totalNanos += s.durationNanos
            entry.flops += NodeProfile.flops(op: s.op, inputShapes: s.inputShapes, outputShapes: s.outputShapes)
            byNode[s.nodeName] = entry
        }
        return byNode.values.sorted { $0.totalNanos != $1.totalNanos ? $0.totalNanos > $1.totalNanos : $0.nodeName < $1.nodeName }
    }
}

/// One node's share of a profile: calls, total time and, for matrix products and
/// convolutions, the arithmetic it did.
public struct NodeProfile: Sendable {
    public var nodeName: String
    public var op: String
    public var calls: Int
    public var totalNanos: UInt64
    /// Floating-point operations over all calls (a multiply-add counts two); 0 for ops
    /// that are not GEMMs or convolutions.
    public var flops: Double
    public var outputBytes: Int
    /// 0 for the run's own steps, more inside loop and function bodies (whose time their
    /// caller's includes: shares of a run's time add up over depth 0).
    public var depth: Int

    /// GFLOP/s over the node's time, or `nil` for ops without a FLOP count.
    public var gigaflopsPerSecond: Double? {
        flops > 0 && totalNanos > 0 ? flops / Double(totalNanos) : nil
    }

    /// The arithmetic of one call of a matrix product or convolution, from its shapes.
    static func flops(op: String, inputShapes: [[Int]], outputShapes: [[Int]]) -> Double {
        guard let out = outputShapes.first, inputShapes.count >= 2 else { return 0 }
        let outputs = Double(out.reduce(1, *))
        let a = inputShapes[0], filter = inputShapes[1]
        switch op {
        case "MatMul", "_FusedMatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3":
            // The contracted length: the dimension of A the output does not keep.
            guard a.count >= 2, out.count >= 2 else { return 0 }
            let k = a[a.count - 1] == out[out.count - 2] && a[a.count - 2] != out[out.count - 2] ? a[a.count - 2] : a[a.count - 1]
            return 2 * outputs * Double(k)
        case "Conv2D", "_FusedConv2D", "_SomaFusedConv2D":
            guard filter.count == 4 else { return 0 }
            return 2 * outputs * Double(filter[0] * filter[1] * filter[2])
        case "DepthwiseConv2dNative", "_SomaFusedDepthwiseConv2dNative":
            guard filter.count == 4 else { return 0 }
            return 2 * outputs * Double(filter[0] * filter[1])
        case "Conv2DBackpropInput":
            // out_backprop × filter: the forward convolution's arithmetic.
            guard filter.count == 4, let dy = inputShapes.last else { return 0 }
            return 2 * Double(dy.reduce(1, *)) * Double(filter[0] * filter[1] * filter[2])
        case "Conv2DBackpropFilter":
            guard out.count == 4, let dy = inputShapes.last else { return 0 }
            return 2 * Double(dy.reduce(1, *)) * Double(out[0] * out[1] * out[2])
        default:
            return 0
        }
    }
}
