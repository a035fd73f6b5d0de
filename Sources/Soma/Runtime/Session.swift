import Foundation

/// Options for a ``Session``: limits, the compiler, plan caching and threads.
public struct SessionOptions: Sendable {
    /// The largest tensor a kernel may allocate; a graph that asks for more fails with
    /// `resourceExhausted` instead of exhausting memory.
    public var maxTensorBytes: Int = 1 << 32
    /// What the session's runs may hold at once — arenas, kernel outputs and scratch,
    /// fetched tensors, variable values. Exceeding it is a `ResourceExhausted` error
    /// naming the node and the bytes asked for, and the session stays usable. Share one
    /// budget with ``GraphDefLimits/memoryBudget`` to bound a model's load and runs
    /// together. Default: a budget of ``MemoryBudget/defaultLimit`` (half the physical
    /// memory) for this options value.
    public var memoryBudget = MemoryBudget()
    /// Compile each (feeds, fetches, targets, feed shapes) signature into a cached plan
    /// (the default), or run every graph with the reference executor.
    public var useCompiler = true
    /// What the compiler may do (passes to disable, folding cap).
    public var compileOptions = CompileOptions()
    /// Plans kept; the least recently used goes first.
    public var planCacheCapacity = 64
    /// Threads that run independent steps at once (0: the number of cores; under `mpirun`,
    /// this host's cores divided among its ranks).
    public var interOpThreads = 0
    /// Threads one large kernel may use (0: the number of cores; under `mpirun`, this
    /// host's cores divided among its ranks).
    public var intraOpThreads = 0
    /// Run steps one at a time in plan order. (Results never depend on thread counts —
    /// parallel kernels split work in fixed blocks — but this also fixes the order of
    /// effects not ordered by the graph.)
    public var deterministic = false
    /// Scan every float output of every step for NaN and Inf, and stop the run at the
    /// first step that produces one with an error naming its node, op, input shapes, the
    /// Swift line that created it and which inputs were already non-finite (TF's
    /// `tf.debugging.enable_check_numerics`). Steps then run one at a time in plan order,
    /// and the compiler's passes are off so that every node is its own step. Steps inside
    /// loop and function bodies are checked too; the report names the body's step inside
    /// the calling node's error.
    public var checkNumerics = false
    /// While other processes compete for the cores, run each plan on the calling thread
    /// alone (the default). Split across threads that each share a core with a competitor,
    /// a run waits at every join for whichever thread the scheduler preempted; alone it
    /// does not (see `ContentionMonitor`). Off, runs keep the pool's threads, whose idle
    /// polling still stops yielding under contention. Results are the same either way.
    public var adaptsToContention = true
    /// Run a `While` loop whose every step is one fused LSTM or GRU cell (a Keras LSTM or
    /// GRU layer) as one kernel, its steps one after another with no plan run between them (the default;
    /// see `RecurrentLoop`). Off, the loop's condition and body run as plans every step.
    /// Results are the same either way; a run that checks numerics runs the plans.
    public var fusesRecurrentLoops = true
    /// Where the contention decision comes from (tests fix it; a function's sub-plans, whose
    /// calling run decided, have none).
    var contentionMonitor: ContentionMonitor? = ContentionMonitor.shared

    public init() {}

    /// The cores a session uses by default: all of them, or under `mpirun` this host's
    /// share per rank (`OMPI_COMM_WORLD_LOCAL_SIZE` ranks on it), so that data-parallel
    /// ranks on one machine do not oversubscribe its cores.
    static let cores: Int = {
        let all = ProcessInfo.processInfo.activeProcessorCount
        guard let text = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"], let local = Int(text), local > 1 else {
            return all
        }
        return max(1, all / local)
    }()
    var resolvedInterOpThreads: Int { deterministic ? 1 : (interOpThreads > 0 ? interOpThreads : Self.cores) }
    var resolvedIntraOpThreads: Int { intraOpThreads > 0 ? intraOpThreads : Self.cores }
}

/// Runs a ``Graph``: feeds placeholders, fetches outputs, runs targets for their effects,
/// and keeps variables across runs (TF1's `tf.compat.v1.Session`).
///
/// ```swift
/// let session = Session(graph: g)
/// try session.run(target: g.globalVariablesInitializer())
/// let y = try session.run(fetches: [out], feeds: [x: batch])[0]
/// ```
///
/// Errors name the node; a failed run leaves the session usable.
///
/// Thread-safety: `run` may be called from several threads at once; variable reads and
/// writes are atomic per variable.
public final class Session: Sendable {
    public let graph: Graph
    public let options: SessionOptions
    let state: SessionState
    let executor: any Executor
    let plans: PlanCache

    public init(graph: Graph, options: SessionOptions = .init()) {
        self.graph = graph
        self.options = options
        self.state = SessionState(budget: options.memoryBudget, fusesRecurrentLoops: options.fusesRecurrentLoops)
        self.executor = ReferenceExecutor()
        self.plans = PlanCache(capacity: options.planCacheCapacity)
        _ = LinalgKernels.configureBLAS  // OpenBLAS's own spinning pool goes first.
    }

    /// Computes `fetches` (any node outputs), with `feeds` replacing the values of the
    /// outputs they key, and runs `targets` for their effects.
    ///
    /// - Throws: ``SomaError`` when a feed has the wrong dtype or shape, a needed
    ///   placeholder is not fed, a variable is read before it is initialised, or a kernel
    ///   fails; the message names the node.
    ///
    /// Errors end with the call site of the run (`in the run at Train.swift:40`), beside
    /// the node's own.
    public func run(fetches: [Output], feeds: [Output: Tensor] = [:], targets: [Node] = [],
                    file: String = #fileID, line: Int = #line) throws -> [Tensor] {
        do {
            return try run(fetches, feeds, targets, observer: RunObserver.make(trace: false, checkNumerics: options.checkNumerics))
        } catch let error as SomaError {
            throw SomaError(error.code, error.message + " (in the run at \(SourceLocation(fileID: file, line: line)))")
        }
    }

    /// Runs like ``run(fetches:feeds:targets:file:line:)`` and reports what `runOptions`
    /// asks for in `metadata` (TF's `session.run(…, options=, run_metadata=)`): with
    /// `trace`, every step's timing, thread and output bytes as ``StepStats``.
    ///
    /// ```swift
    /// var metadata = RunMetadata()
    /// let y = try session.run(fetches: [out], feeds: [x: batch], options: RunOptions(trace: true), metadata: &metadata)
    /// try metadata.stepStats.chromeTrace().write(to: URL(fileURLWithPath: "trace.json"))
    /// ```
    public func run(fetches: [Output], feeds: [Output: Tensor] = [:], targets: [Node] = [], options runOptions: RunOptions,
                    metadata: inout RunMetadata, file: String = #fileID, line: Int = #line) throws -> [Tensor] {
        let observer = RunObserver.make(trace: runOptions.trace, checkNumerics: options.checkNumerics)
        do {
            let results = try run(fetches, feeds, targets, observer: observer)
            if let observer, runOptions.trace { metadata.stepStats = observer.stepStats }
            return results
        } catch let error as SomaError {
            throw SomaError(error.code, error.message + " (in the run at \(SourceLocation(fileID: file, line: line)))")
        }
    }

    private func run(_ fetches: [Output], _ feeds: [Output: Tensor], _ targets: [Node], observer: RunObserver?) throws -> [Tensor] {
        for fetch in fetches where fetch.graph !== graph {
            throw SomaError.invalidArgument("Fetch '\(fetch.name)' is not an element of this session's graph")
        }
        for target in targets where graph.node(named: target.name) !== target {
            throw SomaError.invalidArgument("Target '\(target.name)' is not an element of this session's graph")
        }
        var fed: [NodeOutput: Tensor] = [:]
        for (output, value) in feeds {
            guard output.graph === graph else {
                throw SomaError.invalidArgument("Feed '\(output.name)' is not an element of this session's graph")
            }
            try Session.validateFeed(value, for: output.endpoint)
            fed[output.endpoint] = value
        }
        let endpoints = fetches.map(\.endpoint)
        if options.useCompiler, let compiled = try executable(fetches: endpoints, feeds: fed, targets: targets) {
            return try compiled.run(feeds: compiled.plan.feeds.map { fed[$0]! }, state: state, options: options, observer: observer)
        }
        return try executor.run(graph: graph, fetches: endpoints, feeds: fed, targets: targets, state: state, options: options,
                                observer: observer)
    }

    /// The compiled plan for this run signature (cached), or `nil` when the compiler is off.
    func executable(fetches: [NodeOutput], feeds: [NodeOutput: Tensor], targets: [Node]) throws -> PlanExecutor? {
        let key = PlanCache.Key(fetches: fetches, targets: targets.map(\.id),
                                feeds: feeds.map { ($0.key, $0.value.shape) }.sorted { $0.0.name < $1.0.name }.map { PlanCache.Feed(endpoint: $0.0, shape: $0.1) })
        if let cached = plans.lookup(key) { return cached }
        let executor = try compile(fetches: fetches, feeds: feeds, targets: targets)
        plans.insert(key, executor)
        return executor
    }

    /// A fresh plan for this run signature, or `nil` when the compiler is off.
    func compile(fetches: [NodeOutput], feeds: [NodeOutput: Tensor], targets: [Node],
                 fetchesInArena: Bool = false) throws -> PlanExecutor? {
        guard options.useCompiler else { return nil }
        var compileOptions = options.compileOptions
        compileOptions.maxTensorBytes = options.maxTensorBytes
        compileOptions.fetchesInArena = fetchesInArena
        // The NaN/Inf debugger reports the user's nodes: nothing is fused or rewritten away.
        if options.checkNumerics { compileOptions.disabledPasses.formUnion(Passes.all) }
        let plan = try Compiler.plan(graph: graph, fetches: fetches, targets: targets, feeds: feeds.mapValues(\.shape),
                                     options: compileOptions)
        return PlanExecutor(plan: plan)
    }

    /// The plan a run with these fetches, feeds and targets executes (for inspection).
    public func plan(fetches: [Output], feeds: [Output: Tensor] = [:], targets: [Node] = []) throws -> Plan? {
        var fed: [NodeOutput: Tensor] = [:]
        for (output, value) in feeds { fed[output.endpoint] = value }
        return try executable(fetches: fetches.map(\.endpoint), feeds: fed, targets: targets)?.plan
    }

    /// Computes one output.
    public func run(_ fetch: Output, feeds: [Output: Tensor] = [:], file: String = #fileID, line: Int = #line) throws -> Tensor {
        try run(fetches: [fetch], feeds: feeds, file: file, line: line)[0]
    }

    /// Runs `target` for its effects (an initializer, a training step).
    public func run(target: Node, feeds: [Output: Tensor] = [:], file: String = #fileID, line: Int = #line) throws {
        _ = try run(fetches: [], feeds: feeds, targets: [target], file: file, line: line)
    }

    /// A feed must have the output's dtype and a shape compatible with its partial shape.
    static func validateFeed(_ value: Tensor, for output: NodeOutput) throws {
        try validateFeed(value, for: output, declared: declaredFeedShape(output))
    }

    /// The shape a value fed to `output` must be compatible with: a placeholder's `shape`
    /// attribute, else the output's inferred shape.
    static func declaredFeedShape(_ output: NodeOutput) -> TensorShape {
        let node = output.node
        return node.op == "Placeholder" ? (node.shape("shape") ?? output.shape) : output.shape
    }

    /// ``validateFeed(_:for:)`` against a declared shape found once (a callable's feeds).
    static func validateFeed(_ value: Tensor, for output: NodeOutput, declared: TensorShape) throws {
        let node = output.node
        guard value.dtype == output.dtype else {
            throw SomaError.invalidArgument(
                "Cannot feed value of dtype \(value.dtype) for '\(output.name)', which has dtype \(output.dtype)\(node.locationSuffix)")
        }
        guard declared.isCompatible(with: value.shape) else {
            throw SomaError.invalidArgument(
                "Cannot feed value of shape \(shapeString(value.shape)) for '\(output.name)', which has shape \(declared)\(node.locationSuffix)")
        }
    }
}

extension Session {
    /// The per-run observer ``SessionOptions/checkNumerics`` needs, or `nil`.
    func numericsObserver() -> RunObserver? {
        options.checkNumerics ? RunObserver(trace: false, checkNumerics: true) : nil
    }
}
