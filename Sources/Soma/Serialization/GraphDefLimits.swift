/// Bounds on what loading an untrusted GraphDef may cost.
///
/// Every allocation a file can cause is bounded by these: the bytes read, protobuf-c's
/// unpacked structures, and the tensors materialised from constants (a one-value
/// `float_val` can declare a shape of billions of elements).
public struct GraphDefLimits: Sendable {
    /// Largest file accepted.
    public var maxFileBytes: Int = 1 << 30
    /// Budget for protobuf-c's unpacked structures; `nil` means 64 MiB + 16 × file size.
    public var maxUnpackedBytes: Int? = nil
    /// Largest single tensor materialised from an attribute.
    public var maxTensorBytes: Int = 1 << 30
    /// Largest total of all tensors materialised from attributes.
    public var maxTotalTensorBytes: Int = 4 << 30
    /// Where the loaded graph's constants reserve their bytes, for as long as they live;
    /// `nil`: a fresh budget of ``MemoryBudget/defaultLimit`` per load. Pass the budget a
    /// session uses too (``SessionOptions/memoryBudget``) to bound a model's load and runs
    /// by one number.
    public var memoryBudget: MemoryBudget? = nil

    public init() {}

    public static let `default` = GraphDefLimits()

    func unpackBudget(forFileBytes n: Int) -> Int { maxUnpackedBytes ?? (64 << 20) + 16 * n }
}
