/// TensorFlow's `VersionDef` for a graph: which GraphDef version produced it and which
/// consumers may read it.
public struct GraphVersions: Sendable, Equatable {
    /// The GraphDef version of the producer. Soma writes the version of the TensorFlow
    /// release its interop tests ran against (TF 2.21: 2474).
    public var producer: Int32
    public var minConsumer: Int32
    public var badConsumers: [Int32]

    public static let soma = GraphVersions(producer: 2474, minConsumer: 0, badConsumers: [])

    public init(producer: Int32 = GraphVersions.soma.producer, minConsumer: Int32 = 0, badConsumers: [Int32] = []) {
        self.producer = producer
        self.minConsumer = minConsumer
        self.badConsumers = badConsumers
    }
}

/// A protobuf field kept verbatim: its tag, wire type and payload bytes.
struct UnknownField: Sendable, Equatable {
    let fieldNumber: UInt32
    let wireType: UInt32
    let data: [UInt8]
}

/// Protobuf fields of a loaded GraphDef that Soma does not model (`library`, NodeDef's
/// `experimental_debug_info`, …), kept so that saving writes them back.
struct PreservedFields: Sendable, Equatable {
    var graph: [UnknownField] = []
    var nodes: [String: [UnknownField]] = [:]
}
