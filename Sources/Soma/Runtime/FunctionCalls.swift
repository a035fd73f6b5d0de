/// Calls library functions for the control-flow kernels: each function is compiled once
/// per signature of argument shapes into a plan — its own schedule and buffer plan,
/// reused on every call with those shapes — and run with the caller's session state, so
/// it reads the session's variables and counts against its memory budget.
///
/// Compiled plans are memoised on the function (a few signatures each), so every session
/// and every plan that calls a function shares them. Steps of a body whose shapes depend
/// on values (a list's elements) infer their shapes as they run (dynamic steps).
///
/// Thread-safety: any number of calls at once (each plan run takes its own arena).
enum FunctionCalls {
    /// A function compiled for one signature of argument shapes (and, for list arguments,
    /// their elements' shapes).
    final class Compiled: Sendable {
        let shapes: [[Int]]
        let listShapes: [TensorShape?]
        let executor: PlanExecutor
        /// Plan feed `k` is argument `feedArgument[k]`.
        let feedArgument: [Int]

        init(shapes: [[Int]], listShapes: [TensorShape?], executor: PlanExecutor, feedArgument: [Int]) {
            self.shapes = shapes
            self.listShapes = listShapes
            self.executor = executor
            self.feedArgument = feedArgument
        }

        /// Whether it was compiled for `arguments`' shapes and list element shapes.
        func fits(_ arguments: [Tensor]) -> Bool {
            FunctionCalls.signature(shapes, listShapes, fits: arguments)
        }
    }

    /// Whether `arguments` have `shapes` and, where `listShapes` names one, lists whose
    /// elements share it — compared in place, building no shape.
    static func signature(_ shapes: [[Int]], _ listShapes: [TensorShape?], fits arguments: [Tensor]) -> Bool {
        guard shapes.count == arguments.count, listShapes.count == arguments.count else { return false }
        for k in arguments.indices {
            guard shapes[k] == arguments[k].shape else { return false }
            if let shape = listShapes[k], !listShape(of: arguments[k], is: shape) { return false }
        }
        return true
    }

    /// `listShape(t) == shape`, without building a shape where the list's declared one is
    /// fully defined (or its elements are rows of one tensor).
    static func listShape(of t: Tensor, is shape: TensorShape) -> Bool {
        guard let list = t.list else { return false }
        if list.elementShape.isFullyDefined { return list.elementShape == shape }
        // The walk of `listShape(_:)`, comparing each set element's shape in place.
        var first: [Int]? = nil
        for i in 0..<list.count {
            guard let e = list.storage(at: i) else { continue }
            if let first {
                if first != e.shape { return list.elementShape == shape }
            } else {
                first = e.shape
            }
        }
        guard let first, let dims = shape.dimensions, dims.count == first.count else { return first == nil && list.elementShape == shape }
        return zip(dims, first).allSatisfy { $0 == $1 }
    }

    /// Kinds of ``GraphFunction/runtimeRecent`` entries.
    static let recentCompiled = 0, recentRecurrentLoop = 1

    private struct CacheKey: Hashable, Sendable {
        let shapes: [[Int]]
        let listShapes: [TensorShape?]
    }

    /// What a list argument's elements share: the one shape all set elements have, else
    /// the list's declared element shape; `nil` for other arguments.
    static func listShape(_ t: Tensor) -> TensorShape? {
        guard let list = t.list else { return nil }
        // Every kernel that sets an element checks it against the declared shape, so a fully
        // defined one is every element's — without walking a long list on every call.
        if list.elementShape.isFullyDefined { return list.elementShape }
        var shape: [Int]? = nil
        for i in 0..<list.count {
            guard let e = list.storage(at: i) else { continue }
            if shape == nil { shape = e.shape } else if shape != e.shape { return list.elementShape }
        }
        return shape.map { TensorShape($0) } ?? list.elementShape
    }

    /// Signatures memoised per function; the memo is cleared when it would grow past this.
    static let cacheCapacity = 16

    /// Sub-plans run their steps in order; their kernels may use every core, or one when
    /// the calling kernel may use one (its run went alone under contention: the outer run
    /// decided that).
    private static let sequential = options(threads: 0), alone = options(threads: 1)

    private static func options(threads: Int) -> SessionOptions {
        var o = SessionOptions()
        o.deterministic = true
        o.adaptsToContention = false
        o.contentionMonitor = nil
        o.intraOpThreads = threads
        return o
    }

    private static func check(_ arguments: [Tensor], for f: GraphFunction) throws {
        guard arguments.count == f.arguments.count else {
            throw KernelError("\(f.description) takes \(f.arguments.count) arguments but was called with \(arguments.count)")
        }
        for (k, (value, argument)) in zip(arguments, f.arguments).enumerated() {
            guard value.dtype == argument.dtype, argument.shape.isCompatible(with: value.shape) else {
                throw KernelError("argument \(k) of \(f.description) must be \(argument.dtype) \(argument.shape), but is "
                                  + "\(value.dtype) \(shapeString(value.shape))")
            }
        }
    }

    /// `f` compiled for arguments of `shapes` and list element shapes (memoised).
    static func compiled(_ f: GraphFunction, shapes: [[Int]], listShapes: [TensorShape?]) throws -> Compiled {
        let key = CacheKey(shapes: shapes, listShapes: listShapes)
        if let hit = f.runtimeCache.withLock({ $0[key] }) as? Compiled {
            f.runtimeRecent.withLock { $0[recentCompiled] = hit }
            return hit
        }
        var feeds: [NodeOutput: [Int]] = [:], lists: [NodeOutput: TensorShape] = [:]
        for (k, (argument, shape)) in zip(f.arguments, shapes).enumerated() {
            feeds[argument.endpoint] = shape
            if let known = listShapes[k] { lists[argument.endpoint] = known }
        }
        // Results stay in the arena: a loop's calls keep them there (``LoopCalls``), other
        // calls copy them out.
        var options = CompileOptions()
        options.fetchesInArena = true
        let plan = try Compiler.plan(graph: f.body, fetches: f.results.map(\.endpoint), targets: f.controlResults,
                                     feeds: feeds, feedListShapes: lists, options: options)
        let position = Dictionary(uniqueKeysWithValues: f.arguments.enumerated().map { ($1.endpoint, $0) })
        let compiled = Compiled(shapes: shapes, listShapes: listShapes, executor: PlanExecutor(plan: plan),
                                feedArgument: plan.feeds.map { position[$0]! })
        f.runtimeCache.withLock { cache in
            if cache.count >= cacheCapacity { cache.removeAll() }
            cache[key] = compiled
        }
        f.runtimeRecent.withLock { $0[recentCompiled] = compiled }
        return compiled
    }

    /// `compiled` when it fits `arguments`' shapes (and list element shapes), else `f`
    /// compiled for them after checking them against its signature.
    static func fitting(_ f: GraphFunction, _ arguments: [Tensor], _ compiled: Compiled?) throws -> Compiled {
        // Arguments are checked when their shapes change (a call with the shapes of the
        // last one passed the same checks, and a node's dtypes never change).
        if let c = compiled, c.fits(arguments) { return c }
        // A loop's calls start with none: the function's last signature comes first (its
        // arguments' dtypes checked, since another node may have made that call).
        if let c = f.runtimeRecent.withLock({ $0[recentCompiled] }) as? Compiled, c.fits(arguments),
           zip(arguments, f.arguments).allSatisfy({ $0.dtype == $1.dtype }) {
            return c
        }
        try check(arguments, for: f)
        return try Self.compiled(f, shapes: arguments.map(\.shape), listShapes: arguments.map(listShape))
    }

    /// Calls `f` with `arguments`, using `compiled` when it was compiled for their shapes.
    ///
    /// - Throws: `KernelError` naming the function when an argument's dtype or shape does
    ///   not fit, or when the body fails (with the body node's own message).
    static func call(_ f: GraphFunction, _ arguments: [Tensor], compiled: inout Compiled?, state: SessionState,
                     threads: Int, observer: RunObserver? = nil) throws -> [Tensor] {
        do {
            let c = try fitting(f, arguments, compiled), executor = c.executor
            compiled = c
            return try executor.execute(feed: { arguments[c.feedArgument[$0]] }, state: state,
                                        options: threads == 1 ? alone : sequential,
                                        observer: observer?.nested(in: f.name)) { read in
                try executor.plan.fetches.map { try read($0).owned(budget: state.budget) }
            }
        } catch let error as SomaError {
            throw KernelError("in \(f.description): \(error.message)", code: error.code)
        }
    }

    /// A loop's calls of one function (its condition or its body): the arenas are taken
    /// once for the whole loop rather than per call, and results stay in them rather than
    /// being copied out — two arenas taking turns, so that one call's results are the next
    /// call's arguments while it writes into the other. A result the next call would
    /// overwrite (an argument passed straight through from two calls back) is copied first.
    ///
    /// Results are valid until the next call but one, and until ``release(pooling:)``, which
    /// hands the arenas back (after the caller has copied what it keeps).
    struct LoopCalls {
        let function: GraphFunction
        private var compiled: Compiled? = nil
        /// The arenas held, `turns` at most (two fields, not an array: a loop's run
        /// allocates none for them).
        private var held: (Arena?, Arena?) = (nil, nil)
        private var turn = 0
        /// Per turn, the results its last call returned, overwritten in place by its next
        /// one — the caller holds the other turn's by then —, so iterations allocate no
        /// result arrays (an empty 10,000-step loop allocated 10,000 per run); kept by the
        /// calling step from run to run when it hands them in (``Turns``).
        private var results: [[Tensor]] = []
        /// Where `results` came from and go back to when the loop releases its calls.
        private let turnsStorage: Turns?

        /// Arenas taking turns: 2 when results become the next call's arguments, else 1.
        private let turns: Int
        /// Whether the calling kernel may use one thread only.
        private let alone: Bool

        /// The result arrays of a loop's turns (``LoopCalls``), which a step may keep from
        /// run to run; emptied, keeping their memory, when a loop releases its calls.
        final class Turns {
            var results: [[Tensor]] = []
        }

        init(_ function: GraphFunction, resultsCarried: Bool, threads: Int, turns: Turns? = nil) {
            self.function = function
            self.turnsStorage = turns
            // (Taken out of the object for the loop: a local array, not a class property
            // checked for exclusive access at each write.)
            if let turns { swap(&results, &turns.results) }
            self.turns = resultsCarried ? 2 : 1
            self.alone = threads == 1
        }

        /// The function's results for `arguments`.
        mutating func call(_ arguments: [Tensor], state: SessionState, observer: RunObserver? = nil) throws -> [Tensor] {
            try run(arguments, state: state, test: false, observer: observer).results
        }

        /// The truth (TF's `ToBool`) of the function's one result for `arguments`.
        mutating func test(_ arguments: [Tensor], state: SessionState, observer: RunObserver? = nil) throws -> Bool {
            try run(arguments, state: state, test: true, observer: observer).truth
        }

        private mutating func run(_ input: [Tensor], state: SessionState, test: Bool,
                                  observer: RunObserver?) throws -> (results: [Tensor], truth: Bool) {
            let name = function.name
            do {
                let c = try fitting(function, input, compiled)
                var arguments = input
                /// Arguments that view `arena` get storage of their own.
                func own(_ arena: Arena) throws {
                    for k in arguments.indices where arguments[k].buffer.isView && arena.contains(arguments[k].rawPointer) {
                        arguments[k] = try arguments[k].owned(budget: state.budget)
                    }
                }
                if compiled.map({ $0.executor.arenas !== c.executor.arenas }) ?? true {
                    // New shapes, a new plan: its own arenas. The old ones are let go, not
                    // pooled: a loop whose shapes change would otherwise leave an arena
                    // pooled for every shape it passed through.
                    if let arena = held.0 { try own(arena) }
                    if let arena = held.1 { try own(arena) }
                    letGoOfArenas(pooling: false)
                    compiled = c
                }
                if held.0 == nil {
                    held.0 = try c.executor.arenas.take(budget: state.budget)
                } else if held.1 == nil && turns == 2 {
                    held.1 = try c.executor.arenas.take(budget: state.budget)
                }
                turn = held.1 == nil ? 0 : 1 - turn
                let arena = (turn == 0 ? held.0 : held.1)!
                try own(arena)
                let executor = c.executor
                let fetches = executor.plan.fetches
                return try executor.execute(in: arena, feed: { arguments[c.feedArgument[$0]] }, state: state,
                                            options: alone ? FunctionCalls.alone : sequential,
                                            observer: observer) { read in
                    guard test else {
                        let slot = turn
                        while results.count <= slot { results.append([]) }
                        if results[slot].count == fetches.count {
                            for (k, fetch) in fetches.enumerated() { results[slot][k] = try read(fetch) }
                        } else {
                            // (Emptied by the last loop's release: refilled in its memory.)
                            results[slot].removeAll(keepingCapacity: true)
                            for fetch in fetches { results[slot].append(try read(fetch)) }
                        }
                        return (results[slot], true)
                    }
                    guard fetches.count == 1 else { throw KernelError("cond function '\(name)' returned \(fetches.count) values") }
                    return ([], ControlFlowKernels.truth(try read(fetches[0])))
                }
            } catch let error as SomaError {
                throw KernelError("in \(function.description): \(error.message)", code: error.code)
            }
        }

        /// Hands the arenas back to the function's pool (after a loop that finished), or
        /// lets them go (after one that failed, or whose shapes changed).
        mutating func release(pooling: Bool) {
            letGoOfArenas(pooling: pooling)
            for k in results.indices { results[k].removeAll(keepingCapacity: true) }
            if let turnsStorage { swap(&results, &turnsStorage.results) }
        }

        private mutating func letGoOfArenas(pooling: Bool) {
            func letGo(_ arena: Arena?) {
                guard let arena else { return }
                if pooling, let c = compiled { c.executor.arenas.give(arena) } else { arena.releaseViews() }
            }
            letGo(held.0)
            letGo(held.1)
            held = (nil, nil)
        }
    }
}
