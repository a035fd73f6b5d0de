import Foundation
import Testing
@testable import Soma

@Suite struct BufferRecyclerTests {
    @Test func keepsWholePageBlocksAndFreesTheOldestBeyondItsCapacity() throws {
        let recycler = BufferRecycler(capacityBytes: 256 << 10)
        #expect(recycler.blockSize(BufferRecycler.minimumBytes - 1) == nil)
        #expect(recycler.blockSize(BufferRecycler.minimumBytes + 1) == BufferRecycler.minimumBytes + 4096)
        #expect(recycler.blockSize((256 << 10) + 1) == nil)

        let size = 64 << 10
        let blocks = try (0..<5).map { _ in try #require(allocateAligned(byteCount: size)) }
        for block in blocks.prefix(4) { recycler.give(block, byteCount: size) }
        #expect(recycler.keptBytes == 4 * size)
        // A fifth block goes over 256 KiB: the first one given is freed.
        recycler.give(blocks[4], byteCount: size)
        #expect(recycler.keptBytes == 4 * size)
        // The most recently freed comes back first; a size never kept, nil.
        #expect(recycler.take(byteCount: size) == blocks[4])
        #expect(recycler.take(byteCount: size) == blocks[3])
        #expect(recycler.take(byteCount: 128 << 10) == nil)
        for block in [blocks[4], blocks[3]] { recycler.give(block, byteCount: size) }
    }

    @Test func aRunsLargeFetchTakesTheMemoryThePreviousRunsGaveBack() throws {
        // An odd size, so no other test's tensors match its block.
        let count = 77_777
        let g = Graph()
        let x = try g.placeholder(.float32, shape: [count], name: "x")
        let y = try relu(x, name: "y")
        let s = Session(graph: g)
        let feed = Tensor((0..<count).map { Float($0 % 7) - 3 })
        let firstAddress: Int
        do {
            let first = try s.run(y, feeds: [x: feed])
            firstAddress = Int(bitPattern: first.rawPointer)
        }
        let second = try s.run(y, feeds: [x: feed])
        #expect(Int(bitPattern: second.rawPointer) == firstAddress)
        #expect(second.scalars(as: Float.self) == feed.scalars(as: Float.self).map { Swift.max($0, 0) })
        #expect(Int(bitPattern: second.rawPointer) % TensorBuffer.alignment == 0)
    }
}
