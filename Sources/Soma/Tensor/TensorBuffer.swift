import Foundation

/// Contiguous, 64-byte-aligned raw memory owned by one or more tensors.
///
/// A buffer is written only while its tensor is being produced (by an initialiser or a
/// kernel) and is immutable once the tensor is published, which is what makes sharing it
/// between tensors (reshapes, identities) and threads safe.
@usableFromInline
final class TensorBuffer: @unchecked Sendable {
    /// Alignment of every buffer: one cache line, and enough for any SIMD width.
    static let alignment = 64

    @usableFromInline let data: UnsafeMutableRawPointer
    @usableFromInline let byteCount: Int

    /// Allocates `byteCount` bytes, zero-filled.
    init(byteCount: Int) {
        self.byteCount = byteCount
        // Allocate at least one byte so that empty tensors still have a valid pointer.
        self.data = .allocate(byteCount: max(byteCount, 1), alignment: TensorBuffer.alignment)
        self.data.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1))
    }

    deinit { data.deallocate() }
}
