import Foundation

/// Per-thread scratch memory for kernels: grown on demand and kept for the thread's
/// life, so a kernel that needs temporary blocks allocates nothing in a steady state.
///
/// Thread-safety: each thread has its own block. Not reentrant: a kernel must not call
/// ``withScratch(bytes:_:)`` again inside `body` on the same thread.
enum ThreadScratch {
    private struct Block {
        var base: UnsafeMutableRawPointer
        var capacity: Int
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { raw in
            guard let block = raw?.assumingMemoryBound(to: Block.self) else { return }
            block.pointee.base.deallocate()
            block.deinitialize(count: 1)
            block.deallocate()
        }
        precondition(status == 0, "pthread_key_create failed")
        return key
    }()

    /// Calls `body` with at least `bytes` bytes of 64-byte-aligned memory owned by this thread.
    static func withScratch<R>(bytes: Int, _ body: (UnsafeMutableRawPointer) throws -> R) rethrows -> R {
        var block = pthread_getspecific(key)?.assumingMemoryBound(to: Block.self)
        if block == nil {
            let fresh = UnsafeMutablePointer<Block>.allocate(capacity: 1)
            fresh.initialize(to: Block(base: .allocate(byteCount: 4096, alignment: 64), capacity: 4096))
            pthread_setspecific(key, fresh)
            block = fresh
        }
        let b = block!
        if b.pointee.capacity < bytes {
            b.pointee.base.deallocate()
            let capacity = Swift.max(bytes, 2 * b.pointee.capacity)
            b.pointee.base = .allocate(byteCount: capacity, alignment: 64)
            b.pointee.capacity = capacity
        }
        return try body(b.pointee.base)
    }
}

/// Reusable scratch for buffers a kernel shares with its helper threads (partial sums per
/// fixed block): blocks are taken from a free list and given back, grown on demand and kept,
/// so steady-state runs allocate nothing. Reentrant, unlike ``ThreadScratch``: a kernel may
/// hold a block across a `parallelFor` whose helpers run other kernels that take their own.
///
/// Thread-safety: the free list is behind a mutex; a block belongs to one caller at a time.
enum SharedScratch {
    /// Memory held from ``take(bytes:)`` until ``give(_:)``.
    struct Block: @unchecked Sendable {
        fileprivate(set) var base: UnsafeMutableRawPointer
        fileprivate(set) var capacity: Int
    }

    /// `Locked`, not `Synchronization.Mutex`: ThreadSanitizer sees pthread locks only.
    private static let free = Locked<[Block]>([])

    /// Calls `body` with at least `bytes` bytes of 64-byte-aligned memory held by this call.
    static func withScratch<R>(bytes: Int, _ body: (UnsafeMutableRawPointer) throws -> R) rethrows -> R {
        let block = take(bytes: bytes)
        defer { give(block) }
        return try body(block.base)
    }

    /// At least `bytes` bytes of 64-byte-aligned memory, held until ``give(_:)`` — for a
    /// caller whose work cannot nest in a closure (one capturing variables a kernel's
    /// closures change, which the compiler then moves to the heap on every run).
    static func take(bytes: Int) -> Block {
        var block = free.withLock { blocks -> Block? in
            // The smallest free block that fits, else the largest (to be grown).
            var best: Int? = nil
            for (i, b) in blocks.enumerated() {
                if b.capacity >= bytes, best.map({ b.capacity < blocks[$0].capacity }) ?? true { best = i }
            }
            if best == nil, let largest = blocks.indices.max(by: { blocks[$0].capacity < blocks[$1].capacity }) { best = largest }
            return best.map { blocks.remove(at: $0) }
        } ?? Block(base: .allocate(byteCount: 64, alignment: 64), capacity: 64)
        if block.capacity < bytes {
            block.base.deallocate()
            block.capacity = Swift.max(bytes, 2 * block.capacity)
            block.base = .allocate(byteCount: block.capacity, alignment: 64)
        }
        return block
    }

    /// Hands back a block ``take(bytes:)`` gave.
    static func give(_ block: Block) { free.withLock { $0.append(block) } }
}
