import Foundation

extension Session {
    /// A run signature bound once — feeds, fetches and targets resolved, the plan compiled
    /// per feed shapes — so each call does only the run itself (TF's `Session::MakeCallable`
    /// and `RunCallable`).
    ///
    /// ```swift
    /// let step = try session.makeCallable(feeds: [x, y], fetches: [loss], targets: [train])
    /// let out = Tensor(zeros: .float32, shape: [])
    /// for (bx, by) in batches { try step.run([bx, by], into: [out]) }
    /// ```
    ///
    /// `run(_:into:)` allocates no heap memory in a steady state (same feed shapes as a
    /// previous call, single-threaded plan): intermediates live in a pooled arena, and the
    /// kernels computing the fetches write the caller's tensors directly where they can —
    /// outputs of their own (not a forwarded input, a variable, a feed or a constant), of a
    /// static shape — the rest being copied into them after the run.
    ///
    /// Thread-safety: like ``Session/run(fetches:feeds:targets:)``, any number of threads
    /// may call one callable at once.
    public final class Callable: Sendable {
        public let session: Session
        public let feeds: [Output]
        public let fetches: [Output]
        public let targets: [Node]
        /// The shape each feed's values must be compatible with, read once from its node.
        private let declaredShapes: [TensorShape]
        /// Each feed's dtype, read once from its node.
        private let feedTypes: [DType]

        /// A compiled plan for one set of feed shapes, with the order mapping plan feeds to
        /// this callable's feeds (`nil` when the reference executor must run). A class, so
        /// that finding it for a run costs one reference count, not one per field.
        final class Compiled: Sendable {
            let shapes: [[Int]]
            let executor: PlanExecutor?
            let feedOrder: [Int]

            init(shapes: [[Int]], executor: PlanExecutor?, feedOrder: [Int]) {
                (self.shapes, self.executor, self.feedOrder) = (shapes, executor, feedOrder)
            }
        }

        private let compiled = Locked<[Compiled]>([])

        init(session: Session, feeds: [Output], fetches: [Output], targets: [Node]) {
            self.session = session
            self.feeds = feeds
            self.fetches = fetches
            self.targets = targets
            self.declaredShapes = feeds.map { Session.declaredFeedShape($0.endpoint) }
            self.feedTypes = feeds.map(\.endpoint.dtype)
        }

        /// Computes the fetches with `values[i]` fed to `feeds[i]`, and runs the targets.
        public func run(_ values: [Tensor]) throws -> [Tensor] {
            let entry = try prepare(values)
            guard let executor = entry.executor else { return try runReference(values) }
            return try executor.execute(feed: { values[entry.feedOrder[$0]] }, state: session.state, options: session.options,
                                        observer: session.numericsObserver()) { read in
                try executor.plan.fetches.map { try read($0).owned(budget: session.state.budget) }
            }
        }

        /// Runs like ``run(_:)`` and copies fetch `i` into `outputs[i]`, which must have its
        /// dtype and shape.
        public func run(_ values: [Tensor], into outputs: [Tensor]) throws {
            guard outputs.count == fetches.count else {
                throw SomaError.invalidArgument("Expected \(fetches.count) output tensors, got \(outputs.count)")
            }
            let entry = try prepare(values)
            guard let executor = entry.executor else {
                for (k, value) in try runReference(values).enumerated() { try copy(value, into: outputs[k], fetch: k) }
                return
            }
            // Kernels write the outputs directly where they can (no copy afterwards), unless
            // an output's dtype or shape differs — the copy reports it — or its memory meets a
            // feed's or another output's.
            let supplied = Self.suppliable(outputs, executor: executor, feeds: values)
            try outputs.withUnsafeBufferPointer { out in
                try executor.execute(feed: { values[entry.feedOrder[$0]] }, state: session.state, options: session.options,
                                     observer: session.numericsObserver(), supplying: supplied ? out : nil) { read in
                    for (k, v) in executor.plan.fetches.enumerated() { try copy(read(v), into: out[k], fetch: k) }
                }
            }
        }

        /// Whether kernels may write `outputs` directly: each of its fetch's dtype and static
        /// shape, and no two of them, nor one and a feed, sharing a byte.
        /// (The executor rather than its plan: passing the plan copied it, five reference
        /// counts a run.)
        private static func suppliable(_ outputs: [Tensor], executor: PlanExecutor, feeds: [Tensor]) -> Bool {
            func overlap(_ a: Tensor, _ b: Tensor) -> Bool {
                let (p, q) = (UnsafeRawPointer(a.rawPointer), UnsafeRawPointer(b.rawPointer))
                return a.byteCount > 0 && b.byteCount > 0 && p < q + b.byteCount && q < p + a.byteCount
            }
            for (k, out) in outputs.enumerated() {
                let v = executor.plan.fetches[k]
                guard !executor.plan.values[v].isDynamic, out.dtype == executor.plan.values[v].dtype,
                      out.shape == executor.plan.values[v].shape else { return false }
                for feed in feeds where overlap(out, feed) { return false }
                for other in outputs[..<k] where overlap(out, other) { return false }
            }
            return true
        }

        private func runReference(_ values: [Tensor]) throws -> [Tensor] {
            var fed: [Output: Tensor] = [:]
            for (output, value) in zip(feeds, values) { fed[output] = value }
            return try session.run(fetches: fetches, feeds: fed, targets: targets)
        }

        /// Copies `value` into `out`, the caller's tensor for fetch `fetch` (an index: the
        /// fetch's `Output` is read only for a message — copying it counted two references,
        /// its graph's through the side table that weak references give it).
        private func copy(_ value: Tensor, into out: Tensor, fetch: Int) throws {
            guard value.dtype == out.dtype, value.shape == out.shape else {
                throw SomaError.invalidArgument(
                    "Output tensor for '\(fetches[fetch].name)' has dtype \(out.dtype) and shape \(shapeString(out.shape)), "
                    + "but the value has dtype \(value.dtype) and shape \(shapeString(value.shape))")
            }
            // A kernel wrote the caller's tensor itself: nothing to copy.
            if value.rawPointer != out.rawPointer { out.rawPointer.copyMemory(from: value.rawPointer, byteCount: value.byteCount) }
        }

        /// Validates the feeds and finds (or compiles) the plan for their shapes.
        private func prepare(_ values: [Tensor]) throws -> Compiled {
            guard values.count == feeds.count else {
                throw SomaError.invalidArgument("Expected \(feeds.count) feed values, got \(values.count)")
            }
            // The feeds' nodes only for a message: reading one counted its graph's and node's references.
            for k in values.indices where values[k].dtype != feedTypes[k] || !declaredShapes[k].isCompatible(with: values[k].shape) {
                try Session.validateFeed(values[k], for: feeds[k].endpoint, declared: declaredShapes[k])
            }
            let found = compiled.withLock { entries -> Compiled? in
                guard let i = entries.firstIndex(where: { Self.matches($0.shapes, values) }) else { return nil }
                return entries[i]
            }
            if let found { return found }
            var fed: [NodeOutput: Tensor] = [:]
            for (output, value) in zip(feeds, values) { fed[output.endpoint] = value }
            let executor = try session.compile(fetches: fetches.map(\.endpoint), feeds: fed, targets: targets, fetchesInArena: true)
            let order = executor.map { e in e.plan.feeds.map { endpoint in feeds.firstIndex { $0.endpoint == endpoint }! } } ?? []
            let entry = Compiled(shapes: values.map(\.shape), executor: executor, feedOrder: order)
            compiled.withLock { entries in
                entries.append(entry)
                if entries.count > session.options.planCacheCapacity { entries.removeFirst() }
            }
            return entry
        }

        private static func matches(_ shapes: [[Int]], _ values: [Tensor]) -> Bool {
            for (shape, value) in zip(shapes, values) where shape != value.shape { return false }
            return true
        }
    }

    /// Binds feeds, fetches and targets once for repeated runs; see ``Callable``.
    ///
    /// - Throws: ``SomaError`` when an output or target is not in this session's graph, or
    ///   a feed is listed twice.
    public func makeCallable(feeds: [Output], fetches: [Output], targets: [Node] = []) throws -> Callable {
        for output in feeds + fetches where output.graph !== graph {
            throw SomaError.invalidArgument("'\(output.name)' is not an element of this session's graph")
        }
        for target in targets where graph.node(named: target.name) !== target {
            throw SomaError.invalidArgument("Target '\(target.name)' is not an element of this session's graph")
        }
        guard Set(feeds.map(\.endpoint)).count == feeds.count else {
            throw SomaError.invalidArgument("A tensor is fed twice in \(feeds.map(\.name))")
        }
        return Callable(session: self, feeds: feeds, fetches: fetches, targets: targets)
    }
}
