import CPUFeatures
import Foundation

/// The instruction sets Soma's vector loops are built for, in increasing order.
///
/// ``detected`` is what this CPU (and its operating system) supports; ``selected``, the one
/// kernels use, is the detected level capped by the `SOMA_CPU` environment variable
/// (`baseline`, `avx2` or `avx512`), read once per process — for comparing the builds, or
/// for ruling a faster one out. Every level computes the same bits.
public enum CPULevel: Int, Comparable, CaseIterable, Sendable, CustomStringConvertible {
    /// x86-64's SSE2, or whatever another architecture guarantees.
    case baseline
    /// AVX2 with FMA, BMI and F16C (`-target-cpu haswell`).
    case avx2
    /// Besides, AVX-512 F/CD/BW/DQ/VL (`-target-cpu skylake-avx512`).
    case avx512

    public static let detected = CPULevel(rawValue: Int(soma_cpu_vector_level())) ?? .baseline

    public static let selected: CPULevel = {
        guard let name = ProcessInfo.processInfo.environment["SOMA_CPU"], let cap = CPULevel(name: name) else { return detected }
        return Swift.min(cap, detected)
    }()

    /// The level named `baseline`, `avx2` or `avx512` (any case).
    public init?(name: String) {
        guard let level = CPULevel.allCases.first(where: { $0.description == name.lowercased() }) else { return nil }
        self = level
    }

    public var description: String { ["baseline", "avx2", "avx512"][rawValue] }

    public static func < (a: CPULevel, b: CPULevel) -> Bool { a.rawValue < b.rawValue }
}
