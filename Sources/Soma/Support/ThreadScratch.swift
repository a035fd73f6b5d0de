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
