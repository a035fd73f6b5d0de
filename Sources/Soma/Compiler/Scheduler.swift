/// A memory-aware topological order of a plan's steps.
///
/// Greedy list scheduling: among the steps whose inputs are ready, run the one that grows
/// live memory least — the bytes it allocates minus the bytes of inputs it is the last
/// reader of — breaking ties by graph order. Scores go stale as other readers run, so a
/// popped step is re-scored and put back when it got worse (lazy re-evaluation).
///
/// - Complexity: O(n log n) for n steps, plus re-scoring.
struct MemoryAwareScheduler {
    let ir: IRGraph
    let steps: [IRNode]
    /// Ordering edges beyond data and control inputs (variable effects), by node id.
    var extraPredecessors: [Int: [IRNode]] = [:]

    func schedule() -> [IRNode] {
        let index = Dictionary(uniqueKeysWithValues: steps.enumerated().map { ($1.id, $0) })
        var predecessorCount = [Int](repeating: 0, count: steps.count)
        var successors = [[Int]](repeating: [], count: steps.count)
        var readers: [IRValue: Int] = [:]
        for (i, node) in steps.enumerated() {
            let preds = Set(node.inputs.compactMap { index[$0.node.id] } + node.controlInputs.compactMap { index[$0.id] }
                            + (extraPredecessors[node.id] ?? []).compactMap { index[$0.id] })
            predecessorCount[i] = preds.count
            for p in preds { successors[p].append(i) }
            for input in Set(node.inputs) where index[input.node.id] != nil { readers[input, default: 0] += 1 }
        }
        func bytes(_ v: IRValue) -> Int { (v.shape.elementCount ?? 0) * v.dtype.byteSize }
        func score(_ i: Int) -> Int {
            let node = steps[i]
            let allocated = PlanBuilder.forwardsInput(node) || PlanBuilder.returnsVariable(node)
                ? 0 : node.outputTypes.indices.reduce(0) { $0 + bytes(IRValue(node, $1)) }
            let freed = Set(node.inputs).filter { readers[$0] == 1 && index[$0.node.id] != nil }.reduce(0) { $0 + bytes($1) }
            return allocated - freed
        }
        var heap = Heap<(score: Int, position: Int)> { a, b in a.score != b.score ? a.score < b.score : a.position < b.position }
        for i in steps.indices where predecessorCount[i] == 0 { heap.push((score(i), i)) }
        var order: [IRNode] = []
        order.reserveCapacity(steps.count)
        while let top = heap.pop() {
            let current = score(top.position)
            if current > top.score, let next = heap.peek, current > next.score || (current == next.score && top.position > next.position) {
                heap.push((current, top.position))
                continue
            }
            let node = steps[top.position]
            order.append(node)
            for input in Set(node.inputs) where readers[input] != nil { readers[input]! -= 1 }
            for s in successors[top.position] {
                predecessorCount[s] -= 1
                if predecessorCount[s] == 0 { heap.push((score(s), s)) }
            }
        }
        return order
    }
}

/// A binary min-heap under `less`.
struct Heap<Element> {
    private var items: [Element] = []
    private let less: (Element, Element) -> Bool

    init(less: @escaping (Element, Element) -> Bool) { self.less = less }

    var peek: Element? { items.first }

    mutating func push(_ e: Element) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard less(items[i], items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Element? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && less(items[l], items[m]) { m = l }
            if r < items.count && less(items[r], items[m]) { m = r }
            guard m != i else { break }
            items.swapAt(i, m)
            i = m
        }
        return top
    }
}
