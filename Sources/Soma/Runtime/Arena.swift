import Synchronization

/// One block of 64-byte-aligned memory holding a plan's intermediate tensors for one run.
final class Arena: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let byteCount: Int

    init(byteCount: Int) {
        self.byteCount = byteCount
        base = .allocate(byteCount: Swift.max(byteCount, 1), alignment: TensorBuffer.alignment)
    }

    deinit { base.deallocate() }
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
