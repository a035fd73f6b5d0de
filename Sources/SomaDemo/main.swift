import Soma

let g = Graph()
let x = try g.placeholder(.float32, shape: [nil, 3], name: "x")
let w = try g.variable(Tensor(repeating: Float(0.5), shape: [3, 2]), name: "w")
let y = try relu(matmul(x, w.value) - 1)
let s = Session(graph: g)
try s.run(target: g.globalVariablesInitializer())
print(try s.run(y, feeds: [x: try Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])]))
do {
    let bad = try g.variable(Tensor(repeating: Float(0.5), shape: [4, 5]), name: "w")
    _ = try g.withNameScope("dense") { try matmul(x, bad.value) }
} catch { print(error) }
