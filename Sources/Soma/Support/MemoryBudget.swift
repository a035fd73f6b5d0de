import Foundation
import Synchronization

/// A bound on the bytes that loading and running a model may hold at once.
///
/// Every allocation whose size a model file or a feed decides — constants materialised by
/// the loader, a plan's arena, kernel outputs, fetched tensors, variable values and kernel
/// scratch (im2col patches, reduction partials) — reserves its bytes here first, and gives
/// them back when the memory is freed. Asking for more than is left is a
/// `ResourceExhausted` error naming what asked and how much, and nothing is allocated; so
/// is an allocation the system refuses. An untrusted model is then bounded by a number the
/// user chose, and a failed run leaves the session usable.
///
/// ```swift
/// let budget = MemoryBudget(limit: 512 << 20)
/// var limits = GraphDefLimits(); limits.memoryBudget = budget
/// let graph = try Graph(contentsOf: url, limits: limits)
/// var options = SessionOptions(); options.memoryBudget = budget
/// ```
///
/// Thread-safety: reservations are atomic; one budget may be shared by any number of
/// graphs, sessions and threads.
public final class MemoryBudget: Sendable, CustomStringConvertible {
    /// The most bytes that may be reserved at once.
    public let limit: Int
    private let used = Atomic<Int>(0)
    private let high = Atomic<Int>(0)

    /// A budget of `limit` bytes (default: ``defaultLimit``).
    public init(limit: Int = MemoryBudget.defaultLimit) {
        self.limit = Swift.max(limit, 0)
    }

    /// The default limit: half of the machine's physical memory, so that a hostile model
    /// fails with an error long before the system starts to swap or kill processes.
    public static let defaultLimit = Int(clamping: ProcessInfo.processInfo.physicalMemory / 2)

    /// Bytes reserved now.
    public var bytesInUse: Int { used.load(ordering: .relaxed) }
    /// The most bytes reserved at any one time.
    public var peakBytes: Int { high.load(ordering: .relaxed) }

    /// Reserves `bytes`, or throws `ResourceExhausted` naming `what` when fewer are left.
    public func reserve(_ bytes: Int, for what: @autoclosure () -> String) throws(SomaError) {
        guard bytes > 0 else { return }
        var current = used.load(ordering: .relaxed)
        while true {
            let (next, overflow) = current.addingReportingOverflow(bytes)
            guard !overflow, next <= limit else {
                throw SomaError(.resourceExhausted,
                                "\(what()) needs \(bytes) bytes, more than the \(Swift.max(limit - current, 0)) bytes "
                                + "left of the \(limit)-byte memory budget")
            }
            let (exchanged, original) = used.compareExchange(expected: current, desired: next, ordering: .relaxed)
            if exchanged {
                high.max(next, ordering: .relaxed)
                return
            }
            current = original
        }
    }

    /// Gives back bytes reserved earlier.
    public func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        used.subtract(bytes, ordering: .relaxed)
    }

    /// Runs `body` with `bytes` reserved for its duration (kernel scratch).
    func withReservation<R>(_ bytes: Int, for what: @autoclosure () -> String, _ body: () throws -> R) throws -> R {
        try reserve(bytes, for: what())
        defer { release(bytes) }
        return try body()
    }

    public var description: String { "MemoryBudget(\(bytesInUse) of \(limit) bytes in use, peak \(peakBytes))" }

    /// Parses a byte count with an optional unit: `1048576`, `512MiB`, `2GB`, `64k`.
    /// Decimal units: `kB`/`KB`, `MB`, `GB`, `TB`; binary: `KiB`, `MiB`, `GiB`, `TiB` and
    /// the single letters `k`, `m`, `g`, `t` (either case).
    public static func parseByteCount(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let value = Int(digits) else { return nil }
        let unit = trimmed.dropFirst(digits.count).trimmingCharacters(in: .whitespaces)
        let scale: Int
        switch unit.lowercased() {
        case "", "b": scale = 1
        case "kb": scale = 1000
        case "mb": scale = 1000 * 1000
        case "gb": scale = 1000 * 1000 * 1000
        case "tb": scale = 1000 * 1000 * 1000 * 1000
        case "k", "kib": scale = 1 << 10
        case "m", "mib": scale = 1 << 20
        case "g", "gib": scale = 1 << 30
        case "t", "tib": scale = 1 << 40
        default: return nil
        }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: scale)
        return overflow ? nil : bytes
    }
}

/// `size` bytes of 64-byte-aligned memory, or `nil` when the system refuses (instead of
/// Swift's allocation trap).
func allocateAligned(byteCount size: Int) -> UnsafeMutableRawPointer? {
    var pointer: UnsafeMutableRawPointer? = nil
    let huge = size >= hugePageThreshold
    guard posix_memalign(&pointer, huge ? hugePageBytes : TensorBuffer.alignment, Swift.max(size, 1)) == 0 else { return nil }
    #if os(Linux)
    // Large buffers in transparent huge pages: one fault per 2 MiB on first touch rather
    // than 512 (reading a checkpoint tensor, a big arena).
    if huge, let p = pointer { _ = madvise(p, size - size % hugePageBytes, MADV_HUGEPAGE) }
    #endif
    return pointer
}

private let hugePageBytes = 2 << 20
private let hugePageThreshold = 8 << 20
