#!/usr/bin/env python3
"""Writes the hostile-model regression files: Tests/SomaTests/Fixtures/hostile/*.pb and
manifest.json.

Each file is a small GraphDef that once crashed, hung or exhausted memory (or was silently
accepted where TensorFlow refuses it). The manifest says, per file, whether it must fail at
load or at run, what to fetch and feed, the memory limit to run under, the error code, and
substrings the one-line error must contain (the node, the op and the problem). The suite
HostileFixtureTests checks every entry; the fuzz targets use the files as seeds.

Protobuf is encoded by hand (TF's field numbers), so the script needs only Python.
Run from the repository root: python3 Tools/make_hostile_fixtures.py
"""
import json
import os
import struct

OUT = os.path.join("Tests", "SomaTests", "Fixtures", "hostile")
FLOAT, DOUBLE, INT32, INT64 = 1, 2, 3, 9


def varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def field(number, wire, payload):
    return varint(number << 3 | wire) + payload


def vint(number, value):
    return field(number, 0, varint(value))


def ldelim(number, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return field(number, 2, varint(len(payload)) + payload)


def shape(dims):
    return b"".join(ldelim(2, vint(1, d)) for d in dims)


def tensor(dtype, dims, values=None, content=None):
    t = vint(1, dtype) + ldelim(2, shape(dims))
    if content is not None:
        t += ldelim(4, content)
    elif values is not None:
        if dtype == FLOAT:
            t += ldelim(5, b"".join(struct.pack("<f", v) for v in values))
        elif dtype == INT32:
            t += ldelim(7, b"".join(varint(v) for v in values))
        elif dtype == INT64:
            t += ldelim(10, b"".join(varint(v) for v in values))
    return t


# AttrValue builders (attr_value.proto: list=1, s=2, i=3, f=4, b=5, type=6, shape=7, tensor=8).
def a_type(t): return vint(6, t)
def a_int(i): return vint(3, i)
def a_str(s): return ldelim(2, s)
def a_ints(values): return ldelim(1, b"".join(vint(3, v) for v in values))
def a_types(values): return ldelim(1, b"".join(vint(6, v) for v in values))
def a_shape(dims): return ldelim(7, shape(dims))
def a_tensor(*args, **kw): return ldelim(8, tensor(*args, **kw))


def node(name, op, inputs=(), **attrs):
    n = ldelim(1, name) + ldelim(2, op)
    for i in inputs:
        n += ldelim(3, i)
    for key, value in attrs.items():
        n += ldelim(5, ldelim(1, key) + ldelim(2, value))
    return n


def const(name, dtype, dims, values=None, content=None):
    return node(name, "Const", dtype=a_type(dtype), value=a_tensor(dtype, dims, values, content))


def placeholder(name, dtype, dims):
    return node(name, "Placeholder", dtype=a_type(dtype), shape=a_shape(dims))


def graph(*nodes):
    return b"".join(ldelim(1, n) for n in nodes)


CASES = []
os.makedirs(OUT, exist_ok=True)
for stale in os.listdir(OUT):
    if stale.endswith(".pb"):
        os.remove(os.path.join(OUT, stale))


def case(name, cls, nodes, stage, code, expect, fetch=(), feeds=None, memory_limit=None):
    CASES.append(dict(file=name + ".pb", cls=cls, stage=stage, code=code, expect=expect, fetch=list(fetch),
                      feeds=feeds or {}, memory_limit=memory_limit))
    with open(os.path.join(OUT, name + ".pb"), "wb") as f:
        f.write(graph(*nodes))


def conv(name, padding="VALID", op="Conv2D", **extra):
    return node(name, op, ["x", "f"], T=a_type(FLOAT), strides=a_ints([1, 1, 1, 1]), padding=a_str(padding), **extra)


X4 = placeholder("x", FLOAT, [1, 4, 4, 1])
ZEROS_X4 = {"x": {"dtype": "float32", "shape": [1, 4, 4, 1], "zeros": True}}

# 1. Swift traps on bad values.
case("fill_negative_dims_const", "trap", [
    const("dims", INT32, [2], [-1, 2]), const("value", FLOAT, [], [1.0]),
    node("fill", "Fill", ["dims", "value"], T=a_type(FLOAT), index_type=a_type(INT32))],
    "run", "invalidArgument", ["Dimension -1 must be >= 0", "'fill' (op: 'Fill')"], fetch=["fill"])
case("fill_negative_dims_fed", "trap", [
    placeholder("dims", INT32, [2]), const("value", FLOAT, [], [1.0]),
    node("fill", "Fill", ["dims", "value"], T=a_type(FLOAT), index_type=a_type(INT32))],
    "run", "invalidArgument", ["Dimension -3 must be >= 0", "'fill' (op: 'Fill')"], fetch=["fill"],
    feeds={"dims": {"dtype": "int32", "shape": [2], "values": [-3, 2]}})
case("range_int64_span_overflow", "trap", [
    const("start", INT64, [], [-(1 << 63)]), const("limit", INT64, [], [(1 << 63) - 1]), const("delta", INT64, [], [3]),
    node("range", "Range", ["start", "limit", "delta"], Tidx=a_type(INT64))],
    "load", "invalidArgument", ["fewer than 2^31 elements", "'range' (op: 'Range')"])
case("conv_explicit_padding_overflow", "trap", [
    X4, const("f", FLOAT, [1, 1, 1, 1], [1.0]),
    conv("conv", "EXPLICIT", explicit_paddings=a_ints([0, 0, 1 << 62, 1 << 62, 0, 0, 0, 0]))],
    "load", "invalidArgument", ["explicit_paddings", "overflow", "'conv' (op: 'Conv2D')"])
case("assign_to_const", "trap", [
    const("c", FLOAT, [2], [1.0]), const("v", FLOAT, [2], [2.0]),
    node("assign", "Assign", ["c", "v"], T=a_type(FLOAT))],
    "load", "invalidArgument", ["'ref' must be a variable", "'assign' (op: 'Assign')"])

# 2. Allocation failure is an error.
case("range_1e9", "allocation", [
    const("start", FLOAT, [], [0.0]), const("limit", FLOAT, [], [1e9]), const("delta", FLOAT, [], [1.0]),
    node("range", "Range", ["start", "limit", "delta"], Tidx=a_type(FLOAT))],
    "run", "resourceExhausted", ["OOM when allocating", "'range' (op: 'Range')", "memory budget"],
    fetch=["range"], memory_limit=64 << 20)
case("one_hot_depth_1e9", "allocation", [
    const("indices", INT64, [1], [0]), const("depth", INT32, [], [1000000000]),
    const("on", FLOAT, [], [1.0]), const("off", FLOAT, [], [0.0]),
    node("onehot", "OneHot", ["indices", "depth", "on", "off"], T=a_type(FLOAT), TI=a_type(INT64))],
    "run", "resourceExhausted", ["OOM when allocating", "'onehot' (op: 'OneHot')"], fetch=["onehot"], memory_limit=64 << 20)
# float64: float32 convolutions run as direct kernels that need no patch matrix.
case("conv_im2col_61GB", "allocation", [
    placeholder("x", DOUBLE, [1, 4000, 4000, 1]), const("f", DOUBLE, [31, 31, 1, 1], content=struct.pack("<d", 0.5) * 961),
    node("conv", "Conv2D", ["x", "f"], T=a_type(DOUBLE), strides=a_ints([1, 1, 1, 1]), padding=a_str("SAME"))],
    "run", "resourceExhausted", ["im2col", "'conv' (op: 'Conv2D')"], fetch=["conv"],
    feeds={"x": {"dtype": "float64", "shape": [1, 4000, 4000, 1], "zeros": True}}, memory_limit=512 << 20)

# 3. Hangs.
case("max_pool_2e62_window", "hang", [
    X4, node("pool", "MaxPool", ["x"], T=a_type(FLOAT), ksize=a_ints([1, 1 << 62, 1 << 62, 1]),
             strides=a_ints([1, 1, 1, 1]), padding=a_str("SAME"))],
    "load", "invalidArgument", ["Attr ksize has value 4611686018427387904 out of range for an int32", "'pool' (op: 'MaxPool')"])

# 5. Memory out of proportion to the file.
case("const_splat_1GiB", "memory", [
    const("big", FLOAT, [1 << 28], [1.0])],
    "load", "resourceExhausted", ["node 'big'", "materialising a float32 tensor of shape [268435456]", "memory budget"],
    memory_limit=256 << 20)
case("fill_30000x30000", "memory", [
    const("dims", INT32, [2], [30000, 30000]), const("value", FLOAT, [], [1.0]),
    node("fill", "Fill", ["dims", "value"], T=a_type(FLOAT), index_type=a_type(INT32))],
    "run", "resourceExhausted", ["OOM when allocating", "'fill' (op: 'Fill')", "3600000000 bytes"],
    fetch=["fill"], memory_limit=1 << 30)

# 7. Terminal injection: names with CR and ANSI/OSC escapes are escaped in the one-line error.
case("escape_sequences_in_names", "injection", [
    placeholder("x", FLOAT, [2]), node("evil\r\x1b[2K\x1b]0;owned\x07", "Neg", ["x"], T=a_type(FLOAT))],
    "load", "invalidArgument", ["node name 'evil\\r\\u{1b}[2K\\u{1b}]0;owned\\u{7}' contains a character"])
case("escape_sequences_in_op", "injection", [
    placeholder("x", FLOAT, [2]), node("n", "Evil\r\x1b[31mOp", ["x"])],
    "load", "unimplemented", ["Evil\\r\\u{1b}[31mOp (used by 'n')"])

# 8. Accepts what TF rejects.
case("type_attr_given_as_list", "strict", [
    placeholder("x", FLOAT, [2]), node("neg", "Neg", ["x"], T=a_types([FLOAT]))],
    "load", "invalidArgument", ["Attr 'T' has kind list(type) but must be type", "'neg' (op: 'Neg')"])
case("conv_zero_output_channels", "strict", [
    X4, const("f", FLOAT, [1, 1, 1, 0]), conv("conv")],
    "load", "invalidArgument", ["filter must not have zero elements", "'conv' (op: 'Conv2D')"])
case("depthwise_zero_multiplier", "strict", [
    X4, const("f", FLOAT, [1, 1, 1, 0]), conv("dw", op="DepthwiseConv2dNative")],
    "load", "invalidArgument", ["filter must not have zero elements", "'dw' (op: 'DepthwiseConv2dNative')"])
case("conv_dilation_2e62", "strict", [
    X4, const("f", FLOAT, [2, 2, 1, 1], [1.0]), conv("conv", "SAME", dilations=a_ints([1, 1 << 62, 1 << 62, 1]))],
    "load", "invalidArgument", ["Attr dilations has value 4611686018427387904 out of range for an int32", "'conv' (op: 'Conv2D')"])

# Found by the fuzzer: a batch-norm gradient whose per-channel inputs are shorter than x's
# channels read past them (AddressSanitizer: heap-buffer-overflow). Refused by the shape
# function at load, and by the kernel when fed shapes only show it at run time.
BN = dict(T=a_type(FLOAT), U=a_type(FLOAT))
case("batch_norm_grad_short_reserve_space", "fuzzer", [
    placeholder("dy", FLOAT, [-1, 2, 2, 3]), placeholder("x", FLOAT, [-1, 2, 2, 3]), const("scale", FLOAT, [3], [1.0, 1.0, 1.0]),
    const("rs1", FLOAT, [0]), const("rs2", FLOAT, [3], [1.0, 1.0, 1.0]), const("rs3", FLOAT, [0]),
    node("bng", "FusedBatchNormGradV3", ["dy", "x", "scale", "rs1", "rs2", "rs3"], **BN)],
    "load", "invalidArgument", ["Dimensions must be equal, but are 3 and 0", "'bng' (op: 'FusedBatchNormGradV3')"])
case("batch_norm_grad_fed_short_scale", "fuzzer", [
    placeholder("dy", FLOAT, [1, 2, 2, 3]), placeholder("x", FLOAT, [1, 2, 2, 3]), placeholder("scale", FLOAT, [-1]),
    const("rs1", FLOAT, [3], [0.0, 0.0, 0.0]), const("rs2", FLOAT, [3], [1.0, 1.0, 1.0]), const("rs3", FLOAT, [0]),
    node("bng", "FusedBatchNormGradV3", ["dy", "x", "scale", "rs1", "rs2", "rs3"], **BN)],
    "run", "invalidArgument", ["Dimensions must be equal, but are 3 and 1", "'bng' (op: 'FusedBatchNormGradV3')"],
    fetch=["bng"], feeds={"dy": {"dtype": "float32", "shape": [1, 2, 2, 3], "zeros": True},
                          "x": {"dtype": "float32", "shape": [1, 2, 2, 3], "zeros": True},
                          "scale": {"dtype": "float32", "shape": [1], "zeros": True}})

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(CASES, f, indent=1)
    f.write("\n")
print(f"wrote {len(CASES)} hostile GraphDefs to {OUT}")
