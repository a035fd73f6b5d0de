import Foundation

/// One block of 64-byte-aligned memory holding a plan's intermediate tensors for one run.
///
/// Thread-safety: one run uses an arena at a time (the pool hands it out), so its view
/// cache needs no lock; kernels of a parallel run each touch their own offsets only
/// through `view`, which is guarded.
final class Arena: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let byteCount: Int
    /// Buffer objects for planned slots, made once and reused by every run, so placing an
    /// output in the arena allocates nothing.
    private var views: [SIMD2<Int>: TensorBuffer] = [:]
    private let lock = NSLock()

    init(byteCount: Int) {
        self.byteCount = byteCount
        base = .allocate(byteCount: Swift.max(byteCount, 1), alignment: TensorBuffer.alignment)
    }

    /// The buffer viewing `bytes` at `offset`.
    func view(at offset: Int, bytes: Int) -> TensorBuffer {
        lock.lock()
        defer { lock.unlock() }
        let key = SIMD2(offset, bytes)
        if let cached = views[key] { return cached }
        let buffer = TensorBuffer(view: base + offset, byteCount: bytes, owner: self)
        views[key] = buffer
        return buffer
    }

    /// The run's value table (one slot per plan value, all `nil`), kept with the arena so
    /// a run that takes this arena allocates no table. The caller clears it after the run.
    func valueTable(count: Int) -> UnsafeMutablePointer<Tensor?> {
        if let table = values, valueCount == count { return table }
        if let table = values {
            table.deinitialize(count: valueCount)
            table.deallocate()
        }
        let table = UnsafeMutablePointer<Tensor?>.allocate(capacity: count)
        table.initialize(repeating: nil, count: count)
        values = table
        valueCount = count
        return table
    }

    private var values: UnsafeMutablePointer<Tensor?>? = nil
    private var valueCount = 0

    deinit {
        if let values {
            values.deinitialize(count: valueCount)
            values.deallocate()
        }
        base.deallocate()
    }
}

/// Arenas kept between runs, so a steady-state run allocates none.
///
/// Thread-safety: concurrent runs each take their own arena.
final class ArenaPool: Sendable {
    private let free = Locked<[Arena]>([])
    let byteCount: Int

    init(byteCount: Int) { self.byteCount = byteCount }

    func take() -> Arena { free.withLock { $0.popLast() } ?? Arena(byteCount: byteCount) }

    /// Returns an arena; keeps at most a few (one per concurrent run seen, up to 8).
    func give(_ arena: Arena) { free.withLock { if $0.count < 8 { $0.append(arena) } } }
}
