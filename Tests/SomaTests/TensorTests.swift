import Testing
@testable import Soma

@Suite struct TensorTests {
    @Test func dtypeRawValuesAreTensorFlowDataTypes() {
        #expect(DType.float32.rawValue == 1)
        #expect(DType.float64.rawValue == 2)
        #expect(DType.int32.rawValue == 3)
        #expect(DType.uint8.rawValue == 4)
        #expect(DType.int64.rawValue == 9)
        #expect(DType.bool.rawValue == 10)
        #expect(DType.float32.tfName == "DT_FLOAT")
        #expect(DType.string.rawValue == 7)
        #expect(DType.resource.rawValue == 20)
        #expect(DType.all.map(\.byteSize) == [4, 8, 4, 8, 1, 1])
    }

    @Test func initialisersCheckTheShape() throws {
        let t = try Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        #expect(t.shape == [2, 3])
        #expect(t.scalarCount == 6)
        #expect(t.scalars(as: Float.self) == [1, 2, 3, 4, 5, 6])
        #expect(throws: SomaError.self) { try Tensor([1, 2, 3] as [Float], shape: [2, 2]) }
        #expect(throws: SomaError.self) { try Tensor([Int32](), shape: [-1]) }
        let error = #expect(throws: SomaError.self) { try Tensor([1, 2, 3] as [Int32], shape: [2, 2]) }
        #expect(error?.message == "Tensor of shape [2,2] needs 4 scalars, but 3 were given")
    }

    @Test func scalarsAndZeroSizedTensors() throws {
        let s = Tensor(Int64(42))
        #expect(s.shape == [])
        #expect(s.scalarCount == 1)
        #expect(s.scalar(as: Int64.self) == 42)
        let empty = try Tensor([Float](), shape: [3, 0, 2])
        #expect(empty.scalarCount == 0)
        #expect(empty.scalars(as: Float.self).isEmpty)
        let filled = Tensor(repeating: true, shape: [2, 2])
        #expect(filled.scalars(as: Bool.self) == [true, true, true, true])
    }

    @Test func storageIs64ByteAligned() throws {
        for n in [0, 1, 3, 17, 1000] {
            let t = Tensor(zeros: .uint8, shape: [n])
            #expect(Int(bitPattern: t.rawPointer) % 64 == 0)
        }
    }

    @Test func everyDTypeRoundTripsItsScalars() throws {
        #expect(try Tensor([1.5, -2] as [Double], shape: [2]).scalars(as: Double.self) == [1.5, -2])
        #expect(try Tensor([Int32.min, Int32.max], shape: [2]).scalars(as: Int32.self) == [Int32.min, Int32.max])
        #expect(try Tensor([Int64.min, 7], shape: [2]).scalars(as: Int64.self) == [Int64.min, 7])
        #expect(try Tensor([0, 255] as [UInt8], shape: [2]).scalars(as: UInt8.self) == [0, 255])
        #expect(try Tensor([true, false], shape: [2]).scalars(as: Bool.self) == [true, false])
        #expect(Tensor([Int32(3), 4]).intScalars() == [3, 4])
        #expect(Tensor([Float(1)]).intScalars() == nil)
    }

    @Test func approximateEquality() throws {
        let a = try Tensor([1, 2, .nan, .infinity] as [Float], shape: [4])
        let b = try Tensor([1, 2.000001, .nan, .infinity] as [Float], shape: [4])
        let c = try Tensor([1, 2.1, .nan, .infinity] as [Float], shape: [4])
        #expect(a.isApproximatelyEqual(to: b))
        #expect(!a.isApproximatelyEqual(to: c))
        #expect(!a.isApproximatelyEqual(to: a.reshaped(to: [2, 2])))
        #expect(!a.isApproximatelyEqual(to: Tensor([1, 2, 3, 4] as [Double])))
        #expect(a.maxMismatch(c)?.index == 1)
        #expect(a != b)
        #expect(a == a)
    }

    @Test func descriptionIsNumPyLike() throws {
        let m = try Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        #expect(m.description == "Tensor([[1.0, 2.0, 3.0],\n [4.0, 5.0, 6.0]], dtype: float32, shape: [2,3])")
        #expect(Tensor(Int32(7)).description == "Tensor(7, dtype: int32, shape: [])")
        #expect(Tensor([true, false]).description == "Tensor([true, false], dtype: bool, shape: [2])")
        #expect(Tensor([Float.nan, -.infinity]).description == "Tensor([nan, -inf], dtype: float32, shape: [2])")
        let big = Tensor((0..<2000).map { Int32($0) })
        #expect(big.description == "Tensor([0, 1, 2, ..., 1997, 1998, 1999], dtype: int32, shape: [2000])")
        let bigMatrix = try Tensor((0..<1200).map { Int64($0) }, shape: [40, 30])
        let lines = bigMatrix.description.split(separator: "\n")
        #expect(lines.count == 7)  // three rows, "...", three rows
        #expect(lines[3].trimmingCharacters(in: .whitespaces) == "...,")
    }

    @Test func partialShapes() {
        let s: TensorShape = [nil, 3]
        #expect(s.description == "[?,3]")
        #expect(TensorShape.unknown.description == "<unknown>")
        #expect(TensorShape.scalar.description == "[]")
        #expect(s.isCompatible(with: [5, 3]))
        #expect(!s.isCompatible(with: [5, 4]))
        #expect(!s.isCompatible(with: [3]))
        #expect(TensorShape.unknown.isCompatible(with: [1, 2, 3]))
        #expect(s.merged(with: [2, nil]) == [2, 3])
        #expect(s.merged(with: [2, 4]) == nil)
        #expect(!s.isFullyDefined)
        #expect(TensorShape([2, 3]).elementCount == 6)
    }

    @Test func castsSaturateInsteadOfTrapping() {
        #expect(Int32(converting: .nan) == 0)
        #expect(Int32(converting: 1e20) == .max)
        #expect(Int32(converting: -1e20) == .min)
        #expect(Int32(converting: -2.9) == -2)
        #expect(UInt8(converting: -5) == 0)
        #expect(UInt8(converting: 300) == 255)
        #expect(Int64(converting: .infinity) == .max)
    }
}

import Foundation
