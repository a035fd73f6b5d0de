/// Turns an optimised ``IRGraph`` with concrete shapes into a ``Plan``: a memory-aware
/// schedule, liveness, aliasing and in-place reuse, then offsets in one arena.
struct PlanBuilder {
    let ir: IRGraph
    /// Fetched values go in the arena too (their caller copies them out), not own storage.
    var fetchesInArena = false
    /// ``CompileOptions/parallelMemorySlack``.
    var parallelMemorySlack = 0.05

    /// Whether the node's kernel returns its input's tensor (a view), so its output shares
    /// the input's storage: ops with the `.forwardsInput` trait, and a Cast to the same type.
    static func forwardsInput(_ node: IRNode) -> Bool {
        node.def.traits.contains(.forwardsInput) || (node.op == "Cast" && node.inputs[0].dtype == node.outputTypes[0])
            || node.op == "IdentityN"
    }

    /// Whether `node`'s first output is a `Ref(T)` — an optimiser update's or `Assign`'s:
    /// the kernel returns the variable it wrote, so the output takes no arena bytes (a
    /// training step's updates took a buffer of each variable's size that nothing wrote).
    static func returnsVariable(_ node: IRNode) -> Bool { node.def.outputs.first?.isRef == true }

    /// The input whose storage output `k` of a forwarding node is (IdentityN: input k).
    static func forwardedInput(_ node: IRNode, output k: Int) -> Int? {
        guard forwardsInput(node) else { return nil }
        return node.op == "IdentityN" ? k : (k == 0 ? 0 : nil)
    }

    func build(passReports: [PassReport]) throws -> Plan {
        // Steps whose output shapes depend on values seen only at run time (a list's
        // elements, a fed Reshape target): they infer their shapes when they run, and
        // their outputs have storage of their own.
        let dynamic = Set(ir.nodes.filter { $0.outputShapes.contains { !$0.isFullyDefined } }.map(\.id))
        // Values: every output of every node.
        var valueIndex: [IRValue: Int] = [:]
        var producers: [IRValue] = []
        for node in ir.nodes {
            for k in node.outputTypes.indices {
                valueIndex[IRValue(node, k)] = producers.count
                producers.append(IRValue(node, k))
            }
        }
        // Variables, and identities of them, are read by their consumers: not steps.
        let chains = IdentityChains()
        let stepNodes = ir.nodes.filter {
            !$0.isConstant && !$0.isFeed && ($0.outputTypes.isEmpty || chains.variableSource(IRValue($0, 0)) == nil)
        }
        let effects = Self.variableOrdering(stepNodes, chains: chains)
        let order = MemoryAwareScheduler(ir: ir, steps: stepNodes, extraPredecessors: effects).schedule()
        var position: [Int: Int] = [:]
        for (i, node) in order.enumerated() { position[node.id] = i }

        // Steps with their dependencies: what the parallel executor waits for.
        var predecessors = order.map { node in
            Set(node.inputs.compactMap { position[$0.node.id] } + node.controlInputs.compactMap { position[$0.id] }
                + (effects[node.id] ?? []).compactMap { position[$0.id] })
        }
        var successors = Self.successors(predecessors)

        // Liveness in schedule positions.
        let end = order.count
        var first = [Int](repeating: -1, count: producers.count)
        var last = [Int](repeating: -1, count: producers.count)
        for (i, value) in producers.enumerated() {
            if let p = position[value.node.id] { first[i] = p; last[i] = p }
        }
        for (i, node) in order.enumerated() {
            for input in node.inputs { let v = valueIndex[input]!; last[v] = Swift.max(last[v], i) }
        }
        let fetched = Set(ir.fetches.map { valueIndex[$0]! })
        for v in fetched { last[v] = end }

        // Storage: an alias names the root its forwarding chain reaches (set in schedule
        // order, so the input's root is known: one hop however long the chain).
        var aliasOf = [Int?](repeating: nil, count: producers.count)
        func root(_ v: Int) -> Int { aliasOf[v] ?? v }
        for node in order {
            for k in node.outputTypes.indices {
                guard let i = Self.forwardedInput(node, output: k) else { continue }
                aliasOf[valueIndex[IRValue(node, k)]!] = root(valueIndex[node.inputs[i]]!)
            }
        }
        // A root lives as long as its longest-lived alias; a fetched alias makes it owned.
        var rootLast = last
        var ownedRoots = Set<Int>()
        for v in producers.indices where aliasOf[v] != nil {
            let r = root(v)
            rootLast[r] = Swift.max(rootLast[r], last[v])
            if fetched.contains(v) { ownedRoots.insert(r) }
        }
        // A list made from a tensor keeps its rows (`TensorListFromTensor` views them): the
        // tensor gets storage of its own, which the list then holds, rather than arena bytes
        // the list would copy out (a Keras LSTM's hoisted input products: 1 MB a run).
        let listRows = Set(order.filter { $0.op == "TensorListFromTensor" }.map { root(valueIndex[$0.inputs[0]]!) })
        func inArena(_ v: Int) -> Bool {
            let node = producers[v].node
            guard position[node.id] != nil && aliasOf[v] == nil && !listRows.contains(v) && !Self.returnsVariable(node) else {
                return false
            }
            return fetchesInArena || (!fetched.contains(v) && !ownedRoots.contains(v))
        }
        func bytes(_ v: Int) -> Int {
            (producers[v].shape.elementCount ?? 0) * producers[v].dtype.byteSize
        }

        // Buffers: one per arena value, except in-place outputs, which take an input's buffer.
        var bufferOf = [Int?](repeating: nil, count: producers.count)
        var buffers: [(bytes: Int, first: Int, last: Int)] = []
        var inPlace = Set<Int>()
        /// An input buffer dying at this step, of the output's size and shape.
        func inPlaceCandidate(_ node: IRNode, step: Int) -> Int? {
            let out = IRValue(node, 0)
            for input in node.inputs {
                let r = root(valueIndex[input]!)
                guard let b = bufferOf[r], buffers[b].last == step, input.shape == out.shape,
                      input.dtype.byteSize == out.dtype.byteSize,
                      // Another view of the same buffer would be read after being overwritten.
                      node.inputs.allSatisfy({ $0 == input || root(valueIndex[$0]!) != r }) else { continue }
                return b
            }
            return nil
        }

        for (i, node) in order.enumerated() {
            for k in node.outputTypes.indices {
                let v = valueIndex[IRValue(node, k)]!
                guard inArena(v), bytes(v) > 0 else { continue }
                if k == 0, node.def.traits.contains(.elementwise), let b = inPlaceCandidate(node, step: i) {
                    bufferOf[v] = b
                    inPlace.insert(v)
                    buffers[b].last = Swift.max(buffers[b].last, rootLast[v])
                    continue
                }
                bufferOf[v] = buffers.count
                buffers.append((Self.aligned(bytes(v)), i, rootLast[v]))
            }
        }
        let lowerBound = Self.peakLiveBytes(buffers, steps: order.count)
        let offsets = Self.assignOffsets(buffers, lowerBound: lowerBound)
        let arenaBytes = zip(buffers, offsets).map { $0.bytes + $1 }.max() ?? 0
        // The parallel layout: every arena value its own region, regions shared only between
        // values whose lifetimes cannot overlap in any order the dependencies allow.
        let arenaValues = producers.indices.filter { bufferOf[$0] != nil }
        let noReuse = arenaValues.reduce(0) { $0 + Self.aligned(bytes($1)) }
        var readers = [[Int]](repeating: [], count: producers.count)
        for (i, node) in order.enumerated() {
            for input in node.inputs { readers[root(valueIndex[input]!)].append(i) }
        }
        var parallelOffset = [Int?](repeating: nil, count: producers.count)
        var parallelBytes = noReuse
        let regions = Self.executionWindows(successors: successors).map { windows in
            arenaValues.map { v -> (bytes: Int, first: Int, last: Int) in
                let producer = position[producers[v].node.id]!
                // A fetched value (or one a fetched alias shares) is read after the last step.
                let last = rootLast[v] == end ? end : readers[v].reduce(windows[producer].upperBound) { Swift.max($0, windows[$1].upperBound) }
                return (Self.aligned(bytes(v)), windows[producer].lowerBound, last)
            }
        }
        // Where every region overlaps every other (independent branches), nothing can share.
        if let regions, case let bound = Self.peakLiveBytes(regions, steps: end), bound < noReuse {
            let offsets = Self.assignOffsets(regions, lowerBound: bound)
            for (v, offset) in zip(arenaValues, offsets) { parallelOffset[v] = offset }
            parallelBytes = zip(regions, offsets).map { $0.bytes + $1 }.max() ?? 0
        } else {
            var next = 0
            for v in arenaValues {
                parallelOffset[v] = next
                next += Self.aligned(bytes(v))
            }
        }
        // Where that needs more than the slack over the sequential layout, parallel runs keep
        // the sequential layout and wait where it reuses bytes instead.
        if regions != nil, Double(parallelBytes) > Double(arenaBytes) * (1 + parallelMemorySlack),
           arenaValues.count <= Self.maximumWindowSteps {
            let placed = arenaValues.map { v in
                let start = offsets[bufferOf[v]!]
                return (range: start..<(start + bytes(v)), producer: position[producers[v].node.id]!, readers: readers[v])
            }
            for (step, waits) in Self.memoryDependencies(placed) { predecessors[step].formUnion(waits) }
            successors = Self.successors(predecessors)
            for v in arenaValues { parallelOffset[v] = offsets[bufferOf[v]!] }
            parallelBytes = arenaBytes
        }
        let dependencyCounts = predecessors.map(\.count)

        // Values of the plan.
        let feedPosition = Dictionary(uniqueKeysWithValues: ir.feeds.enumerated().map { ($1.node.id, $0) })
        let values = producers.enumerated().map { v, value -> Plan.Value in
            let node = value.node
            let storage: Plan.Storage
            if let f = feedPosition[node.id] { storage = .feed(f) }
            else if node.isConstant { storage = .constant }
            else if let variable = chains.variableSource(value) {
                storage = .variable(key: variableKey(name: variable.name, attrs: variable.attrs))
            }
            else if let a = aliasOf[v] { storage = .alias(of: a) }
            else if let b = bufferOf[v] { storage = .arena(offset: offsets[b], bytes: bytes(v)) }
            else { storage = .owned }
            return Plan.Value(name: value.description, dtype: value.dtype, shape: value.shape.concrete ?? [], storage: storage,
                              constant: node.constantValue, firstUse: first[v], lastUse: last[v],
                              isDynamic: !value.shape.isFullyDefined)
        }

        var releases = [[Int]](repeating: [], count: order.count)
        for (v, value) in values.enumerated() where last[v] >= 0 && last[v] < order.count {
            switch value.storage {
            case .owned, .alias: releases[last[v]].append(v)
            default: break
            }
        }
        // Fetches a caller may supply storage for: numeric kernel outputs in the arena, of a
        // static shape, not sharing an input's buffer — or the output a fetched forward
        // (an `Identity`, a `Reshape`) views, of the same dtype — at their first place in the
        // fetch list.
        var fetchSlot: [Int: Int] = [:]
        if fetchesInArena {
            for (f, fetch) in ir.fetches.enumerated() {
                let r = root(valueIndex[fetch]!), produced = producers[r]
                guard fetchSlot[r] == nil, bufferOf[r] != nil, !inPlace.contains(r), produced.dtype == fetch.dtype,
                      fetch.dtype.isNumeric, fetch.shape.isFullyDefined, produced.shape.isFullyDefined,
                      !dynamic.contains(produced.node.id) else { continue }
                fetchSlot[r] = f
            }
        }
        let steps = order.enumerated().map { i, node -> Plan.Step in
            let outputs = node.outputTypes.indices.map { valueIndex[IRValue(node, $0)]! }
            return Plan.Step(
                name: node.name, op: node.op, node: KernelNode(node, chains: chains).prepared(for: node, chains: chains), kernel: Kernels.table[node.op]!,
                inputs: node.inputs.map { valueIndex[$0]! }, outputs: outputs,
                variableTargets: node.def.variableTargets(node.attrs),
                outputShapes: node.outputShapes.map(\.concrete),
                outputOffsets: outputs.map { v in bufferOf[v].map { offsets[$0] } },
                parallelOutputOffsets: outputs.map { parallelOffset[$0] },
                fetchSlots: outputs.map { fetchSlot[$0] },
                dependencyCount: dependencyCounts[i], successors: successors[i].sorted(), isCheap: Self.isCheap(node),
                dynamicDefinition: dynamic.contains(node.id) ? node.def : nil, releases: releases[i])
        }
        let parallel = dependencyCounts.filter { $0 == 0 }.count > 1 || successors.contains { $0.count > 1 }
        return Plan(steps: steps, values: values, feeds: ir.feeds.map(\.endpoint), fetches: ir.fetches.map { valueIndex[$0]! },
                    arenaBytes: arenaBytes, lowerBoundBytes: lowerBound, noReuseBytes: noReuse, parallelArenaBytes: parallelBytes,
                    passReports: passReports,
                    hasParallelism: parallel)
    }

    /// Program order for effects on each variable: a step that reads or writes a variable
    /// waits for the earlier-built steps that write it, and a write waits for the earlier
    /// reads — so reordering for memory never changes which value a read sees (TF2's
    /// automatic control dependencies; the reference executor runs in build order anyway).
    static func variableOrdering(_ steps: [IRNode], chains: IdentityChains) -> [Int: [IRNode]] {
        var extra: [Int: [IRNode]] = [:]
        var lastWrite: [String: IRNode] = [:]
        var readsSinceWrite: [String: [IRNode]] = [:]
        for node in steps {
            let writes = node.def.variableTargets(node.attrs)
            for (k, input) in node.inputs.enumerated() {
                guard let variable = chains.variableSource(input) else { continue }
                let key = variableKey(name: variable.name, attrs: variable.attrs)
                if let w = lastWrite[key], w !== node { extra[node.id, default: []].append(w) }
                if k < writes.count && writes[k] {
                    extra[node.id, default: []] += (readsSinceWrite[key] ?? []).filter { $0 !== node }
                    lastWrite[key] = node
                    readsSinceWrite[key] = []
                } else {
                    readsSinceWrite[key, default: []].append(node)
                }
            }
        }
        return extra
    }

    /// The executor's cost model: matrix products are never cheap; other steps are cheap
    /// below 16 Ki output elements — counting, for reductions, the elements they read: a
    /// bias gradient of a `[64, 28, 28, 32]` activation has 32 outputs but took 0.4 ms, run
    /// inline before the filter gradient that was ready with it instead of beside it.
    static func isCheap(_ node: IRNode) -> Bool {
        if ["MatMul", "BatchMatMulV2", "_FusedMatMul"].contains(node.op) { return false }
        var elements = node.outputShapes.reduce(0) { $0 + ($1.elementCount ?? 0) }
        if reductions.contains(node.op), let input = node.inputs.first {
            // An unknown input size is no evidence of a cheap step.
            elements = Swift.max(elements, input.shape.elementCount ?? .max)
        }
        return elements < 16_384
    }

    /// Ops whose outputs are much smaller than what they read.
    static let reductions: Set<String> = [
        "Sum", "Mean", "Max", "Min", "Prod", "All", "Any", "ArgMax", "ArgMin", "BiasAddGrad", "L2Loss", "EuclideanNorm",
    ]

    /// Successor lists (ascending) of steps with these predecessor sets.
    static func successors(_ predecessors: [Set<Int>]) -> [[Int]] {
        var successors = [[Int]](repeating: [], count: predecessors.count)
        for (i, before) in predecessors.enumerated() { for p in before { successors[p].append(i) } }
        return successors.map { $0.sorted() }
    }

    /// The waits that make a layout with reuse safe in any order: where a value takes bytes
    /// an earlier one held (disjoint lifetimes in the schedule, or an elementwise step
    /// writing over the input it reads last), its producer waits for the earlier value's
    /// producer and readers. Values are `(bytes, producing step, reading steps)`; every
    /// wait points forward in the schedule, so the dependencies stay acyclic.
    ///
    /// Waits that others imply are left out: going back from each value, an earlier one
    /// whose shared bytes later values have all taken already is ordered before it through
    /// them (each of those waits for it, and the value waits for each of those).
    /// - Complexity: O(v²) for v values, plus the waits.
    static func memoryDependencies(_ values: [(range: Range<Int>, producer: Int, readers: [Int])]) -> [Int: Set<Int>] {
        let order = values.indices.sorted { values[$0].producer < values[$1].producer }
        var waits: [Int: Set<Int>] = [:]
        for (k, later) in order.enumerated() {
            let v = values[later]
            var covered: [Range<Int>] = []  // parts of v's bytes that later values took, disjoint
            for earlier in order[..<k].reversed() {
                let u = values[earlier]
                guard u.producer < v.producer, u.range.overlaps(v.range) else { continue }
                let shared = u.range.clamped(to: v.range)
                if covered.reduce(shared.count, { $0 - $1.clamped(to: shared).count }) > 0 {
                    waits[v.producer, default: []].formUnion(([u.producer] + u.readers).filter { $0 != v.producer })
                }
                covered = Self.union(covered, shared)
                if covered.count == 1 && covered[0] == v.range { break }
            }
        }
        return waits
    }

    /// The union of disjoint, ascending ranges and one more, as disjoint ascending ranges.
    static func union(_ ranges: [Range<Int>], _ range: Range<Int>) -> [Range<Int>] {
        var merged: [Range<Int>] = [], added = range
        for r in ranges {
            if r.upperBound < added.lowerBound || added.upperBound < r.lowerBound { merged.append(r) }
            else { added = Swift.min(r.lowerBound, added.lowerBound)..<Swift.max(r.upperBound, added.upperBound) }
        }
        merged.append(added)
        return merged.sorted { $0.lowerBound < $1.lowerBound }
    }

    /// The most steps whose execution windows are worked out (two bit matrices of steps ×
    /// steps, 8 MiB each at the limit), and the most arena values memory waits are worked
    /// out for; larger plans run in parallel with a region per value.
    static let maximumWindowSteps = 8192

    /// For each step, the positions it can take in the orders its dependencies allow: after
    /// all its ancestors, before all its descendants — `ancestors...(steps − 1 − descendants)`.
    ///
    /// Two values may share bytes in a parallel run where one's window ends before the
    /// other's begins: a reader whose latest position is below a producer's earliest is
    /// necessarily its ancestor (were it not, some order would put it after the producer),
    /// so it has finished before the producer starts. In a chain every window is one
    /// position and the layout is the sequential one; side branches widen the windows of
    /// what lies beside them. `nil` beyond ``maximumWindowSteps`` steps, or where a successor
    /// comes before its step in the schedule.
    /// - Complexity: O(s · (e + s / 64)) for s steps and e dependency edges.
    static func executionWindows(successors: [[Int]]) -> [ClosedRange<Int>]? {
        let n = successors.count, words = (n + 63) / 64
        guard n <= maximumWindowSteps, successors.indices.allSatisfy({ i in successors[i].allSatisfy { $0 > i } }) else { return nil }
        var predecessors = [[Int]](repeating: [], count: n)
        for (p, next) in successors.enumerated() { for s in next { predecessors[s].append(p) } }
        /// How many steps each step reaches through `edges`, visiting steps in `order` (each
        /// after every step its edges lead to).
        func reachable(_ edges: [[Int]], _ order: some Sequence<Int>) -> [Int] {
            var bits = [UInt64](repeating: 0, count: n * words)
            var counts = [Int](repeating: 0, count: n)
            bits.withUnsafeMutableBufferPointer { bits in
                for i in order {
                    let row = bits.baseAddress! + i * words
                    for j in edges[i] {
                        let other = bits.baseAddress! + j * words
                        for w in 0..<words { row[w] |= other[w] }
                        row[j / 64] |= 1 << UInt64(j % 64)
                    }
                    counts[i] = (0..<words).reduce(0) { $0 + row[$1].nonzeroBitCount }
                }
            }
            return counts
        }
        let ancestors = reachable(predecessors, 0..<n), descendants = reachable(successors, (0..<n).reversed())
        return (0..<n).map { ancestors[$0]...(n - 1 - descendants[$0]) }
    }

    static func aligned(_ bytes: Int) -> Int { (bytes + TensorBuffer.alignment - 1) / TensorBuffer.alignment * TensorBuffer.alignment }

    /// Offsets for the buffers in one arena: the smallest of a few greedy best-fit
    /// placements, stopping early at `lowerBound` (the peak of live bytes, which no
    /// placement can beat).
    ///
    /// No single order wins everywhere: largest-first (TFLite's "greedy by size") leaves
    /// holes where short-lived large buffers end before long-lived small ones start
    /// (DenseNet121: 1.11× the bound); largest-area-first and first-use-first fill others.
    /// Each order is then refined a few rounds by moving the buffer that ends highest to the
    /// front (DenseNet121 reaches the bound on the second first-use round). Everything is
    /// fixed, so the plan is deterministic.
    static func assignOffsets(_ buffers: [(bytes: Int, first: Int, last: Int)], lowerBound: Int) -> [Int] {
        func area(_ b: Int) -> Int { buffers[b].bytes * (buffers[b].last - buffers[b].first + 1) }
        func larger(_ a: Int, _ b: Int) -> Bool { buffers[a].bytes != buffers[b].bytes ? buffers[a].bytes > buffers[b].bytes : a < b }
        let orders: [(Int, Int) -> Bool] = [
            larger,
            { area($0) != area($1) ? area($0) > area($1) : larger($0, $1) },
            { buffers[$0].first != buffers[$1].first ? buffers[$0].first < buffers[$1].first : larger($0, $1) },
        ]
        let rounds = 8
        var best: (offsets: [Int], bytes: Int)? = nil
        for sortOrder in orders {
            var order = buffers.indices.sorted(by: sortOrder)
            for _ in 0..<rounds {
                let offsets = bestFitOffsets(buffers, order: order)
                let bytes = zip(buffers, offsets).map { $0.bytes + $1 }.max() ?? 0
                if best == nil || bytes < best!.bytes { best = (offsets, bytes) }
                if bytes <= lowerBound { return offsets }
                guard let top = order.firstIndex(where: { offsets[$0] + buffers[$0].bytes == bytes }), top > 0 else { break }
                order.insert(order.remove(at: top), at: 0)
            }
        }
        return best?.offsets ?? []
    }

    /// Greedy best fit: the buffers in `order`, each at the smallest gap between
    /// already-placed buffers whose lifetimes overlap its own, or above them all.
    ///
    /// Placed buffers are indexed by the blocks of 64 steps their lifetimes touch, so
    /// finding the overlapping ones looks only at buffers near in time.
    /// - Complexity: O(b · (k log k + t)), k the buffers live near the same time, t the
    ///   blocks a lifetime spans.
    static func bestFitOffsets(_ buffers: [(bytes: Int, first: Int, last: Int)], order: [Int]) -> [Int] {
        let blockSteps = 64
        var offsets = [Int](repeating: 0, count: buffers.count)
        let blocks = (buffers.map(\.last).max() ?? 0) / blockSteps + 1
        var placedIn = [[Int]](repeating: [], count: blocks)
        var seen = [Int](repeating: -1, count: buffers.count)
        for b in order {
            let me = buffers[b]
            var overlapping: [(offset: Int, end: Int)] = []
            for block in (Swift.max(me.first, 0) / blockSteps)...(Swift.max(me.last, 0) / blockSteps) {
                for p in placedIn[block] where seen[p] != b && buffers[p].first <= me.last && me.first <= buffers[p].last {
                    seen[p] = b
                    overlapping.append((offsets[p], offsets[p] + buffers[p].bytes))
                }
            }
            overlapping.sort { $0.offset < $1.offset }
            var best: (offset: Int, gap: Int)? = nil
            var cursor = 0
            for o in overlapping {
                let gap = o.offset - cursor
                if gap >= me.bytes, best == nil || gap < best!.gap { best = (cursor, gap) }
                cursor = Swift.max(cursor, o.end)
            }
            offsets[b] = best?.offset ?? cursor
            for block in (Swift.max(me.first, 0) / blockSteps)...(Swift.max(me.last, 0) / blockSteps) { placedIn[block].append(b) }
        }
        return offsets
    }

    /// The largest sum of buffer sizes live at one step.
    static func peakLiveBytes(_ buffers: [(bytes: Int, first: Int, last: Int)], steps: Int) -> Int {
        var delta = [Int](repeating: 0, count: steps + 2)
        for b in buffers {
            delta[b.first] += b.bytes
            delta[Swift.min(b.last, steps) + 1] -= b.bytes
        }
        var live = 0, peak = 0
        for d in delta { live += d; peak = Swift.max(peak, live) }
        return peak
    }
}
