#!/usr/bin/env python3
"""Writes Tests/SomaTests/Fixtures/op_cases.json: op test cases with NumPy-computed outputs.

Each case names a TF op, its attributes and input tensors, and the expected outputs,
computed here with NumPy (an implementation independent of Soma's kernels). The Swift
test `OpFixtureTests` runs every case twice — inputs as constants (build-time shape
inference must give the exact output shapes) and inputs as placeholders of unknown shape
(the run-time path) — and compares.

    python3 Tools/make_op_fixtures.py          # regenerates the fixture (seeded, deterministic)
"""
import json
import math
import os

import numpy as np

rng = np.random.default_rng(20261129)
cases = []

DT = {"float32": np.float32, "float64": np.float64, "int32": np.int32, "int64": np.int64,
      "uint8": np.uint8, "bool": np.bool_}


def enc_value(v, dtype):
    if dtype == "bool":
        return bool(v)
    if dtype in ("float32", "float64"):
        f = float(v)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    return int(v)


def tensor(a, dtype=None):
    a = np.asarray(a)
    dtype = dtype or {np.dtype(v): k for k, v in DT.items()}[a.dtype]
    a = a.astype(DT[dtype])
    return {"dtype": dtype, "shape": list(a.shape), "values": [enc_value(v, dtype) for v in a.reshape(-1)]}


def case(name, op, inputs, outputs, attrs=None, tol=1e-6):
    cases.append({"name": name, "op": op, "attrs": attrs or {}, "inputs": inputs, "outputs": outputs,
                  "tolerance": tol})


def rand(shape, dtype="float32", low=-3, high=3):
    if dtype in ("float32", "float64"):
        return rng.uniform(low, high, size=shape).astype(DT[dtype])
    if dtype == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dtype == "uint8":
        return rng.integers(0, max(high, 1) * 20, size=shape).astype(np.uint8)
    return rng.integers(low * 10, high * 10, size=shape).astype(DT[dtype])


def attr_type(t):
    return {"type": t}


# ---------------------------------------------------------------- binary arithmetic
BROADCAST_SHAPES = [((2, 3), (2, 3)), ((2, 3), (3,)), ((4, 1), (1, 5)), ((2, 1, 3), (4, 1)), ((), (2, 2)),
                    ((3,), ()), ((0, 3), (3,)), ((2, 0), (1, 1))]


def trunc_div(a, b):
    return np.trunc(a.astype(np.float64) / b.astype(np.float64)).astype(a.dtype)


def binary(op, fn, dtypes, nonzero_rhs=False, positive=False, nonneg_rhs=False, shapes=BROADCAST_SHAPES):
    for dtype in dtypes:
        for (sa, sb) in shapes:
            a = rand(sa, dtype, 1 if positive else -3, 4)
            b = rand(sb, dtype, 1 if positive else -3, 4)
            if nonzero_rhs:
                b = np.where(b == 0, np.asarray(1, b.dtype), b)
            if nonneg_rhs:
                b = np.abs(b) % 5 if dtype != "uint8" else b % 5
            with np.errstate(all="ignore"):
                out = np.asarray(fn(a, b))
            case(f"{op}/{dtype}/{sa}x{sb}", op, [tensor(a, dtype), tensor(b, dtype)],
                 [tensor(out.astype(DT[dtype]), dtype)], tol=1e-5)


NUM = ["float32", "float64", "int32", "int64", "uint8"]
SIGNED = ["float32", "float64", "int32", "int64"]
binary("AddV2", np.add, NUM)
binary("Add", np.add, ["float32", "int32"], shapes=BROADCAST_SHAPES[:3])
binary("Sub", np.subtract, NUM)
binary("Mul", np.multiply, NUM)
binary("RealDiv", np.divide, ["float32", "float64"], nonzero_rhs=True)
binary("RealDiv", trunc_div, ["int32", "int64", "uint8"], nonzero_rhs=True, shapes=BROADCAST_SHAPES[:4])
binary("FloorDiv", np.floor_divide, ["int32", "int64", "uint8"], nonzero_rhs=True)
binary("FloorDiv", lambda a, b: np.floor(a / b), ["float32", "float64"], nonzero_rhs=True, shapes=BROADCAST_SHAPES[:4])
binary("FloorMod", np.mod, ["int32", "int64", "uint8", "float64"], nonzero_rhs=True)
binary("FloorMod", np.mod, ["float32"], nonzero_rhs=True, shapes=BROADCAST_SHAPES[:3])
binary("Maximum", np.maximum, NUM)
binary("Minimum", np.minimum, NUM)
binary("Pow", np.power, ["float32", "float64"], positive=True)
binary("Pow", np.power, ["int32", "int64"], nonneg_rhs=True, shapes=BROADCAST_SHAPES[:4])
binary("SquaredDifference", lambda a, b: (a - b) * (a - b), SIGNED)

# NaN propagation and IEEE edge values.
edge = np.array([np.nan, 1.0, -np.inf, np.inf, 0.0, -2.5], dtype=np.float32)
edge2 = np.array([1.0, np.nan, 3.0, -np.inf, -0.0, 2.0], dtype=np.float32)
case("Maximum/nan", "Maximum", [tensor(edge), tensor(edge2)], [tensor(np.maximum(edge, edge2))])
case("Minimum/nan", "Minimum", [tensor(edge), tensor(edge2)], [tensor(np.minimum(edge, edge2))])
with np.errstate(all="ignore"):
    case("RealDiv/ieee", "RealDiv", [tensor(edge), tensor(np.array([0, 0, 2, -1, 0, 4], np.float32))],
         [tensor(edge / np.array([0, 0, 2, -1, 0, 4], np.float32))])
i32 = np.array([2147483647, -2147483648, 7, -7], np.int32)
with np.errstate(all="ignore"):
    case("AddV2/int32_wraps", "AddV2", [tensor(i32), tensor(np.array([1, -1, 1, 1], np.int32))],
         [tensor((i32.astype(np.int64) + [1, -1, 1, 1]).astype(np.int32))])
case("FloorDiv/negative", "FloorDiv", [tensor(np.array([7, -7, 7, -7], np.int32)), tensor(np.array([2, 2, -2, -2], np.int32))],
     [tensor(np.array([3, -4, -4, 3], np.int32))])
case("FloorMod/negative", "FloorMod", [tensor(np.array([7, -7, 7, -7], np.int32)), tensor(np.array([3, 3, -3, -3], np.int32))],
     [tensor(np.array([1, 2, -2, -1], np.int32))])

# ---------------------------------------------------------------- comparisons and logic
for op, fn in [("Equal", np.equal), ("NotEqual", np.not_equal), ("Less", np.less), ("LessEqual", np.less_equal),
               ("Greater", np.greater), ("GreaterEqual", np.greater_equal)]:
    for dtype in NUM:
        for (sa, sb) in BROADCAST_SHAPES[:5]:
            a = rand(sa, dtype, -2, 2)
            b = rand(sb, dtype, -2, 2)
            case(f"{op}/{dtype}/{sa}x{sb}", op, [tensor(a, dtype), tensor(b, dtype)], [tensor(fn(a, b), "bool")])
a = rand((3, 4), "bool"); b = rand((4,), "bool")
case("Equal/bool", "Equal", [tensor(a), tensor(b)], [tensor(a == b)])
case("NotEqual/bool", "NotEqual", [tensor(a), tensor(b)], [tensor(a != b)])
case("Equal/nan", "Equal", [tensor(edge), tensor(edge)], [tensor(edge == edge)])
case("LogicalAnd", "LogicalAnd", [tensor(a), tensor(b)], [tensor(a & b)])
case("LogicalOr", "LogicalOr", [tensor(a), tensor(b)], [tensor(a | b)])
case("LogicalAnd/scalar", "LogicalAnd", [tensor(a), tensor(np.array(True))], [tensor(a)])
case("LogicalNot", "LogicalNot", [tensor(a)], [tensor(~a)])
for dtype in ["float32", "int64", "bool", "uint8"]:
    for sc, st, se in [((2, 3), (2, 3), (2, 3)), ((3,), (2, 3), ()), ((2, 1), (1, 3), (2, 3)), ((), (4,), (4,))]:
        c = rand(sc, "bool"); t = rand(st, dtype); e = rand(se, dtype)
        case(f"SelectV2/{dtype}/{sc}{st}{se}", "SelectV2", [tensor(c), tensor(t, dtype), tensor(e, dtype)],
             [tensor(np.where(c, t, e), dtype)])

# ---------------------------------------------------------------- unary
def unary(op, fn, dtypes, low=-3, high=3, shapes=((2, 3), (), (0, 4), (5,)), tol=1e-6):
    for dtype in dtypes:
        for s in shapes:
            x = rand(s, dtype, low, high)
            with np.errstate(all="ignore"):
                out = np.asarray(fn(x.astype(np.float64) if dtype.startswith("float") else x))
            case(f"{op}/{dtype}/{s}", op, [tensor(x, dtype)], [tensor(out.astype(DT[dtype]), dtype)], tol=tol)


FL = ["float32", "float64"]
unary("Neg", np.negative, SIGNED)
unary("Abs", np.abs, SIGNED)
unary("Sign", np.sign, SIGNED)
unary("Exp", np.exp, FL)
unary("Log", np.log, FL, 0.01, 5)
unary("Log1p", np.log1p, FL, -0.9, 5)
unary("Sqrt", np.sqrt, FL, 0, 5)
unary("Rsqrt", lambda v: 1 / np.sqrt(v), FL, 0.1, 5)
unary("Square", np.square, NUM)
unary("Reciprocal", np.reciprocal, FL, 0.5, 4)
unary("Erf", np.vectorize(math.erf, otypes=[np.float64]), FL)
unary("Erfc", np.vectorize(math.erfc, otypes=[np.float64]), FL, -4, 6, tol=1e-5)
unary("Floor", np.floor, FL)
unary("Ceil", np.ceil, FL)
unary("Round", np.round, FL)
unary("Round", lambda v: v, ["int32", "int64"])
halves = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997], np.float32)
case("Round/half_to_even", "Round", [tensor(halves)], [tensor(np.round(halves))])
case("Sign/nan", "Sign", [tensor(edge)], [tensor(np.sign(edge))])
case("Log/edge", "Log", [tensor(np.array([0.0, -1.0, np.inf, 1.0], np.float32))],
     [tensor(np.array([-np.inf, np.nan, np.inf, 0.0], np.float32))])
case("Exp/overflow", "Exp", [tensor(np.array([100.0, -100.0, np.nan], np.float32))],
     [tensor(np.array([np.inf, np.exp(np.float32(-100)), np.nan], np.float32))], tol=1e-6)

for src in DT:
    for dst in DT:
        if src == dst:
            continue
        if src.startswith("float"):
            x = rng.uniform(-100, 200, size=(2, 4))
            if dst == "uint8":
                x = rng.uniform(0, 250, size=(2, 4))
            x = x.astype(DT[src])
        else:
            x = rand((2, 4), src, 0 if src == "uint8" else -5, 10)
        out = x.astype(np.float64) if dst.startswith("float") and src.startswith("float") else x
        if src.startswith("float") and not dst.startswith("float") and dst != "bool":
            out = np.trunc(x.astype(np.float64))
        with np.errstate(all="ignore"):
            y = np.asarray(out).astype(DT[dst])
        case(f"Cast/{src}->{dst}", "Cast", [tensor(x, src)], [tensor(y, dst)], attrs={"DstT": attr_type(dst)})
big = np.array([300, -1, 255, 256], np.int32)
case("Cast/int32->uint8_wraps", "Cast", [tensor(big)], [tensor(big.astype(np.uint8), "uint8")],
     attrs={"DstT": attr_type("uint8")})

# ---------------------------------------------------------------- activations
def f64(fn):
    return lambda v: fn(v.astype(np.float64))


acts = {
    "Relu": lambda v: np.maximum(v, 0),
    "Relu6": lambda v: np.minimum(np.maximum(v, 0), 6),
    "Elu": lambda v: np.where(v > 0, v, np.expm1(v)),
    "Selu": lambda v: 1.0507009873554804934193349852946 * np.where(v > 0, v, 1.6732632423543772848170429916717 * np.expm1(v)),
    "Softplus": lambda v: np.logaddexp(0, v),
    "Softsign": lambda v: v / (1 + np.abs(v)),
    "Sigmoid": lambda v: 1 / (1 + np.exp(-v)),
    "Tanh": np.tanh,
}
for op, fn in acts.items():
    unary(op, fn, FL, -8, 8, tol=1e-5)
unary("Relu", lambda v: np.maximum(v, 0), ["int32", "int64"])
unary("Relu6", lambda v: np.minimum(np.maximum(v, 0), 6), ["int32"], -10, 10)
wide = np.array([-100, -20, -5, 0, 5, 20, 100], np.float32)
for op in ["Softplus", "Sigmoid", "Tanh", "Elu", "Selu"]:
    case(f"{op}/extremes", op, [tensor(wide)], [tensor(acts[op](wide.astype(np.float64)).astype(np.float32))], tol=1e-5)
for alpha in [0.2, 0.01]:
    x = rand((3, 4), "float32")
    case(f"LeakyRelu/{alpha}", "LeakyRelu", [tensor(x)], [tensor(np.where(x > 0, x, alpha * x).astype(np.float32))],
         attrs={"alpha": {"f": alpha}})


def softmax(v):
    if v.size == 0:
        return v
    e = np.exp(v - v.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


for dtype in FL:
    for s in [(4,), (3, 5), (2, 3, 4), (2, 0), (0, 3)]:
        x = rand(s, dtype, -10, 10)
        case(f"Softmax/{dtype}/{s}", "Softmax", [tensor(x, dtype)], [tensor(softmax(x.astype(np.float64)), dtype)], tol=1e-5)
        ls = x.astype(np.float64) - x.max(axis=-1, keepdims=True) if x.size else x
        if x.size:
            ls = ls - np.log(np.exp(ls).sum(axis=-1, keepdims=True))
        case(f"LogSoftmax/{dtype}/{s}", "LogSoftmax", [tensor(x, dtype)], [tensor(ls, dtype)], tol=1e-5)
big_logits = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1000.0, -1000.0]], np.float32)
case("Softmax/large", "Softmax", [tensor(big_logits)], [tensor(softmax(big_logits.astype(np.float64)), "float32")], tol=1e-6)

for dtype in ["float32", "float64", "int32"]:
    for s in [(2, 3), (2, 2, 2, 3), (0, 3)]:
        v = rand(s, dtype); bias = rand((s[-1],), dtype)
        case(f"BiasAdd/{dtype}/{s}", "BiasAdd", [tensor(v, dtype), tensor(bias, dtype)], [tensor(v + bias, dtype)])
v = rand((2, 3, 2, 2)); bias = rand((3,))
case("BiasAdd/NCHW", "BiasAdd", [tensor(v), tensor(bias)], [tensor(v + bias.reshape(1, 3, 1, 1))],
     attrs={"data_format": {"s": "NCHW"}})

# ---------------------------------------------------------------- matrix products
for dtype in ["float32", "float64", "int32", "int64"]:
    for ta in [False, True]:
        for tb in [False, True]:
            a = rand((3, 4), dtype, -3, 3); b = rand((4, 5), dtype, -3, 3)
            ain = a.T.copy() if ta else a; bin_ = b.T.copy() if tb else b
            case(f"MatMul/{dtype}/ta={ta}/tb={tb}", "MatMul", [tensor(ain, dtype), tensor(bin_, dtype)],
                 [tensor(a.astype(np.float64) @ b.astype(np.float64), dtype)],
                 attrs={"transpose_a": {"b": ta}, "transpose_b": {"b": tb}}, tol=1e-5)
for sa, sb in [((3, 0), (0, 2)), ((0, 3), (3, 2)), ((1, 1), (1, 1)), ((17, 33), (33, 9))]:
    a = rand(sa); b = rand(sb)
    case(f"MatMul/{sa}x{sb}", "MatMul", [tensor(a), tensor(b)], [tensor((a.astype(np.float64) @ b).astype(np.float32))], tol=1e-5)
for dtype in ["float32", "float64", "int32"]:
    for sa, sb, ax, ay in [((2, 3, 4), (2, 4, 5), False, False), ((2, 1, 3, 4), (3, 5, 4), False, True),
                           ((4, 3), (2, 4, 2), True, False), ((2, 4, 3), (1, 2, 4), True, True), ((0, 2, 3), (3, 4), False, False)]:
        x = rand(sa, dtype); y = rand(sb, dtype)
        xm = np.swapaxes(x, -1, -2) if ax else x
        ym = np.swapaxes(y, -1, -2) if ay else y
        case(f"BatchMatMulV2/{dtype}/{sa}x{sb}/{ax}{ay}", "BatchMatMulV2", [tensor(x, dtype), tensor(y, dtype)],
             [tensor(np.matmul(xm.astype(np.float64), ym.astype(np.float64)), dtype)],
             attrs={"adj_x": {"b": ax}, "adj_y": {"b": ay}}, tol=1e-5)

# ---------------------------------------------------------------- reductions
def int_mean(v, axis, keepdims):
    s = np.sum(v.astype(np.int64), axis=axis, keepdims=keepdims)
    n = v.size // max(np.asarray(s).size, 1) if v.size else 0
    return np.trunc(s / n) if n else s


reds = {"Sum": np.sum, "Mean": np.mean, "Max": np.max, "Min": np.min, "Prod": np.prod}
for op, fn in reds.items():
    for dtype in NUM:
        for s, axes in [((2, 3, 4), [1]), ((2, 3, 4), [0, 2]), ((2, 3, 4), [-1]), ((2, 3, 4), [0, 1, 2]),
                        ((5,), [0]), ((2, 3), []), ((3, 1, 2), [1]), ((2, 3, 4), [2, 0])]:
            for keep in [False, True]:
                x = rand(s, dtype, -2, 3) if op == "Prod" else rand(s, dtype)
                if dtype == "uint8" and op == "Prod":
                    x = x % 3
                ax = tuple(sorted(set(a % len(s) for a in axes)))
                if op == "Mean" and dtype != "float32" and dtype != "float64":
                    out = int_mean(x, ax, keep)
                else:
                    with np.errstate(all="ignore"):
                        out = fn(x.astype(np.float64) if dtype.startswith("float") else x, axis=ax, keepdims=keep)
                case(f"{op}/{dtype}/{s}/{axes}/keep={keep}", op, [tensor(x, dtype), tensor(np.array(axes, np.int32), "int32")],
                     [tensor(np.asarray(out).astype(DT[dtype]), dtype)], attrs={"keep_dims": {"b": keep}}, tol=1e-5)
x = rand((0, 3))
case("Sum/empty", "Sum", [tensor(x), tensor(np.array([0], np.int32))], [tensor(np.zeros(3, np.float32))])
case("Prod/empty", "Prod", [tensor(x), tensor(np.array([0], np.int32))], [tensor(np.ones(3, np.float32))])
case("Max/empty", "Max", [tensor(x), tensor(np.array([0], np.int32))], [tensor(np.full(3, -np.inf, np.float32))])
x = rand((2, 3))
case("Sum/int64_axes", "Sum", [tensor(x), tensor(np.array([1], np.int64), "int64")],
     [tensor(np.sum(x.astype(np.float64), axis=1).astype(np.float32))])
for op, fn in [("All", np.all), ("Any", np.any)]:
    for s, axes in [((3, 4), [1]), ((3, 4), [0, 1]), ((2, 0), [1]), ((2, 3, 2), [0, 2])]:
        for keep in [False, True]:
            x = rand(s, "bool")
            case(f"{op}/{s}/{axes}/{keep}", op, [tensor(x), tensor(np.array(axes, np.int32))],
                 [tensor(fn(x, axis=tuple(axes), keepdims=keep), "bool")], attrs={"keep_dims": {"b": keep}})
for op, fn in [("ArgMax", np.argmax), ("ArgMin", np.argmin)]:
    for dtype in NUM:
        for s, axis in [((3, 4), 1), ((3, 4), 0), ((2, 3, 4), -1), ((5,), 0), ((2, 3, 4), 1)]:
            x = rand(s, dtype, -2, 2)  # small range: ties, first index wins
            for out_type in ["int64", "int32"]:
                case(f"{op}/{dtype}/{s}/{axis}/{out_type}", op, [tensor(x, dtype), tensor(np.array(axis, np.int32))],
                     [tensor(fn(x, axis=axis), out_type)], attrs={"output_type": attr_type(out_type)})

# ---------------------------------------------------------------- shapes and arrays
for dtype in ["float32", "int64", "bool"]:
    x = rand((2, 3, 4), dtype)
    case(f"Shape/{dtype}", "Shape", [tensor(x, dtype)], [tensor(np.array(x.shape), "int32")])
    case(f"Size/{dtype}", "Size", [tensor(x, dtype)], [tensor(np.array(x.size), "int32")])
    case(f"Rank/{dtype}", "Rank", [tensor(x, dtype)], [tensor(np.array(x.ndim), "int32")])
case("Shape/int64", "Shape", [tensor(rand((0, 5)))], [tensor(np.array([0, 5]), "int64")], attrs={"out_type": attr_type("int64")})
case("Shape/scalar", "Shape", [tensor(rand(()))], [tensor(np.zeros(0), "int32")])
case("Size/int64", "Size", [tensor(rand((3, 5)))], [tensor(np.array(15), "int64")], attrs={"out_type": attr_type("int64")})

for s, new in [((2, 3, 4), [6, 4]), ((2, 3, 4), [-1]), ((2, 3, 4), [4, -1, 2]), ((6,), [1, 2, 1, 3]), ((), [1, 1]),
               ((0, 4), [4, 2, 0]), ((1,), [])]:
    for dtype in ["float32", "uint8"]:
        x = rand(s, dtype)
        case(f"Reshape/{dtype}/{s}->{new}", "Reshape", [tensor(x, dtype), tensor(np.array(new, np.int32), "int32")],
             [tensor(x.reshape(new), dtype)])
for s, axis in [((2, 3), 0), ((2, 3), 2), ((2, 3), -1), ((2, 3), -3), ((), 0)]:
    x = rand(s)
    case(f"ExpandDims/{s}/{axis}", "ExpandDims", [tensor(x), tensor(np.array(axis, np.int32))], [tensor(np.expand_dims(x, axis))])
for s, dims in [((1, 3, 1, 2), []), ((1, 3, 1, 2), [0]), ((1, 3, 1, 2), [2, -4]), ((1,), []), ((1, 1), [-1])]:
    x = rand(s, "int32")
    out = np.squeeze(x, axis=tuple(dims)) if dims else np.squeeze(x)
    case(f"Squeeze/{s}/{dims}", "Squeeze", [tensor(x)], [tensor(out)], attrs={"squeeze_dims": {"ints": dims}})
for s, perm in [((2, 3), [1, 0]), ((2, 3, 4), [2, 0, 1]), ((2, 3, 4), [0, 1, 2]), ((2, 1, 3, 2), [3, 1, 0, 2]), ((0, 3), [1, 0]),
                ((5,), [0])]:
    for dtype in ["float64", "uint8", "int32"]:
        x = rand(s, dtype)
        case(f"Transpose/{dtype}/{s}/{perm}", "Transpose", [tensor(x, dtype), tensor(np.array(perm, np.int32))],
             [tensor(np.transpose(x, perm), dtype)])
for shapes, axis in [([(2, 3), (2, 5)], 1), ([(2, 3), (4, 3), (1, 3)], 0), ([(2, 3, 2), (2, 1, 2)], -2), ([(2, 0), (2, 3)], 1),
                     ([(3,), (0,), (2,)], 0)]:
    for dtype in ["float32", "bool", "int64"]:
        xs = [rand(s, dtype) for s in shapes]
        case(f"ConcatV2/{dtype}/{shapes}/{axis}", "ConcatV2", [tensor(x, dtype) for x in xs] + [tensor(np.array(axis, np.int32))],
             [tensor(np.concatenate(xs, axis=axis), dtype)])
for s, n, axis in [((2, 3), 3, 0), ((2, 3), 2, 1), ((2, 3), 2, -1), ((), 4, 0), ((0, 2), 2, 1)]:
    xs = [rand(s, "int32") for _ in range(n)]
    case(f"Pack/{s}/{n}/{axis}", "Pack", [tensor(x) for x in xs], [tensor(np.stack(xs, axis=axis))], attrs={"axis": {"i": axis}})
for s, axis in [((3, 2), 0), ((3, 2), 1), ((2, 3, 4), -1), ((4,), 0)]:
    x = rand(s)
    outs = [np.take(x, i, axis=axis) for i in range(x.shape[axis])]
    case(f"Unpack/{s}/{axis}", "Unpack", [tensor(x)], [tensor(o, "float32") for o in outs],
         attrs={"num": {"i": len(outs)}, "axis": {"i": axis}})
for s, n, axis in [((6, 2), 3, 0), ((2, 6), 2, 1), ((2, 4, 2), 4, -2), ((0, 4), 2, 1)]:
    x = rand(s, "int64")
    case(f"Split/{s}/{n}/{axis}", "Split", [tensor(np.array(axis, np.int32)), tensor(x)],
         [tensor(o) for o in np.split(x, n, axis=axis)], attrs={"num_split": {"i": n}})
for s, sizes, axis in [((7, 2), [2, 4, 1], 0), ((2, 6), [1, -1, 2], 1), ((5,), [5], 0), ((3, 4), [0, 4], -1)]:
    x = rand(s)
    resolved = list(sizes)
    if -1 in resolved:
        resolved[resolved.index(-1)] = x.shape[axis] - (sum(sizes) + 1)
    splits = np.split(x, np.cumsum(resolved)[:-1], axis=axis)
    case(f"SplitV/{s}/{sizes}/{axis}", "SplitV",
         [tensor(x), tensor(np.array(sizes, np.int64), "int64"), tensor(np.array(axis, np.int32))],
         [tensor(o, "float32") for o in splits], attrs={"num_split": {"i": len(sizes)}})
for s, begin, size in [((4, 5), [1, 2], [2, 3]), ((4, 5), [0, 0], [-1, -1]), ((4, 5), [3, 1], [1, -1]), ((2, 3, 4), [1, 0, 2], [1, 3, 2]),
                       ((4, 5), [2, 2], [0, 3]), ((3,), [3], [0])]:
    x = rand(s, "float64")
    idx = tuple(slice(b, None if z == -1 else b + z) for b, z in zip(begin, size))
    case(f"Slice/{s}/{begin}/{size}", "Slice", [tensor(x, "float64"), tensor(np.array(begin, np.int32)), tensor(np.array(size, np.int32))],
         [tensor(x[idx], "float64")])


def strided_reference(x, begin, end, strides, bm, em, elm, nam, sam):
    idx = []
    for i in range(len(begin)):
        if elm >> i & 1:
            idx.append(Ellipsis)
        elif nam >> i & 1:
            idx.append(np.newaxis)
        elif sam >> i & 1:
            idx.append(begin[i])
        else:
            idx.append(slice(None if bm >> i & 1 else begin[i], None if em >> i & 1 else end[i], strides[i]))
    return x[tuple(idx)]


SS = [
    ((5,), [1], [4], [1], 0, 0, 0, 0, 0),
    ((5,), [-1], [0], [-1], 0, 0, 0, 0, 0),
    ((5,), [0], [0], [-1], 1, 1, 0, 0, 0),           # x[::-1]
    ((5,), [0], [0], [2], 1, 1, 0, 0, 0),            # x[::2]
    ((5,), [10], [-10], [-2], 0, 0, 0, 0, 0),        # clamped
    ((4, 6), [1, 0], [3, 0], [1, 1], 0, 2, 0, 0, 0), # x[1:3, :]
    ((4, 6), [0, 1], [0, 5], [1, 2], 1, 0, 0, 0, 0), # x[:, 1:5:2]
    ((4, 6), [2], [3], [1], 0, 0, 0, 0, 1),          # x[2]
    ((4, 6), [-1, 2], [0, 3], [1, 1], 0, 0, 0, 0, 3),# x[-1, 2]
    ((2, 3, 4), [0, 1], [0, 2], [1, 1], 0, 0, 1, 0, 0),  # x[..., 1:2]
    ((2, 3, 4), [0, 0, 1], [0, 0, 3], [1, 1, 1], 0, 0, 2, 0, 0),  # x[0:0, ..., 1:3]
    ((2, 3, 4), [1, 0], [2, 0], [1, 1], 0, 0, 2, 0, 1),  # x[1, ...]
    ((2, 3), [0, 0], [0, 0], [1, 1], 0, 0, 2, 1, 0),  # x[newaxis, ...]
    ((2, 3), [0, 0, 0], [2, 0, 3], [1, 1, 1], 0, 0, 0, 2, 0),  # x[0:2, newaxis, 0:3]
    ((2, 3, 4), [0, 0, 0], [0, 0, 0], [1, 1, -1], 7, 7, 0, 0, 0),  # x[:, :, ::-1]
    ((2, 3, 4), [1, 0, 2], [0, 0, 0], [1, 1, 1], 0, 0, 2, 0, 5),   # x[1, ..., 2]
    ((2, 3, 4), [0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], 8, 8, 2, 9, 0),  # x[newaxis, ..., newaxis, :]
    ((3, 4), [1, -1], [0, 0], [1, -1], 0, 2, 0, 0, 1),  # x[1, -1::-1]
    ((6,), [5], [1], [-2], 0, 0, 0, 0, 0),           # x[5:1:-2]
    ((0, 3), [0, 0], [0, 2], [1, 1], 1, 0, 0, 0, 0), # zero-size input
]
for (s, b, e, st, bm, em, elm, nam, sam) in SS:
    for dtype in ["float32", "int32"]:
        x = rand(s, dtype)
        out = strided_reference(x, b, e, st, bm, em, elm, nam, sam)
        case(f"StridedSlice/{dtype}/{s}/{b}:{e}:{st}/b{bm}e{em}el{elm}n{nam}s{sam}", "StridedSlice",
             [tensor(x, dtype), tensor(np.array(b, np.int32)), tensor(np.array(e, np.int32)), tensor(np.array(st, np.int32))],
             [tensor(np.asarray(out), dtype)],
             attrs={"begin_mask": {"i": bm}, "end_mask": {"i": em}, "ellipsis_mask": {"i": elm}, "new_axis_mask": {"i": nam},
                    "shrink_axis_mask": {"i": sam}})
x = rand((4, 6), "int64")
case("StridedSlice/int64_indices", "StridedSlice",
     [tensor(x), tensor(np.array([1, 5], np.int64), "int64"), tensor(np.array([4, 0], np.int64), "int64"),
      tensor(np.array([2, -2], np.int64), "int64")], [tensor(x[1:4:2, 5:0:-2])])

for s, pads in [((2, 3), [[1, 0], [2, 1]]), ((3,), [[0, 0]]), ((2, 1, 2), [[0, 1], [1, 1], [2, 0]]), ((0, 2), [[1, 1], [0, 0]]), ((), [])]:
    for dtype in ["float32", "int32", "uint8"]:
        x = rand(s, dtype)
        p = np.array(pads, np.int32).reshape(len(s), 2)
        case(f"Pad/{dtype}/{s}/{pads}", "Pad", [tensor(x, dtype), tensor(p)], [tensor(np.pad(x, p) if s else x, dtype)])
        cv = np.asarray(7, DT[dtype])
        case(f"PadV2/{dtype}/{s}/{pads}", "PadV2", [tensor(x, dtype), tensor(p), tensor(cv, dtype)],
             [tensor(np.pad(x, p, constant_values=cv) if s else x, dtype)])
for s, m in [((2, 3), [2, 1]), ((2, 3), [1, 3]), ((3,), [0]), ((2, 1, 2), [1, 3, 2]), ((), [])]:
    for dtype in ["float64", "bool"]:
        x = rand(s, dtype)
        case(f"Tile/{dtype}/{s}/{m}", "Tile", [tensor(x, dtype), tensor(np.array(m, np.int32), "int32")],
             [tensor(np.tile(x, m) if s else x, dtype)])
for dims, value, dtype in [([2, 3], 1.5, "float32"), ([4], 7, "int64"), ([], 2, "int32"), ([2, 0], 1, "float64"), ([3], True, "bool")]:
    case(f"Fill/{dims}/{dtype}", "Fill", [tensor(np.array(dims, np.int32), "int32"), tensor(np.asarray(value), dtype)],
         [tensor(np.full(dims, value), dtype)])
for dtype in ["float32", "int32", "bool", "uint8"]:
    x = rand((2, 3), dtype)
    case(f"ZerosLike/{dtype}", "ZerosLike", [tensor(x, dtype)], [tensor(np.zeros_like(x), dtype)])
    case(f"OnesLike/{dtype}", "OnesLike", [tensor(x, dtype)], [tensor(np.ones_like(x), dtype)])
for s, l, d, dtype in [(0, 5, 1, "int32"), (2, 11, 3, "int32"), (10, 0, -3, "int64"), (0, 1, 0.25, "float32"), (1, -1, -0.5, "float64"),
                       (3, 3, 1, "int32"), (0.5, 2.0, 0.4, "float32")]:
    case(f"Range/{s}/{l}/{d}/{dtype}", "Range", [tensor(np.asarray(s), dtype), tensor(np.asarray(l), dtype), tensor(np.asarray(d), dtype)],
         [tensor(np.arange(s, l, d).astype(DT[dtype]), dtype)])


def gather_ref(params, indices, axis, batch_dims):
    if batch_dims == 0:
        return np.take(params, indices, axis=axis)
    return np.stack([gather_ref(p, i, axis - 1, batch_dims - 1) for p, i in zip(params, indices)])


for ps, ishape, axis, bd in [((5, 3), (4,), 0, 0), ((5, 3), (2, 2), 1, 0), ((2, 4, 3), (2, 5), 1, 1), ((3, 5), (), 1, 0),
                             ((2, 3, 4), (2, 3, 2), 2, 2), ((4,), (0,), 0, 0), ((3, 4, 2), (3,), -2, 0)]:
    for dtype in ["float32", "int64", "bool"]:
        params = rand(ps, dtype)
        a = axis % len(ps)
        idx = rng.integers(0, ps[a], size=ishape)
        for itype in ["int32", "int64"]:
            case(f"GatherV2/{dtype}/{ps}/{ishape}/{axis}/{bd}/{itype}", "GatherV2",
                 [tensor(params, dtype), tensor(idx, itype), tensor(np.array(axis, np.int32))],
                 [tensor(gather_ref(params, idx, a, bd), dtype)], attrs={"batch_dims": {"i": bd}})


def one_hot_ref(indices, depth, on, off, axis):
    out = np.where(indices[..., None] == np.arange(depth), on, off)
    if axis != -1:
        out = np.moveaxis(out, -1, axis)
    return out


for ishape, depth, axis, itype, dtype in [((4,), 3, -1, "int32", "float32"), ((2, 3), 4, 0, "int64", "int32"),
                                          ((2, 3), 4, 1, "uint8", "float64"), ((), 5, -1, "int32", "float32"),
                                          ((3,), 0, -1, "int64", "float32")]:
    idx = rng.integers(-1, depth + 1, size=ishape)  # includes out-of-range values
    if itype == "uint8":
        idx = np.abs(idx)
    on, off = np.asarray(5, DT[dtype]), np.asarray(-1 if dtype != "uint8" else 0, DT[dtype])
    case(f"OneHot/{ishape}/{depth}/{axis}/{itype}/{dtype}", "OneHot",
         [tensor(idx, itype), tensor(np.array(depth, np.int32)), tensor(on, dtype), tensor(off, dtype)],
         [tensor(one_hot_ref(idx, depth, on, off, axis), dtype)], attrs={"axis": {"i": axis}})
for s, target in [((3,), [2, 3]), ((2, 1), [2, 4]), ((), [3, 2]), ((1, 3), [0, 3]), ((2, 3), [2, 3]), ((1,), [2, 1, 3])]:
    for dtype in ["float32", "uint8"]:
        x = rand(s, dtype)
        case(f"BroadcastTo/{dtype}/{s}/{target}", "BroadcastTo", [tensor(x, dtype), tensor(np.array(target, np.int32))],
             [tensor(np.broadcast_to(x, target), dtype)])

for op in ["Identity", "StopGradient"]:
    for dtype in ["float32", "bool"]:
        x = rand((2, 2), dtype)
        case(f"{op}/{dtype}", op, [tensor(x, dtype)], [tensor(x, dtype)])

# Einsum: Keras MultiHeadAttention's equations, batched and plain products, an ellipsis,
# sums within one operand, one-operand transposes and reductions (TF's op needs '->').
EINSUM = [("ij,jk->ik", (3, 4), (4, 5)), ("bij,bjk->bik", (2, 3, 4), (2, 4, 5)), ("abc,cde->abde", (2, 3, 4), (4, 2, 3)),
          ("aecd,abcd->acbe", (2, 5, 3, 4), (2, 6, 3, 4)), ("acbe,aecd->abcd", (2, 3, 6, 5), (2, 5, 3, 4)),
          ("abcd,cde->abe", (2, 3, 4, 5), (4, 5, 6)), ("...ij,...jk->...ik", (2, 3, 4, 5), (2, 3, 5, 2)),
          ("ij,jk->ki", (3, 4), (4, 2)), ("ij,ij->", (3, 4), (3, 4)), ("i,j->ij", (3,), (4,)), ("bij,bkj->bki", (2, 3, 4), (2, 5, 4)),
          ("ijk,kl->il", (2, 3, 4), (4, 5)), ("ab,cd->", (2, 3), (4, 5)), ("ij->ji", (3, 4)), ("ijk->ik", (2, 3, 4)),
          ("ij->", (3, 4)), ("ba->ab", (2, 3)), ("ij,jk->ik", (0, 4), (4, 5)), ("ij,jk->ik", (3, 0), (0, 5))]
for equation, *shapes in EINSUM:
    for dtype in ["float32", "float64"]:
        xs = [rand(shape, dtype) for shape in shapes]
        expected = np.einsum(equation, *[x.astype(np.float64) for x in xs]).astype(DT[dtype])
        case(f"Einsum/{dtype}/{equation}/{shapes}", "Einsum", [tensor(x, dtype) for x in xs], [tensor(expected, dtype)],
             attrs={"equation": {"s": equation}}, tol=1e-5)

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "SomaTests", "Fixtures", "op_cases.json")
with open(out, "w") as f:
    json.dump({"generator": "Tools/make_op_fixtures.py", "numpy": np.__version__, "cases": cases}, f, separators=(",", ":"))
print(f"wrote {len(cases)} cases to {os.path.normpath(out)} ({os.path.getsize(out) // 1024} KiB)")
