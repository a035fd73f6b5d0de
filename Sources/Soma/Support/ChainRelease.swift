import Foundation

/// Releases graphs of objects without recursion: a node's deinit hands its edges here
/// instead of dropping them, and the outermost release on the thread frees the chain in
/// a loop.
///
/// Without it, freeing the last node of a 1,000,000-node chain frees its input in its
/// deinit, which frees that one's input, … one stack frame per node: a file of a few MB
/// could overflow the stack just by being released.
///
/// Thread-safety: the queue is per thread.
enum ChainRelease {
    private final class Queue {
        var pending: [AnyObject] = []
        var draining = false
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { raw in
            guard let raw else { return }
            Unmanaged<Queue>.fromOpaque(raw).release()
        }
        precondition(status == 0, "pthread_key_create failed")
        return key
    }()

    private static var queue: Queue {
        if let raw = pthread_getspecific(key) { return Unmanaged<Queue>.fromOpaque(raw).takeUnretainedValue() }
        let fresh = Queue()
        pthread_setspecific(key, Unmanaged.passRetained(fresh).toOpaque())
        return fresh
    }

    /// Takes over references from a deinit (leaving `objects` empty, so the caller holds
    /// none): they are released here, one at a time, by the outermost call on this
    /// thread, so nested deinits only add to the queue.
    static func release(_ objects: inout [AnyObject]) {
        guard !objects.isEmpty else { return }
        let q = queue
        q.pending.append(contentsOf: objects)
        objects.removeAll()
        guard !q.draining else { return }
        q.draining = true
        while !q.pending.isEmpty { q.pending.removeLast() }
        q.draining = false
    }
}
