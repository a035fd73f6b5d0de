import Foundation

/// One block of 64-byte-aligned memory holding a plan's intermediate tensors for one run.
///
/// Thread-safety: one run uses an arena at a time (the pool hands it out), so its view
/// cache needs no lock; kernels of a parallel run each touch their own offsets only
/// through `view`, which is guarded.
final class Arena: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let byteCount: Int
    /// Buffer objects for planned slots, made once and reused by every run, so placing an
    /// output in the arena allocates nothing. Each view keeps the arena alive, so the
    /// cache is a cycle that ``ArenaPool`` breaks (``releaseViews()``) when it lets an
    /// arena go.
    private var views: [SIMD2<Int>: TensorBuffer] = [:]
    private let lock = NSLock()
    /// Views of the plan's slots, made when the arena is: read without the lock, since
    /// nothing changes them while the arena is in use.
    private var planned: [SIMD2<Int>: TensorBuffer] = [:]

    /// Views of the caller's tensors for the plan's fetches (``Session/Callable/run(_:into:)``),
    /// valid while ``isSupplied``: a kernel output with a ``Plan/Step/fetchSlots`` entry is
    /// written there instead of its slot. Views, as the arena's slots are, so that whatever
    /// keeps such a value beyond the run (a variable, a list) takes a copy. Kept from run to
    /// run — a callable given the same tensors again allocates nothing — they hold the last
    /// tensors supplied, one set per arena.
    private(set) var suppliedViews: [TensorBuffer?] = []
    private(set) var isSupplied = false

    /// Makes `outputs` the run's supplied fetch tensors (before the run, on its calling thread).
    func supply(_ outputs: UnsafeBufferPointer<Tensor>) {
        if suppliedViews.count != outputs.count { suppliedViews = Array(repeating: nil, count: outputs.count) }
        for (f, tensor) in outputs.enumerated() {
            if let view = suppliedViews[f], view.data == tensor.rawPointer, view.byteCount == tensor.byteCount { continue }
            suppliedViews[f] = TensorBuffer(view: tensor.rawPointer, byteCount: tensor.byteCount, owner: tensor.buffer)
        }
        isSupplied = true
    }

    /// Ends the supplied tensors' use by a run (the views stay for the next).
    func endSupply() { isSupplied = false }

    /// The budget the arena's bytes are reserved from, for as long as the arena lives.
    private let budget: MemoryBudget

    /// An arena of `byteCount` bytes reserved from `budget`.
    /// - Throws: `ResourceExhausted` when the budget or the system refuses the bytes.
    init(byteCount: Int, budget: MemoryBudget, slots: [SIMD2<Int>] = []) throws(SomaError) {
        try budget.reserve(byteCount, for: "OOM when allocating the plan's \(byteCount)-byte arena")
        guard let base = allocateAligned(byteCount: byteCount) else {
            budget.release(byteCount)
            throw SomaError(.resourceExhausted, "OOM when allocating the plan's \(byteCount)-byte arena: the system refused")
        }
        self.byteCount = byteCount
        self.base = base
        self.budget = budget
        for slot in slots where slot[0] >= 0 && slot[1] >= 0 && slot[0] <= byteCount - slot[1] {
            planned[slot] = TensorBuffer(view: base + slot[0], byteCount: slot[1], owner: self)
        }
    }

    /// Whether `pointer` points into this arena.
    func contains(_ pointer: UnsafeRawPointer) -> Bool {
        pointer >= UnsafeRawPointer(base) && pointer < UnsafeRawPointer(base + byteCount)
    }

    /// The buffer viewing `bytes` at `offset`.
    func view(at offset: Int, bytes: Int) -> TensorBuffer {
        let key = SIMD2(offset, bytes)
        if let cached = planned[key] { return cached }
        lock.lock()
        defer { lock.unlock() }
        if let cached = views[key] { return cached }
        let buffer = TensorBuffer(view: base + offset, byteCount: bytes, owner: self)
        views[key] = buffer
        return buffer
    }

    /// Drops the cached views, so the arena is freed once no tensor views it any more.
    func releaseViews() {
        let dropped = lock.withLock { () -> ([SIMD2<Int>: TensorBuffer], [KeptKey: TensorBuffer]) in
            defer { (views, kept) = ([:], [:]) }
            return (views, kept)
        }
        _ = dropped  // released here, outside the lock
        planned = [:]  // (the arena is out of use: no run reads it)
    }

    /// Memory kernels keep from one run of this arena to the next (a recurrent loop's state
    /// buffers), by step and slot.
    private var kept: [KeptKey: TensorBuffer] = [:]

    private struct KeptKey: Hashable {
        let step: ObjectIdentifier
        let slot: Int
    }

    /// `byteCount` bytes of memory of their own that step `step` keeps as its slot `slot`:
    /// the buffer the last run kept there when nothing else holds it any more (the tensors
    /// made from it last time are gone), else a fresh one reserved from `budget` (not
    /// zeroed), kept in its place. A steady-state run allocates nothing here; a run whose
    /// caller still holds last run's output gets new memory, never that output's.
    func keptBuffer(step: ObjectIdentifier, slot: Int, byteCount: Int, budget: MemoryBudget,
                    for what: @autoclosure () -> String) throws(SomaError) -> TensorBuffer {
        let key = KeptKey(step: step, slot: slot)
        lock.lock()
        defer { lock.unlock() }
        if var buffer = kept.removeValue(forKey: key), buffer.byteCount == byteCount, isKnownUniquelyReferenced(&buffer) {
            kept[key] = buffer
            return buffer
        }
        let buffer = byteCount == 0 ? TensorBuffer.empty : try TensorBuffer(byteCount: byteCount, zeroed: false, budget: budget, for: what())
        kept[key] = buffer
        return buffer
    }

    /// The run's value table (one slot per plan value, all `nil`), kept with the arena so
    /// a run that takes this arena allocates no table. The caller clears it after the run.
    func valueTable(count: Int) -> UnsafeMutablePointer<Tensor?> {
        if let table = values, valueCount == count { return table }
        if let table = values {
            table.deinitialize(count: valueCount)
            table.deallocate()
        }
        let table = UnsafeMutablePointer<Tensor?>.allocate(capacity: count)
        table.initialize(repeating: nil, count: count)
        values = table
        valueCount = count
        return table
    }

    private var values: UnsafeMutablePointer<Tensor?>? = nil
    private var valueCount = 0

    /// The parallel runner of the plan this arena serves, made on its first parallel run.
    var parallelRun: ParallelPlanRun? = nil

    deinit {
        if let values {
            values.deinitialize(count: valueCount)
            values.deallocate()
        }
        free(base)
        budget.release(byteCount)
    }
}

/// Arenas kept between runs, so a steady-state run allocates none.
///
/// Thread-safety: concurrent runs each take their own arena.
final class ArenaPool: Sendable {
    private let free = Locked<[Arena]>([])
    let byteCount: Int
    /// The (offset, bytes) of the plan's slots, whose views each arena makes up front.
    let slots: [SIMD2<Int>]

    init(byteCount: Int, slots: [SIMD2<Int>] = []) {
        self.byteCount = byteCount
        self.slots = slots
    }

    /// A pooled arena, or a new one reserved from `budget`.
    func take(budget: MemoryBudget) throws(SomaError) -> Arena {
        if let pooled = free.withLock({ $0.popLast() }) { return pooled }
        return try Arena(byteCount: byteCount, budget: budget, slots: slots)
    }

    /// Returns an arena; keeps at most a few (one per concurrent run seen, up to 8).
    func give(_ arena: Arena) {
        let kept = free.withLock { pooled -> Bool in
            guard pooled.count < 8 else { return false }
            pooled.append(arena)
            return true
        }
        if !kept { arena.releaseViews() }
    }

    deinit {
        for arena in free.withLock({ $0 }) { arena.releaseViews() }
    }
}
