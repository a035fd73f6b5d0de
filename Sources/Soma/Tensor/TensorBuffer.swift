import Foundation

/// Contiguous, 64-byte-aligned raw memory owned by one or more tensors.
///
/// A buffer is written only while its tensor is being produced (by an initialiser or a
/// kernel) and is immutable once the tensor is published, which is what makes sharing it
/// between tensors (reshapes, identities) and threads safe.
///
/// A buffer either owns its memory or is a *view* into memory owned by someone else (a
/// plan's arena, reused by the next run): views never escape a run — fetches and variable
/// assignments take ``Tensor/owned()`` copies.
@usableFromInline
final class TensorBuffer: @unchecked Sendable {
    /// Alignment of every buffer: one cache line, and enough for any SIMD width.
    static let alignment = 64

    @usableFromInline let data: UnsafeMutableRawPointer
    @usableFromInline let byteCount: Int
    /// For a view, what keeps the memory alive; `nil` when the buffer owns it.
    private let owner: AnyObject?
    /// The elements of a string tensor (`data` then holds zeros of the nominal size).
    let strings: [[UInt8]]?
    /// The elements of a variant tensor (`data` then holds zeros of the nominal size).
    /// Changed only through ``exchangeVariant(_:)``, by the one holder of the buffer (so
    /// read by every list op without an exclusivity check).
    @exclusivity(unchecked) private(set) var variants: [VariantValue]?
    /// The budget the memory was reserved from, given back on release.
    private let budget: MemoryBudget?
    /// Whether `data` came from `posix_memalign` (released with `free`, or given to the
    /// ``BufferRecycler`` when `recycledBytes` is set).
    private let fromSystem: Bool
    /// The block size `data` is kept by in ``BufferRecycler/shared`` once released.
    private let recycledBytes: Int?

    /// The buffer every empty numeric tensor made with a budget shares: nothing can be
    /// written to zero bytes, so a kernel's empty outputs (FusedBatchNormV3's
    /// `reserve_space_3`, which the planner places nowhere) cost no allocation per run.
    static let empty = TensorBuffer(byteCount: 0)

    /// Allocates `byteCount` bytes, zero-filled unless `zeroed` is false.
    init(byteCount: Int, zeroed: Bool = true) {
        self.byteCount = byteCount
        self.owner = nil
        self.budget = nil
        self.fromSystem = false
        self.recycledBytes = nil
        self.strings = nil
        self.variants = nil
        // Allocate at least one byte so that empty tensors still have a valid pointer.
        self.data = .allocate(byteCount: max(byteCount, 1), alignment: TensorBuffer.alignment)
        if zeroed { self.data.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1)) }
    }

    /// Allocates `byteCount` bytes reserved from `budget`, for memory whose size a model or
    /// a feed decides.
    ///
    /// - Throws: `ResourceExhausted` naming `what` when the budget has too little left or
    ///   the system refuses the allocation; nothing is held then.
    init(byteCount: Int, zeroed: Bool, budget: MemoryBudget, for what: @autoclosure () -> String) throws(SomaError) {
        try budget.reserve(byteCount, for: what())
        let recycler = BufferRecycler.shared, block = recycler.blockSize(byteCount)
        guard let data = block.flatMap(recycler.take(byteCount:)) ?? allocateAligned(byteCount: block ?? byteCount) else {
            budget.release(byteCount)
            throw SomaError(.resourceExhausted, "\(what()) needs \(byteCount) bytes, which the system refused to allocate")
        }
        if zeroed { data.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1)) }
        self.data = data
        self.byteCount = byteCount
        self.owner = nil
        self.budget = budget
        self.fromSystem = true
        self.recycledBytes = block
        self.strings = nil
        self.variants = nil
    }

    /// The elements of a string tensor; `extraBytes` (the strings' own bytes) and the
    /// nominal element bytes are reserved from `budget` when one is given.
    init(strings: [[UInt8]], budget: MemoryBudget?, for what: @autoclosure () -> String) throws(SomaError) {
        let nominal = strings.count * DType.string.byteSize
        let total = strings.reduce(nominal) { $0 &+ $1.count }
        if let budget { try budget.reserve(total, for: what()) }
        guard let data = allocateAligned(byteCount: nominal) else {
            budget?.release(total)
            throw SomaError(.resourceExhausted, "\(what()) needs \(nominal) bytes, which the system refused to allocate")
        }
        data.initializeMemory(as: UInt8.self, repeating: 0, count: Swift.max(nominal, 1))
        self.data = data
        self.byteCount = total
        self.owner = nil
        self.budget = budget
        self.fromSystem = true
        self.recycledBytes = nil
        self.strings = strings
        self.variants = nil
    }

    /// The elements of a variant tensor. Their tensors hold budgeted memory of their own;
    /// the buffer holds only the nominal bytes.
    init(variants: [VariantValue]) {
        let nominal = variants.count * DType.variant.byteSize
        self.data = .allocate(byteCount: Swift.max(nominal, 1), alignment: TensorBuffer.alignment)
        self.data.initializeMemory(as: UInt8.self, repeating: 0, count: Swift.max(nominal, 1))
        self.byteCount = nominal
        self.owner = nil
        self.budget = nil
        self.fromSystem = false
        self.recycledBytes = nil
        self.strings = nil
        self.variants = variants
    }

    /// A view of `byteCount` bytes at `data`, kept alive by `owner`.
    init(view data: UnsafeMutableRawPointer, byteCount: Int, owner: AnyObject) {
        self.data = data
        self.byteCount = byteCount
        self.owner = owner
        self.budget = nil
        self.fromSystem = false
        self.recycledBytes = nil
        self.strings = nil
        self.variants = nil
    }

    var isView: Bool { owner != nil }

    /// Puts `value` in place of a one-element variant buffer's element and returns the
    /// element it held — for a buffer nothing else references (a kernel's output kept
    /// from run to run, ``Arena/keptBuffer(step:slot:byteCount:budget:for:)``), so that
    /// no tensor published with it ever sees the change.
    func exchangeVariant(_ value: VariantValue) -> VariantValue {
        precondition(variants?.count == 1, "exchangeVariant on a buffer that is not one variant")
        let old = variants![0]
        variants![0] = value
        return old
    }

    deinit {
        guard owner == nil else { return }
        if let recycledBytes { BufferRecycler.shared.give(data, byteCount: recycledBytes) }
        else if fromSystem { free(data) }
        else { data.deallocate() }
        budget?.release(byteCount)
    }
}
