import Foundation

/// Large tensor buffers kept after their tensors are released, for the next tensor of the
/// same size: a run's fetched outputs (and the copies a fetch from the arena takes) reuse
/// the memory the previous run's gave back. Budgeted buffers only — those whose size a
/// model, a checkpoint or a feed decides; tensors a program makes itself stay with Swift's
/// allocator.
///
/// Without it each run's large outputs are fresh `malloc` memory, and whether that memory
/// is still mapped depends on the allocator's state: glibc gives the top of its heap back
/// to the system when a large block there is freed, so every run then faults its output
/// in page by page. Measured (one thread, a fetched 3×3 depthwise layer's output, 602 KB
/// over 56²×48 and 1.2 MB over 112²×96 at stride 2): about half the processes faulted 145
/// and 300 pages per run, and the layer took 0.30–0.34 and 0.64 ms in place of 0.049 and
/// 0.13. TensorFlow's BFC allocator keeps its regions the same way.
///
/// Blocks of at least ``minimumBytes`` are kept by their size rounded up to whole pages (a
/// taken block matches that size exactly), at most ``capacityBytes`` in all, the oldest
/// freed first beyond that. A kept block belongs to no session: its bytes count against a
/// ``MemoryBudget`` only while a tensor holds them.
///
/// Thread-safety: ``take(byteCount:)`` and ``give(_:byteCount:)`` may be called from any
/// thread.
final class BufferRecycler: @unchecked Sendable {
    /// The process-wide recycler that budgeted tensor buffers use.
    static let shared = BufferRecycler(capacityBytes: 64 << 20)

    /// Smaller blocks go straight back to `malloc`, whose bins serve them without faults.
    static let minimumBytes = 64 << 10

    /// The most bytes kept at once.
    let capacityBytes: Int

    private struct Block {
        let pointer: UnsafeMutableRawPointer
        let byteCount: Int
    }

    /// Kept blocks, the most recently freed last.
    private let blocks = Locked<[Block]>([])

    init(capacityBytes: Int) {
        self.capacityBytes = capacityBytes
        blocks.withLock { $0.reserveCapacity(64) }
    }

    deinit {
        blocks.withLock { kept in for block in kept { free(block.pointer) } }
    }

    /// The size a block of `byteCount` bytes is kept and matched by: whole pages from
    /// ``minimumBytes`` up to ``capacityBytes``, otherwise `nil` (not kept).
    func blockSize(_ byteCount: Int) -> Int? {
        guard byteCount >= Self.minimumBytes, byteCount <= capacityBytes else { return nil }
        return (byteCount + 4095) & ~4095
    }

    /// A kept block of `byteCount` bytes (a ``blockSize(_:)``), the most recently freed, or
    /// `nil` when none is kept.
    func take(byteCount: Int) -> UnsafeMutableRawPointer? {
        blocks.withLock { kept in
            guard let i = kept.lastIndex(where: { $0.byteCount == byteCount }) else { return nil }
            return kept.remove(at: i).pointer
        }
    }

    /// Keeps `pointer` (`byteCount` bytes from `posix_memalign`, a ``blockSize(_:)``) for a
    /// later ``take(byteCount:)``, freeing the oldest blocks beyond ``capacityBytes``.
    func give(_ pointer: UnsafeMutableRawPointer, byteCount: Int) {
        var evicted: [Block] = []
        blocks.withLock { kept in
            kept.append(Block(pointer: pointer, byteCount: byteCount))
            var total = kept.reduce(0) { $0 + $1.byteCount }
            var dropped = 0
            while total > capacityBytes {
                total -= kept[dropped].byteCount
                dropped += 1
            }
            if dropped > 0 {
                evicted = Array(kept[..<dropped])
                kept.removeFirst(dropped)
            }
        }
        for block in evicted { free(block.pointer) }
    }

    /// The bytes kept now.
    var keptBytes: Int { blocks.withLock { $0.reduce(0) { $0 + $1.byteCount } } }
}
