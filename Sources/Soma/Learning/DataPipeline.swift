import Foundation

/// One element of a ``DataPipeline``: an example's (or a batch's) features and labels.
public struct Example: Sendable {
    public var features: Tensor
    public var labels: Tensor

    public init(features: Tensor, labels: Tensor) {
        self.features = features
        self.labels = labels
    }
}

/// A stream of examples or batches, built like a `tf.data` pipeline:
///
/// ```swift
/// let batches = dataset.pipeline()
///     .map { e in Example(features: augment(e.features), labels: e.labels) }
///     .shuffle(buffer: 1000, seed: 7)
///     .batch(32)
///     .prefetch(2)
/// try model.fit(batches, epochs: 10)
/// ```
///
/// A pipeline is a recipe: each ``makeIterator()`` starts a fresh pass (a reshuffle for
/// `shuffle`, as `tf.data` does by default). Iterators are used on one thread; `prefetch`
/// runs the stages before it on a background thread of its own.
public struct DataPipeline: Sendable {
    /// A pass over the pipeline.
    public struct Iterator {
        let nextElement: () throws -> Example?
        /// The next element, `nil` at the end of the pass; errors of the stages surface here.
        public mutating func next() throws -> Example? { try nextElement() }
    }

    private let make: @Sendable (_ pass: Int) -> Iterator
    private let passes = PassCounter()
    /// Elements per pass when known (`nil` for endless or filtered streams).
    public let cardinality: Int?

    init(cardinality: Int?, _ make: @escaping @Sendable (_ pass: Int) -> Iterator) {
        self.cardinality = cardinality
        self.make = make
    }

    /// Starts a pass over the elements.
    public func makeIterator() -> Iterator { make(passes.next()) }

    /// Each element transformed by `transform` (TF's `map`).
    public func map(_ transform: @escaping @Sendable (Example) throws -> Example) -> DataPipeline {
        let upstream = self
        return DataPipeline(cardinality: cardinality) { pass in
            var it = upstream.make(pass)
            return Iterator { try it.next().map(transform) }
        }
    }

    /// Elements drawn at random from a buffer of `buffer` upcoming ones (TF's
    /// `shuffle(buffer_size, seed)`); a buffer as large as the data gives a uniform
    /// shuffle. Each pass uses its own order, derived from `seed`.
    public func shuffle(buffer: Int, seed: UInt64) -> DataPipeline {
        precondition(buffer > 0, "shuffle buffer must be positive")
        let upstream = self
        return DataPipeline(cardinality: cardinality) { pass in
            var it = upstream.make(pass)
            var rng = SplitMix64(seed: seed &+ UInt64(pass) &* 0x9E37_79B9_7F4A_7C15)
            var pool: [Example] = [], exhausted = false
            return Iterator {
                while !exhausted, pool.count < buffer {
                    if let e = try it.next() { pool.append(e) } else { exhausted = true }
                }
                guard !pool.isEmpty else { return nil }
                let k = Int.random(in: 0..<pool.count, using: &rng)
                pool.swapAt(k, pool.count - 1)
                return pool.removeLast()
            }
        }
    }

    /// Consecutive elements stacked into batches of `size` along a new first dimension
    /// (TF's `batch`); the last batch may be smaller unless `dropRemainder`.
    public func batch(_ size: Int, dropRemainder: Bool = false) -> DataPipeline {
        precondition(size > 0, "batch size must be positive")
        let upstream = self
        let count = cardinality.map { dropRemainder ? $0 / size : ($0 + size - 1) / size }
        return DataPipeline(cardinality: count) { pass in
            var it = upstream.make(pass)
            return Iterator {
                var group: [Example] = []
                while group.count < size, let e = try it.next() { group.append(e) }
                guard !group.isEmpty, !(dropRemainder && group.count < size) else { return nil }
                return Example(features: try Tensor(stacking: group.map(\.features)),
                               labels: try Tensor(stacking: group.map(\.labels)))
            }
        }
    }

    /// The pipeline's elements `count` times over, or endlessly when `nil` (TF's `repeat`).
    public func `repeat`(_ count: Int? = nil) -> DataPipeline {
        let upstream = self
        let total = count.flatMap { n in cardinality.map { $0 * n } }
        return DataPipeline(cardinality: total) { pass in
            var round = 0, yielded = false
            var it = upstream.make(pass)
            return Iterator {
                while true {
                    if let e = try it.next() {
                        yielded = true
                        return e
                    }
                    round += 1
                    // Stop after `count` rounds, or at once when a round was empty.
                    if let count, round >= count { return nil }
                    guard yielded else { return nil }
                    yielded = false
                    it = upstream.make(pass &* 1_000_003 &+ round)
                }
            }
        }
    }

    /// The first `count` elements (TF's `take`).
    public func take(_ count: Int) -> DataPipeline {
        let upstream = self
        return DataPipeline(cardinality: cardinality.map { Swift.min($0, count) } ?? count) { pass in
            var it = upstream.make(pass), taken = 0
            return Iterator {
                guard taken < count, let e = try it.next() else { return nil }
                taken += 1
                return e
            }
        }
    }

    /// Runs the stages before it on a background thread, keeping up to `buffer` elements
    /// ready (TF's `prefetch`): batching and transforms overlap with training. The thread
    /// ends with the pass, or when the iterator is dropped.
    public func prefetch(_ buffer: Int = 2) -> DataPipeline {
        precondition(buffer > 0, "prefetch buffer must be positive")
        let upstream = self
        return DataPipeline(cardinality: cardinality) { pass in
            let queue = PrefetchQueue(capacity: buffer)
            let producer = UnsafeSendableBox(upstream.make(pass))
            let thread = Thread {
                var it = producer.value
                while true {
                    do {
                        guard let e = try it.next() else { queue.finish(nil); return }
                        guard queue.put(e) else { return }
                    } catch {
                        queue.finish(error)
                        return
                    }
                }
            }
            thread.name = "soma-prefetch"
            thread.start()
            let consumer = PrefetchConsumer(queue)
            return Iterator { try consumer.queue.take() }
        }
    }
}

extension Dataset {
    /// The data set's examples, in order, as a ``DataPipeline`` (each example without the
    /// batch dimension).
    public func pipeline() -> DataPipeline {
        let data = self
        return DataPipeline(cardinality: count) { _ in
            var i = 0
            return DataPipeline.Iterator {
                guard i < data.count else { return nil }
                defer { i += 1 }
                return Example(features: try data.features.example(i), labels: try data.labels.example(i))
            }
        }
    }
}

/// Counts the passes started over one pipeline (each reshuffles).
private final class PassCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var passes = 0
    func next() -> Int { lock.withLock { defer { passes += 1 }; return passes } }
}

/// A value handed to one other thread, which alone uses it from then on.
private struct UnsafeSendableBox<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

/// A bounded hand-off between the prefetch thread and the iterator.
private final class PrefetchQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Example] = []
    private var done = false, cancelled = false
    private var error: Error?
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// Waits for room; false once the consumer has gone.
    func put(_ e: Example) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count >= capacity && !cancelled { condition.wait() }
        guard !cancelled else { return false }
        items.append(e)
        condition.broadcast()
        return true
    }

    func finish(_ error: Error?) {
        condition.withLock {
            done = true
            self.error = error
            condition.broadcast()
        }
    }

    func take() throws -> Example? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !done { condition.wait() }
        if !items.isEmpty {
            condition.broadcast()
            return items.removeFirst()
        }
        if let error { throw error }
        return nil
    }

    func cancel() {
        condition.withLock {
            cancelled = true
            condition.broadcast()
        }
    }
}

/// Stops the producer when the iterator holding it goes away.
private final class PrefetchConsumer {
    let queue: PrefetchQueue
    init(_ queue: PrefetchQueue) { self.queue = queue }
    deinit { queue.cancel() }
}
