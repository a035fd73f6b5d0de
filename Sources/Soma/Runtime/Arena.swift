import Foundation
import Synchronization

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
        let dropped = lock.withLock { () -> ([SIMD2<Int>: TensorBuffer], [KeptKey: TensorBuffer], [KeptKey: AnyObject]) in
            defer { (views, kept, keptObjects, keptLists) = ([:], [:], [:], []) }
            return (views, kept, keptObjects)
        }
        _ = dropped  // released here, outside the lock
        planned = [:]  // (the arena is out of use: no run reads it)
    }

    /// Memory kernels keep from one run of this arena to the next (a recurrent loop's state
    /// buffers, a list op's variant output), by step and slot; and other objects
    /// (``keptObject(step:slot:make:)``).
    private var kept: [KeptKey: TensorBuffer] = [:]
    private var keptObjects: [KeptKey: AnyObject] = [:]

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

    /// A one-element variant buffer (holding `.optional(nil)` when fresh) that step `step`
    /// keeps as its slot `slot`, on the terms of ``keptBuffer(step:slot:byteCount:budget:for:)``:
    /// a kernel may ``TensorBuffer/exchangeVariant(_:)`` it — take last run's value out to
    /// reuse its arrays, put this run's in — before publishing it.
    func keptVariantBuffer(step: ObjectIdentifier, slot: Int) -> TensorBuffer {
        let key = KeptKey(step: step, slot: slot)
        lock.lock()
        defer { lock.unlock() }
        if var buffer = kept.removeValue(forKey: key), buffer.variants?.count == 1, isKnownUniquelyReferenced(&buffer) {
            kept[key] = buffer
            return buffer
        }
        let buffer = TensorBuffer(variants: [.optional(nil)])
        kept[key] = buffer
        keptLists.insert(key)
        return buffer
    }

    /// The keys of ``kept`` that hold variant buffers. (Read at the end of every run — each
    /// loop iteration's — and written under the lock while one run uses the arena: no
    /// exclusivity check at each read.)
    @exclusivity(unchecked) private var keptLists: Set<KeptKey> = []

    /// Ends a run (its values released): each kept list that nothing else holds lets go of
    /// its elements, keeping its arrays' memory — so what they held (the product whose rows
    /// a `TensorListFromTensor` read, a loop's last state) is free for the next run's steps,
    /// which come before the list op that would let go of it. Nothing to do, and no lock
    /// taken, for an arena whose steps keep no lists.
    func endRun() {
        guard !keptLists.isEmpty else { return }
        lock.lock()
        defer { lock.unlock() }
        for key in keptLists {
            guard var buffer = kept.removeValue(forKey: key) else { continue }
            if isKnownUniquelyReferenced(&buffer), case .list(var list) = buffer.exchangeVariant(.optional(nil)) {
                list.reset(count: 0, elementShape: list.elementShape, maxElements: list.maxElements)
                _ = buffer.exchangeVariant(.list(list))
            }
            kept[key] = buffer
        }
    }

    /// An object step `step` keeps as its slot `slot` from run to run (`make()`'s the first
    /// time); the caller is the only one to use it while the step runs.
    func keptObject<T: AnyObject>(step: ObjectIdentifier, slot: Int, make: () -> T) -> T {
        let key = KeptKey(step: step, slot: slot)
        lock.lock()
        defer { lock.unlock() }
        if let object = keptObjects[key] as? T { return object }
        let object = make()
        keptObjects[key] = object
        return object
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
/// The arena given back last waits in an atomic slot, so that runs one after another (a
/// callable run over and over) pass it on without the lock; arenas of concurrent runs go to
/// a locked list. Thread-safety: concurrent runs each take their own arena.
final class ArenaPool: Sendable {
    private let last = Atomic<Unmanaged<Arena>?>(nil)
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
        if let recent = last.exchange(nil, ordering: .acquiring) { return recent.takeRetainedValue() }
        if let pooled = free.withLock({ $0.popLast() }) { return pooled }
        return try Arena(byteCount: byteCount, budget: budget, slots: slots)
    }

    /// Returns an arena; keeps at most a few (one per concurrent run seen, up to 8 with the
    /// one in the slot).
    func give(_ arena: Arena) {
        let retained = Unmanaged.passRetained(arena)
        if last.compareExchange(expected: nil, desired: retained, ordering: .releasing).exchanged { return }
        retained.release()
        let kept = free.withLock { pooled -> Bool in
            guard pooled.count < 7 else { return false }
            pooled.append(arena)
            return true
        }
        if !kept { arena.releaseViews() }
    }

    deinit {
        if let recent = last.exchange(nil, ordering: .acquiring) { recent.takeRetainedValue().releaseViews() }
        for arena in free.withLock({ $0 }) { arena.releaseViews() }
    }
}
