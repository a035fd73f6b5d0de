import Foundation

/// A failure inside a kernel, in TF's wording; the executor adds the node, op, input
/// shapes and call site.
struct KernelError: Error {
    let message: String
    let code: SomaError.Code
    init(_ message: String, code: SomaError.Code = .invalidArgument) {
        self.message = message
        self.code = code
    }

    /// A budget or allocation failure, keeping its code and wording.
    init(_ error: SomaError) { self.init(error.message, code: error.code) }
}

/// What a CPU kernel sees when it runs one node.
///
/// The executor has already run the op's shape function on the concrete inputs, so
/// `outputShapes` are exact — except for the few ops whose output is not a function of
/// their inputs' shapes and values (a placeholder's default can be overridden by a feed),
/// where the shape stays `nil` and the kernel's output is checked against the partial shape.
///
/// Inputs and output slots are borrowed from the executor for the duration of the call
/// (stack memory on the hot path): a kernel reads `inputs`, fills every output with
/// ``setOutput(_:_:)`` and keeps neither.
struct KernelContext {
    let node: KernelNode
    let inputs: UnsafeBufferPointer<Tensor>
    let outputShapes: [[Int]?]
    /// The session's state, the arena and the observer are borrowed like the inputs: the
    /// executor holds them for the call, so the context takes no reference counts on them.
    unowned(unsafe) let state: SessionState
    /// Where the kernel puts its `node.outputCount` results (initialised to `nil`).
    let outputSlots: UnsafeMutablePointer<Tensor?>
    /// Where a plan placed the outputs: the arena, and each output's offset in it (`nil`
    /// for outputs with storage of their own).
    unowned(unsafe) var arena: Arena? = nil
    var outputOffsets: [Int?] = []
    /// For each output, the fetch whose caller-supplied tensor (``Arena/suppliedViews``)
    /// it is written to, when the run has them (``Plan/Step/fetchSlots``).
    var fetchSlots: [Int?] = []
    /// Threads the kernel may use for its own work (intra-op), through `parallelFor`.
    var threads = 1
    /// The run's tracer or numerics check, for the bodies a control-flow kernel runs.
    unowned(unsafe) var observer: RunObserver? = nil

    /// Sets output `i`.
    func setOutput(_ i: Int, _ tensor: Tensor) { outputSlots[i] = tensor }

    /// Sets outputs `0..<tensors.count`.
    func setOutputs(_ tensors: [Tensor]) {
        for (i, t) in tensors.enumerated() { outputSlots[i] = t }
    }

    /// Runs `body(state, lo, hi)` over `0..<count` in fixed blocks of `blockSize` on up to
    /// ``threads`` threads; inline, as `0..<count`, when there is one block or one thread.
    /// Bitwise identical results for any thread count when each block's work depends only
    /// on its range.
    ///
    /// `body` must capture nothing — what it needs comes in `state`, on the caller's stack
    /// while it runs — so that lending it to the helper threads allocates nothing
    /// (``ParallelFor``).
    func parallelFor<State>(_ count: Int, blockSize: Int, sharing state: State,
                            _ body: @escaping (State, Int, Int) -> Void) {
        ParallelFor.run(count: count, blockSize: blockSize, threads: threads, sharing: state, body)
    }

    /// Calls `body` with a context for `node` whose inputs and output slots live in
    /// temporary (stack) memory — or, for more inputs than the stack takes
    /// (``stackInputBytes``), in reusable ``SharedScratch``: a 64-input fused sum otherwise
    /// allocated its inputs on every run.
    ///
    /// - Throws: ``SomaError`` (internal) when the kernel left an output unset.
    static func withContext<R>(node: KernelNode, inputCount: Int, readInput: (Int) throws -> Tensor,
                               _ body: (UnsafeBufferPointer<Tensor>, UnsafeMutablePointer<Tensor?>) throws -> R) throws -> R {
        func run(_ inputs: UnsafeMutableBufferPointer<Tensor>) throws -> R {
            var initialised = 0
            defer { inputs.baseAddress.map { _ = $0.deinitialize(count: initialised) } }
            for k in 0..<inputCount {
                (inputs.baseAddress! + k).initialize(to: try readInput(k))
                initialised += 1
            }
            return try withUnsafeTemporaryAllocation(of: Tensor?.self, capacity: Swift.max(node.outputCount, 1)) { slots in
                let base = slots.baseAddress!
                base.initialize(repeating: nil, count: slots.count)
                defer { base.deinitialize(count: slots.count) }
                return try body(UnsafeBufferPointer(inputs), base)
            }
        }
        let bytes = inputCount * MemoryLayout<Tensor>.stride  // a node's inputs, all held in memory: no overflow
        guard bytes > stackInputBytes else { return try withUnsafeTemporaryAllocation(of: Tensor.self, capacity: inputCount, run) }
        return try SharedScratch.withScratch(bytes: bytes) { raw in
            try run(UnsafeMutableBufferPointer(start: raw.bindMemory(to: Tensor.self, capacity: inputCount), count: inputCount))
        }
    }

    /// The most bytes of inputs ``withContext(node:inputCount:readInput:_:)`` keeps on the
    /// stack: Swift's temporary allocations move to the heap above 1 KiB.
    static let stackInputBytes = 1024

    /// The tensor output `i` is written into: the caller's own tensor for a fetch it
    /// supplied (``fetchSlots``), in the plan's arena when it placed it there, otherwise
    /// freshly allocated. Zero-filled unless `zeroed` is false — kernels that
    /// write every element pass false, and must for ops the planner may run in place
    /// (`.elementwise`), whose output may share an input's buffer.
    ///
    /// Fresh memory is reserved from the session's ``MemoryBudget``.
    /// - Throws: `ResourceExhausted` when the budget or the system refuses the bytes.
    func allocateOutput(_ i: Int, zeroed: Bool = true) throws -> Tensor {
        guard let shape = outputShapes[i] else { throw SomaError(.internal, "output \(i) of \(node) has no concrete shape") }
        let dtype = node.outputTypes[i]
        if let arena, arena.isSupplied, i < fetchSlots.count, let f = fetchSlots[i], let view = arena.suppliedViews[f],
           view.byteCount == shape.reduce(1, *) * dtype.byteSize {
            if zeroed { memset(view.data, 0, view.byteCount) }
            return Tensor(dtype: dtype, shape: shape, buffer: view)
        }
        if let arena, i < outputOffsets.count, let offset = outputOffsets[i] {
            let bytes = shape.reduce(1, *) * dtype.byteSize
            let buffer = arena.view(at: offset, bytes: bytes)
            if zeroed { memset(buffer.data, 0, bytes) }
            return Tensor(dtype: dtype, shape: shape, buffer: buffer)
        }
        // Storage of its own (a value a list adopts, a fetch): last run's, once nothing holds it.
        if arena != nil, dtype.isPlain {
            let t = try keptTensor(Self.ownedOutputSlot + i, dtype: dtype, shape: shape,
                                   "OOM when allocating output \(i) with shape\(shapeString(shape)) and type \(dtype.name)")
            if zeroed { memset(t.rawPointer, 0, t.byteCount) }
            return t
        }
        do {
            return try Tensor(dtype: dtype, shape: shape, zeroed: zeroed, budget: state.budget,
                              for: "OOM when allocating output \(i) with shape\(shapeString(shape)) and type \(dtype.name)")
        } catch {
            throw KernelError(error)
        }
    }

    /// ``keptTensor(_:dtype:shape:_:)`` slots from here on are outputs' own storage.
    private static let ownedOutputSlot = 1 << 20

    /// A tensor of `shape` with memory of its own that this step keeps from run to run
    /// (``Arena/keptBuffer(step:slot:byteCount:budget:for:)``; `slot` tells a step's
    /// tensors apart): last run's memory when nothing holds it any more, else fresh
    /// (without an arena, always fresh). Not zeroed. For state a kernel replaces in full on
    /// every run — a loop's turn buffers — that may leave the step as its output.
    func keptTensor(_ slot: Int, dtype: DType, shape: [Int], _ what: @autoclosure () -> String) throws -> Tensor {
        do {
            guard let arena else {
                return try Tensor(dtype: dtype, shape: shape, zeroed: false, budget: state.budget, for: what())
            }
            guard let count = checkedProduct(shape), let bytes = checkedProduct(count, dtype.byteSize) else {
                throw SomaError(.resourceExhausted, "\(what()): a tensor of shape \(shapeString(shape)) is too large")
            }
            let buffer = try arena.keptBuffer(step: node.identity, slot: slot, byteCount: bytes, budget: state.budget, for: what())
            return Tensor(dtype: dtype, shape: shape, buffer: buffer)
        } catch let error as SomaError {
            throw KernelError(error)
        }
    }

    /// The variant output this step keeps as its slot `slot` from run to run, with the list
    /// it held last run taken out (``KeptList/previous``, once nothing else holds it: its
    /// arrays can be refilled in place); ``KeptList/publish(_:)`` puts this run's list in.
    /// Without an arena, a fresh buffer each time.
    func keptList(_ slot: Int) -> KeptList {
        guard let arena else { return KeptList(buffer: TensorBuffer(variants: [.optional(nil)]), previous: nil) }
        let buffer = arena.keptVariantBuffer(step: node.identity, slot: -1 - slot)
        guard case .list(let previous) = buffer.exchangeVariant(.optional(nil)) else { return KeptList(buffer: buffer, previous: nil) }
        return KeptList(buffer: buffer, previous: previous)
    }

    /// Sets output `k` to the list `make` returns; `make` is handed the list the output held
    /// last run (``keptList(_:)``), to rebuild in its memory.
    func setListOutput(_ k: Int, _ make: (inout TensorList?) throws -> TensorList) rethrows {
        var kept = keptList(k)
        // (Made before `kept.publish` is named: reading `kept` for the call first would hold
        // last run's list, and its arrays would be copied rather than refilled.)
        let list = try make(&kept.previous)
        setOutput(k, kept.publish(list))
    }

    /// An object this step keeps as its slot `slot` from run to run (`make()`'s the first
    /// time, or without an arena): the step is its one user while it runs.
    func keptObject<T: AnyObject>(_ slot: Int, _ make: () -> T) -> T {
        guard let arena else { return make() }
        return arena.keptObject(step: node.identity, slot: slot, make: make)
    }

    /// `t` with storage of its own (a copy of arena memory), reserved from the budget.
    func owned(_ t: Tensor) throws -> Tensor {
        do { return try t.owned(budget: state.budget) } catch { throw KernelError(error) }
    }

    /// Stores a copy of `value` as variable `key`'s value (``SessionState/assignCopy(_:_:)``:
    /// in place when nothing else holds the old one) and returns what was stored.
    func assignCopy(_ key: String, _ value: Tensor) throws -> Tensor {
        do { return try state.assignCopy(key, value) } catch let error as SomaError { throw KernelError(error) }
    }

    /// Runs `body` with `bytes` of kernel scratch reserved from the session's budget
    /// (`what` names the scratch in the error: "im2col patches").
    func withScratchReserved<R>(_ bytes: Int, _ what: String, _ body: () throws -> R) throws -> R {
        do {
            try state.budget.reserve(bytes, for: "OOM when allocating \(what)")
        } catch {
            throw KernelError(error)
        }
        defer { state.budget.release(bytes) }
        return try body()
    }

    /// Input `i` viewed with output `o`'s shape, without copying (reshapes, identities).
    func forward(_ i: Int, as o: Int = 0) -> Tensor { inputs[i].reshaped(to: outputShapes[o] ?? inputs[i].shape) }

    /// The session key of the variable behind ref input `i`.
    func variableKey(ofInput i: Int) throws -> String {
        guard let key = node.inputVariableKeys[i] else { throw KernelError("Input \(i) must be a variable (a ref), not a value") }
        return key
    }
}

/// What a kernel knows of the node it runs: name, op, attributes, output dtypes, call
/// site, and which inputs are variables. Built once per node by executors and plans.
///
/// The fields live in one immutable box, so the context each step makes copies one
/// reference rather than a dozen (setting a prepared field makes a new box).
struct KernelNode: Sendable, AttributeBearing, CustomStringConvertible {
    private struct Fields: Sendable {
        let name: String
        let op: String
        let attrs: [String: AttrValue]
        let outputTypes: [DType]
        let location: SourceLocation?
        let inputVariableKeys: [String?]
        var program: ElementwiseProgram? = nil
        var stridedRead: ArrayKernels.StridedRead? = nil
        var reductionLayout: ReductionLayout? = nil
        var convGeometry: ConvKernels.Geometry? = nil
        var einsumLayout: EinsumLayout? = nil
        var transposedProduct: LinalgKernels.TransposedProduct? = nil
        var weightPanels = false
        var winogradTile = 0
    }

    private final class Box: Sendable {
        let fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private var box: Box

    /// A field a plan prepares; setting it makes a new box.
    private subscript<T>(prepared field: WritableKeyPath<Fields, T>) -> T {
        get { box.fields[keyPath: field] }
        set {
            var fields = box.fields
            fields[keyPath: field] = newValue
            box = Box(fields)
        }
    }

    /// The node's identity within its plan: the same for every run of the plan.
    var identity: ObjectIdentifier { ObjectIdentifier(box) }
    var name: String { box.fields.name }
    var op: String { box.fields.op }
    var attrs: [String: AttrValue] { box.fields.attrs }
    var outputTypes: [DType] { box.fields.outputTypes }
    var location: SourceLocation? { box.fields.location }
    /// For each input, the session key of the variable it reads, if it reads one.
    var inputVariableKeys: [String?] { box.fields.inputVariableKeys }
    /// For `_SomaFusedElementwise`: its program, decoded once when the node is prepared.
    var program: ElementwiseProgram? { get { self[prepared: \.program] } set { self[prepared: \.program] = newValue } }
    /// For a `StridedSlice` (or `Slice`) whose input shape and begin/end/strides a plan fixes: the
    /// element walk, worked out once when the plan is built.
    var stridedRead: ArrayKernels.StridedRead? {
        get { self[prepared: \.stridedRead] } set { self[prepared: \.stridedRead] = newValue }
    }
    /// For a reduction whose input shape and axes a plan fixes: its merged layout.
    var reductionLayout: ReductionLayout? {
        get { self[prepared: \.reductionLayout] } set { self[prepared: \.reductionLayout] = newValue }
    }
    /// For a convolution or pooling whose shapes a plan fixes: its window geometry.
    var convGeometry: ConvKernels.Geometry? {
        get { self[prepared: \.convGeometry] } set { self[prepared: \.convGeometry] = newValue }
    }

    /// For an Einsum whose operand shapes a plan fixes: its parsed equation and GEMM layout.
    var einsumLayout: EinsumLayout? {
        get { self[prepared: \.einsumLayout] } set { self[prepared: \.einsumLayout] = newValue }
    }

    /// For a `_SomaFusedBatchMatMul` whose output shape a plan fixes: where each batch's
    /// product lies in the output.
    var transposedProduct: LinalgKernels.TransposedProduct? {
        get { self[prepared: \.transposedProduct] } set { self[prepared: \.transposedProduct] = newValue }
    }

    /// Whether input 1 is a constant in ``BlockedGEMM`` panels (``IRNode/weightPanels``).
    var weightPanels: Bool {
        get { self[prepared: \.weightPanels] } set { self[prepared: \.weightPanels] = newValue }
    }

    /// The output tile's side where input 1 is a filter transformed for Winograd tiles, else 0
    /// (``IRNode/winogradTile``).
    var winogradTile: Int {
        get { self[prepared: \.winogradTile] } set { self[prepared: \.winogradTile] = newValue }
    }

    /// Whether input 1 is a filter transformed for Winograd tiles.
    var winogradFilter: Bool { winogradTile > 0 }

    init(name: String, op: String, attrs: [String: AttrValue], outputTypes: [DType], location: SourceLocation?,
         inputVariableKeys: [String?]) {
        box = Box(Fields(name: name, op: op, attrs: attrs, outputTypes: outputTypes, location: location,
                         inputVariableKeys: inputVariableKeys))
    }

    init(_ node: Node) {
        self.init(name: node.name, op: node.op, attrs: node.attrs, outputTypes: node.outputTypes, location: node.location,
                  inputVariableKeys: node.inputs.map {
                      let source = $0.throughIdentities.node
                      return source.definition.traits.contains(.variable) ? source.variableKey : nil
                  })
    }

    var outputCount: Int { outputTypes.count }
    var locationSuffix: String { location.map { " (created at \($0))" } ?? "" }
    var description: String { "'\(name)' (op: '\(op)')" }
}

/// A CPU kernel: fills the outputs of one node from its inputs.
///
/// It reads `ctx.inputs` and sets every output with `ctx.setOutput`.
typealias CPUKernel = @Sendable (KernelContext) throws -> Void

extension Node {
    /// The key under which a `VariableV2` node's value lives in a session: its
    /// `shared_name`, or its node name.
    var variableKey: String { Soma.variableKey(name: name, attrs: attrs) }
}

/// A variable's session key: its `shared_name`, or its node name.
func variableKey(name: String, attrs: [String: AttrValue]) -> String {
    if case .string(let shared)? = attrs["shared_name"], !shared.isEmpty { return shared }
    return name
}

/// A step's kept variant output (``KernelContext/keptList(_:)``): last run's list, taken
/// out, and the buffer this run's goes into.
struct KeptList {
    let buffer: TensorBuffer
    /// Last run's list, if any; take it (set this to `nil`) before changing it, so that its
    /// arrays are not shared.
    var previous: TensorList?

    /// A scalar variant tensor holding `list`, in the kept buffer.
    func publish(_ list: TensorList) -> Tensor {
        _ = buffer.exchangeVariant(.list(list))
        return Tensor(dtype: .variant, shape: [], buffer: buffer)
    }
}
