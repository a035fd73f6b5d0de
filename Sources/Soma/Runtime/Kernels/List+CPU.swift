import Foundation

/// Kernels for the TensorList ops, with TF's checks and messages. Lists are values: each
/// op returns a new list sharing the element tensors. Elements and stacked results are
/// reserved from the session's memory budget.
enum ListKernels {
    static let table: [String: CPUKernel] = [
        "EmptyTensorList": { ctx in
            let max = Int(ctx.inputs[1].scalar(as: Int32.self))
            try made(ctx, count: 0, elementShape: try elementShape(ctx, 0), maxElements: max)
        },
        "TensorListReserve": { ctx in
            let n = Int(ctx.inputs[1].scalar(as: Int32.self))
            guard n >= 0 else { throw KernelError("The num_elements to reserve must be a non negative number, but got \(n)") }
            try ctx.checkListFits(n, "a TensorList of \(n) elements")
            try made(ctx, count: n, elementShape: try elementShape(ctx, 0), maxElements: -1)
        },
        "TensorListFromTensor": { ctx in
            let t = ctx.inputs[0]
            let declared = try elementShape(ctx, 1)
            guard t.rank >= 1, declared.isCompatible(with: t.shape.dropFirst()) else {
                throw KernelError("Specified a list with shape \(declared) from a tensor with shape \(shapeString(t.shape))")
            }
            try ctx.setListOutput(0) { previous in try list(rowsOf: t, elementShape: declared, reusing: &previous, ctx) }
        },
        "TensorListGetItem": { ctx in
            let list = try input(ctx, 0)
            let index = Int(ctx.inputs[1].scalar(as: Int32.self))
            guard index >= 0 && index < list.count else {
                throw KernelError("Trying to access element \(index) in a list with \(list.count) elements.")
            }
            ctx.setOutput(0, try planned(ctx, 0, element(list, index, requested: try elementShape(ctx, 2), ctx)))
        },
        "TensorListSetItem": { ctx in
            var list = try input(ctx, 0)
            let index = Int(ctx.inputs[1].scalar(as: Int32.self))
            let item = ctx.inputs[2]
            if index >= list.count && index >= 0 && ctx.node.bool("resize_if_index_out_of_bounds") == true {
                try ctx.checkListFits(index + 1, "a TensorList of \(index + 1) elements")
                list.grow(to: index + 1)
            }
            guard index >= 0 && index < list.count else {
                throw KernelError("Trying to modify element \(index) in a list with \(list.count) elements.")
            }
            try checkItem(item, list)
            // Lists outlive the run's arena: elements get storage of their own.
            list[index] = try ctx.owned(item)
            ctx.setOutput(0, Tensor(list: list))
        },
        "TensorListPushBack": { ctx in
            var list = try input(ctx, 0)
            let item = ctx.inputs[1]
            try checkItem(item, list)
            if list.maxElements >= 0 && list.count >= list.maxElements {
                throw KernelError("Tried to push item into a full list list size: \(list.count), max_num_elements: "
                                  + "\(list.maxElements)")
            }
            list.append(try ctx.owned(item))
            ctx.setOutput(0, Tensor(list: list))
        },
        "TensorListPopBack": { ctx in
            var list = try input(ctx, 0)
            guard list.count > 0 else { throw KernelError("Trying to pop from an empty list.") }
            let last = try element(list, list.count - 1, requested: try elementShape(ctx, 1), ctx)
            list.removeLast()
            ctx.setOutput(0, Tensor(list: list))
            ctx.setOutput(1, try planned(ctx, 1, last))
        },
        "OptionalFromValue": { ctx in ctx.setOutput(0, Tensor(variant: .optional(try ctx.inputs.map { try ctx.owned($0) }))) },
        "OptionalNone": { ctx in ctx.setOutput(0, Tensor(variant: .optional(nil))) },
        "OptionalHasValue": { ctx in
            guard case .optional(let components)? = ctx.inputs[0].variant else { throw KernelError("Input must hold an Optional") }
            ctx.setOutput(0, Tensor(components != nil))
        },
        "OptionalGetValue": { ctx in
            guard case .optional(let value)? = ctx.inputs[0].variant else { throw KernelError("Input must hold an Optional") }
            guard let components = value else { throw KernelError("The optional variant does not have a value.", code: .failedPrecondition) }
            guard components.map(\.dtype) == ctx.node.outputTypes else {
                throw KernelError("Optional holds (\(components.map(\.dtype.name).joined(separator: ", "))) but the op reads "
                                  + "(\(ctx.node.outputTypes.map(\.name).joined(separator: ", ")))")
            }
            for (k, t) in components.enumerated() {
                if let planned = ctx.outputShapes[k], planned != t.shape {
                    throw KernelError("Optional component \(k) has shape \(shapeString(t.shape)), expected \(shapeString(planned))")
                }
                ctx.setOutput(k, t)
            }
        },
        "TensorListLength": { ctx in
            ctx.setOutput(0, Tensor(Int32(try input(ctx, 0).count)))
        },
        "TensorListElementShape": { ctx in
            let shape = try input(ctx, 0).elementShape
            let dims = shape.dimensions.map { $0.map { Int64($0 ?? -1) } }
            let out: Tensor
            if ctx.node.type("shape_type") == .int64 {
                out = try dims.map { try Tensor($0, shape: [$0.count]) } ?? Tensor(Int64(-1))
            } else {
                out = try dims.map { d in try Tensor(d.map { Int32($0) }, shape: [d.count]) } ?? Tensor(Int32(-1))
            }
            ctx.setOutput(0, out)
        },
        "TensorListGather": { ctx in
            let list = try input(ctx, 0)
            guard let indices = ctx.inputs[1].intScalars(), ctx.inputs[1].rank == 1 else {
                throw KernelError("indices must be a vector, but has shape \(shapeString(ctx.inputs[1].shape))")
            }
            for i in indices where i < 0 || i >= list.count {
                throw KernelError("Trying to gather element \(i) in a list with \(list.count) elements.")
            }
            ctx.setOutput(0, try planned(ctx, 0, stack(list, indices: indices, requested: try elementShape(ctx, 2), ctx)))
        },
        "TensorListScatterIntoExistingList": { ctx in
            var list = try input(ctx, 0)
            let t = ctx.inputs[1]
            guard let indices = ctx.inputs[2].intScalars(), ctx.inputs[2].rank == 1 else {
                throw KernelError("indices must be a vector, but has shape \(shapeString(ctx.inputs[2].shape))")
            }
            guard t.rank >= 1, t.shape[0] == indices.count else {
                throw KernelError("Specified a list with \(indices.count) indices but a tensor of shape \(shapeString(t.shape))")
            }
            guard t.dtype == list.elementDType else {
                throw KernelError("Invalid data types; list elements \(list.elementDType.name) but tried to scatter \(t.dtype.name)")
            }
            guard list.elementShape.isCompatible(with: TensorShape(Array(t.shape.dropFirst()))) else {
                throw KernelError("Tried to scatter rows of shape \(shapeString(Array(t.shape.dropFirst()))) into a list of elements "
                                  + "of shape \(list.elementShape)")
            }
            // As TF's: an index past the end grows the list.
            if let top = indices.max(), top >= list.count {
                try ctx.checkListFits(top + 1, "a TensorList of \(top + 1) elements")
                list.grow(to: top + 1)
            }
            for (k, i) in indices.enumerated() {
                guard i >= 0 else { throw KernelError("Indices in TensorListScatter must all be non-negative.") }
                list[i] = try row(t, k, ctx)
            }
            ctx.setOutput(0, Tensor(list: list))
        },
        "TensorListStack": { ctx in
            let list = try input(ctx, 0)
            let requested = try elementShape(ctx, 1)
            let expected = ctx.node.int("num_elements") ?? -1
            guard expected < 0 || expected == list.count else {
                throw KernelError("Operation expected a list with \(expected) elements but got a list with \(list.count) elements.")
            }
            ctx.setOutput(0, try planned(ctx, 0, stack(list, indices: 0..<list.count, requested: requested, ctx)))
        },
    ]

    /// `AddN` of lists (TF's `TensorListAddN`): lists of one length, added element by
    /// element; an element set in only some lists is their sum alone.
    static func addN(_ ctx: KernelContext) throws {
        var sum = try input(ctx, 0)
        for k in 1..<ctx.inputs.count {
            let other = try input(ctx, k)
            guard other.count == sum.count, other.elementDType == sum.elementDType else {
                throw KernelError("Trying to add two lists of differing sizes or dtypes: \(sum.count) \(sum.elementDType.name)"
                                  + " and \(other.count) \(other.elementDType.name)")
            }
            for i in 0..<sum.count {
                guard let b = other[i] else { continue }
                guard let a = sum[i] else { sum[i] = b; continue }
                guard a.shape == b.shape else {
                    throw KernelError("Trying to add two tensors of differing shapes \(shapeString(a.shape)) and \(shapeString(b.shape))")
                }
                let out = try allocate(a.dtype, a.shape, ctx, zeroed: false)
                try MathKernels.arithmetic(.add, a, b, out)
                sum[i] = out
            }
        }
        ctx.setOutput(0, Tensor(list: sum))
    }

    /// `ZerosLike` of a list: the same length, each set element replaced by zeros of its shape.
    static func zerosLike(_ ctx: KernelContext) throws {
        if case .optional(let components)? = ctx.inputs[0].variant {
            let zeros = try components.map { try $0.map { try Self.zeros($0.dtype, $0.shape, ctx) } }
            return ctx.setOutput(0, Tensor(variant: .optional(zeros)))
        }
        var list = try input(ctx, 0)
        for i in 0..<list.count {
            guard let shape = list.storage(at: i)?.shape else { continue }
            list[i] = try zeros(list.elementDType, shape, ctx)
        }
        ctx.setOutput(0, Tensor(list: list))
    }

    /// `t`, checked against the shape the plan gave output `k` (inferred from what was
    /// known of the list's elements when the plan was made).
    private static func planned(_ ctx: KernelContext, _ k: Int, _ t: Tensor) throws -> Tensor {
        if let shape = ctx.outputShapes[k], shape != t.shape {
            throw KernelError("the list element has shape \(shapeString(t.shape)), but the plan expected \(shapeString(shape))")
        }
        return t
    }

    private static func dtype(_ ctx: KernelContext) throws -> DType {
        guard let d = ctx.node.type("element_dtype") else { throw KernelError("Missing required attr 'element_dtype'") }
        return d
    }

    /// Sets output 0 to a new list of `count` unset elements — last run's list refilled
    /// in place where the step kept one (``KernelContext/setListOutput(_:_:)``).
    private static func made(_ ctx: KernelContext, count: Int, elementShape: TensorShape, maxElements: Int) throws {
        let dtype = try dtype(ctx)
        ctx.setListOutput(0) { previous in
            if var list = previous, list.elementDType == dtype {
                previous = nil
                list.reset(count: count, elementShape: elementShape, maxElements: maxElements)
                return list
            }
            return TensorList(elementDType: dtype, elementShape: elementShape, elements: Array(repeating: nil, count: count),
                              maxElements: maxElements)
        }
    }

    /// The last shape a step's input read as an element shape, kept from run to run.
    private final class ShapeMemo {
        var shape: TensorShape? = nil
    }

    /// Input `i`, a shape tensor, as ``shape(_:)`` reads it — the step's last such shape when
    /// the tensor still says the same (compared in place: a constant's shape is read once).
    static func elementShape(_ ctx: KernelContext, _ i: Int) throws -> TensorShape {
        let t = ctx.inputs[i]
        let memo = ctx.keptObject(i) { ShapeMemo() }
        if let shape = memo.shape, says(t, shape) { return shape }
        let shape = try Self.shape(t)
        memo.shape = shape
        return shape
    }

    /// Whether shape tensor `t` reads as `shape`.
    private static func says(_ t: Tensor, _ shape: TensorShape) -> Bool {
        guard let dims = shape.dimensions else { return t.rank == 0 && integer(t, 0) == -1 }
        guard t.rank == 1, t.shape[0] == dims.count else { return false }
        for (k, d) in dims.enumerated() {
            guard let v = integer(t, k), v == (d ?? -1) else { return false }
        }
        return true
    }

    /// Element `i` of an integer tensor, read in place (`nil` for other dtypes).
    private static func integer(_ t: Tensor, _ i: Int) -> Int? {
        switch t.dtype {
        case .int32: Int(t.pointer(as: Int32.self)[i])
        case .int64: Int(t.pointer(as: Int64.self)[i])
        case .uint8: Int(t.pointer(as: UInt8.self)[i])
        default: nil
        }
    }

    /// A shape tensor (`-1` scalar: unknown rank; `-1` elements: unknown dimensions).
    /// Read in place: one array (the shape's own), none for `-1`.
    static func shape(_ t: Tensor) throws -> TensorShape {
        switch t.dtype {
        case .int32, .int64, .uint8: break
        default: throw KernelError("element_shape must be an integer tensor")
        }
        func value(_ i: Int) -> Int { integer(t, i)! }  // (an integer dtype: never nil)
        if t.rank == 0 {
            guard value(0) == -1 else { throw KernelError("element_shape must be -1 or a vector, but is \(value(0))") }
            return .unknown
        }
        guard t.rank == 1 else { throw KernelError("element_shape must be a vector, but has shape \(shapeString(t.shape))") }
        var dimensions: [Int?] = []
        dimensions.reserveCapacity(t.shape[0])
        for i in 0..<t.shape[0] {
            let d = value(i)
            guard d >= -1 else { throw KernelError("element_shape has dimension \(d)") }
            dimensions.append(d == -1 ? nil : d)
        }
        return TensorShape(dimensions)
    }

    private static func input(_ ctx: KernelContext, _ i: Int) throws -> TensorList {
        guard let list = ctx.inputs[i].list else {
            throw KernelError("Input \(i) must hold a TensorList, but is a \(ctx.inputs[i].dtype) tensor of shape "
                              + shapeString(ctx.inputs[i].shape))
        }
        if let d = ctx.node.type("element_dtype"), d != list.elementDType {
            throw KernelError("Invalid data types; op elements \(d.name) but list elements \(list.elementDType.name)")
        }
        return list
    }

    private static func checkItem(_ item: Tensor, _ list: TensorList) throws {
        guard item.dtype == list.elementDType else {
            throw KernelError("Invalid data types; list elements \(list.elementDType.name) but tried to append \(item.dtype.name)")
        }
        guard list.elementShape.isCompatible(with: item.shape) else {
            throw KernelError("Tried to add an element of shape \(shapeString(item.shape)) to a list of elements of shape "
                              + "\(list.elementShape)")
        }
    }

    /// Element `index`; an element never set reads as zeros of the element shape.
    private static func element(_ list: TensorList, _ index: Int, requested: TensorShape, _ ctx: KernelContext) throws -> Tensor {
        if let t = list[index] {
            guard requested.isCompatible(with: t.shape) else {
                throw KernelError("Incompatible shapes: element has shape \(shapeString(t.shape)), requested \(requested)")
            }
            return t
        }
        guard let dims = (list.elementShape.merged(with: requested) ?? requested).concrete else {
            throw KernelError("Trying to read an uninitialized tensor but element_shape: \(list.elementShape) is not fully defined")
        }
        return try zeros(list.elementDType, dims, ctx)
    }

    /// The elements at `indices` stacked along a new first dimension — into the step's
    /// planned output where the plan fixed its shape and every element set fits it.
    private static func stack<Indices: Collection<Int>>(_ list: TensorList, indices: Indices, requested: TensorShape,
                                                        _ ctx: KernelContext) throws -> Tensor {
        guard list.elementDType.isPlain else { throw KernelError("Stacking \(list.elementDType) elements is not supported") }
        if let planned = ctx.outputShapes[0], planned.first == indices.count, ctx.node.outputTypes[0] == list.elementDType {
            let element = planned.dropFirst()
            var unset = false
            let fits = list.elementShape.isCompatible(with: element) && requested.isCompatible(with: element) && indices.allSatisfy { i in
                guard let t = list.storage(at: i) else { unset = true; return true }
                return t.shape[...] == element
            }
            if fits {
                let out = try ctx.allocateOutput(0, zeroed: unset)
                let bytes = element.reduce(1, *) * list.elementDType.byteSize
                for (k, i) in indices.enumerated() {
                    guard let t = list.storage(at: i) else { continue }
                    memcpy(out.rawPointer + k * bytes, t.pointer, bytes)
                }
                return out
            }
        }
        var shape = list.elementShape.merged(with: requested) ?? requested
        for i in indices {
            guard let t = list.storage(at: i) else { continue }
            // A fully defined shape an element fits is their merge already: no arrays per element.
            if shape.isFullyDefined && shape.isCompatible(with: t.shape) { continue }
            guard let merged = shape.merged(with: TensorShape(t.shape)) else {
                throw KernelError("Incompatible shapes in list: \(shape) and \(shapeString(t.shape))")
            }
            shape = merged
        }
        guard let element = shape.concrete else {
            throw KernelError("Tried to stack elements of an empty list with non-fully-defined element_shape: \(shape)")
        }
        let out = try allocate(list.elementDType, [indices.count] + element, ctx, zeroed: true)
        let bytes = element.reduce(1, *) * list.elementDType.byteSize
        for (k, i) in indices.enumerated() {
            guard let t = list.storage(at: i) else { continue }
            memcpy(out.rawPointer + k * bytes, t.pointer, bytes)
        }
        return out
    }

    /// A list of `t`'s rows: one owned copy of `t` (`t` itself when it owns its memory)
    /// whose rows the list reads in place, where rows are whole cache lines — one
    /// allocation and one copy in place of one per row (a Keras LSTM unstacks its `[32, 32,
    /// 64]` input every run: 0.135 ms in 32 allocations, then 0.008 ms with a view per row,
    /// one thread, in a profile) — else a copy per row.
    /// (`previous`: last run's list, whose arrays are refilled where it is taken.)
    private static func list(rowsOf t: Tensor, elementShape: TensorShape, reusing previous: inout TensorList?,
                             _ ctx: KernelContext) throws -> TensorList {
        guard t.dtype.isPlain else { throw KernelError("Lists of \(t.dtype) tensors are not supported") }
        let count = t.shape[0]
        if count > 0, t.byteCount / count % TensorBuffer.alignment == 0 {
            let whole = t.buffer.isView ? try allocate(t.dtype, t.shape, ctx, zeroed: false) : t
            if whole.buffer !== t.buffer { memcpy(whole.rawPointer, t.rawPointer, t.byteCount) }
            if var list = previous, list.elementDType == t.dtype {
                previous = nil
                list.reset(count: count, elementShape: elementShape)
                if list.adoptRows(whole, 0..<count) { return list }
            } else if let list = TensorList(rowsOf: whole, count: count, elementShape: elementShape) {
                return list
            }
        }
        return TensorList(elementDType: t.dtype, elementShape: elementShape,
                          elements: try (0..<count).map { i -> Tensor? in try row(t, i, ctx) })
    }

    private static func row(_ t: Tensor, _ i: Int, _ ctx: KernelContext) throws -> Tensor {
        guard t.dtype.isPlain else { throw KernelError("Lists of \(t.dtype) tensors are not supported") }
        let element = Array(t.shape.dropFirst())
        let out = try allocate(t.dtype, element, ctx, zeroed: false)
        memcpy(out.rawPointer, t.rawPointer + i * out.byteCount, out.byteCount)
        return out
    }

    private static func zeros(_ dtype: DType, _ shape: [Int], _ ctx: KernelContext) throws -> Tensor {
        try allocate(dtype, shape, ctx, zeroed: true)
    }

    private static func allocate(_ dtype: DType, _ shape: [Int], _ ctx: KernelContext, zeroed: Bool) throws -> Tensor {
        guard let count = checkedProduct(shape), count <= Int.max / 16 else {
            throw KernelError("a \(dtype) tensor of shape \(shapeString(shape)) is too large", code: .resourceExhausted)
        }
        do {
            return try Tensor(dtype: dtype, shape: shape, zeroed: zeroed, budget: ctx.state.budget,
                              for: "OOM when allocating a list element of shape \(shapeString(shape)) and type \(dtype.name)")
        } catch {
            throw KernelError(error)
        }
    }
}

extension KernelContext {
    /// Checks that a list's `elements` slots fit the session's memory budget now (the
    /// slots are small; the element tensors are reserved when they are made).
    func checkListFits(_ elements: Int, _ what: @autoclosure () -> String) throws {
        let (bytes, overflow) = elements.multipliedReportingOverflow(by: MemoryLayout<Tensor?>.stride)
        guard !overflow else { throw KernelError("\(what()) needs more memory than can be addressed", code: .resourceExhausted) }
        do {
            try state.budget.reserve(bytes, for: "OOM when allocating \(what())")
            state.budget.release(bytes)
        } catch {
            throw KernelError(error)
        }
    }
}
