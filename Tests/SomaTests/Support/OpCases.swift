import Foundation
import Testing
@testable import Soma

/// One case of `Fixtures/op_cases.json` (written by `Tools/make_op_fixtures.py` with NumPy).
struct OpCase: Sendable {
    let name: String
    let op: String
    let attrs: [String: AttrValue]
    let inputs: [Tensor]
    let outputs: [Tensor]
    let tolerance: Double

    /// All cases, grouped by op name.
    static let byOp: [String: [OpCase]] = {
        let url = Bundle.module.url(forResource: "op_cases", withExtension: "json", subdirectory: "Fixtures")!
        let root = try! JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let cases = (root["cases"] as! [[String: Any]]).map(OpCase.init(json:))
        return Dictionary(grouping: cases, by: \.op)
    }()

    init(json: [String: Any]) {
        name = json["name"] as! String
        op = json["op"] as! String
        tolerance = (json["tolerance"] as? Double) ?? 1e-6
        inputs = (json["inputs"] as! [[String: Any]]).map(OpCase.tensor)
        outputs = (json["outputs"] as! [[String: Any]]).map(OpCase.tensor)
        var attrs: [String: AttrValue] = [:]
        for (key, value) in json["attrs"] as! [String: [String: Any]] {
            attrs[key] = OpCase.attr(value)
        }
        self.attrs = attrs
    }

    static func attr(_ json: [String: Any]) -> AttrValue {
        if let b = json["b"] as? Bool { return .bool(b) }
        if let i = json["i"] as? Int { return .int(i) }
        if let f = json["f"] as? Double { return .float(Float(f)) }
        if let s = json["s"] as? String { return .string(s) }
        if let t = json["type"] as? String { return .type(dtype(t)) }
        if let v = json["ints"] as? [Int] { return .ints(v) }
        fatalError("unknown attr encoding \(json)")
    }

    static func dtype(_ name: String) -> DType { DType.allCases.first { $0.name == name }! }

    static func tensor(_ json: [String: Any]) -> Tensor {
        let dtype = dtype(json["dtype"] as! String)
        let shape = json["shape"] as! [Int]
        let raw = json["values"] as! [Any]
        func double(_ v: Any) -> Double {
            if let s = v as? String { return s == "nan" ? .nan : (s == "inf" ? .infinity : -.infinity) }
            if let b = v as? Bool { return b ? 1 : 0 }
            return (v as! NSNumber).doubleValue
        }
        switch dtype {
        case .float32: return try! Tensor(raw.map { Float(double($0)) }, shape: shape)
        case .float64: return try! Tensor(raw.map(double), shape: shape)
        case .int32: return try! Tensor(raw.map { Int32(($0 as! NSNumber).int64Value) }, shape: shape)
        case .int64: return try! Tensor(raw.map { ($0 as! NSNumber).int64Value }, shape: shape)
        case .uint8: return try! Tensor(raw.map { UInt8(($0 as! NSNumber).int64Value) }, shape: shape)
        case .bool: return try! Tensor(raw.map { $0 as! Bool }, shape: shape)
        case .string: return try! Tensor(strings: raw.map { $0 as! String }, shape: shape)
        case .resource, .variant: fatalError("no op case holds a \(dtype) tensor")
        }
    }
}

/// Whether `actual` matches `expected`: exactly for integers and bools, within
/// `tolerance` (relative and absolute) for floats.
func matches(_ actual: Tensor, _ expected: Tensor, tolerance: Double) -> Bool {
    guard actual.dtype == expected.dtype, actual.shape == expected.shape else { return false }
    if expected.dtype.isFloatingPoint {
        return actual.isApproximatelyEqual(to: expected, relativeTolerance: tolerance, absoluteTolerance: tolerance)
    }
    return actual == expected
}
