import CRC32C

/// CRC-32C (Castagnoli) as LevelDB and TF checkpoints use it, with their masking.
///
/// Hardware-accelerated (SSE4.2 `crc32`, ARMv8 `crc32c*`) when the CPU has the instruction,
/// a slicing-by-8 table otherwise.
public enum CRC32C {
    /// The CRC of `bytes`.
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 { extend(0, bytes) }

    /// The CRC of the data that gave `crc`, followed by `bytes`.
    public static func extend(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return soma_crc32c_extend(crc, base.assumingMemoryBound(to: UInt8.self), bytes.count)
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { checksum($0) } }

    /// The table implementation, whatever the CPU (the reference the instruction is
    /// tested and measured against).
    public static func extendPortable(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return soma_crc32c_extend_portable(crc, base.assumingMemoryBound(to: UInt8.self), bytes.count)
    }

    /// Whether ``extend(_:_:)`` uses a CPU instruction.
    public static var usesHardware: Bool { soma_crc32c_uses_hardware() != 0 }

    /// LevelDB's mask: a CRC stored next to the data it covers is rotated and offset, so
    /// that CRCs of data holding CRCs stay meaningful.
    public static func mask(_ crc: UInt32) -> UInt32 { ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8 }

    public static func unmask(_ masked: UInt32) -> UInt32 {
        let rotated = masked &- 0xA282_EAD8
        return (rotated >> 17) | (rotated << 15)
    }
}
