#!/usr/bin/env python3
"""Builds reference graphs in TensorFlow (tf.compat.v1 graph mode), freezes them, and writes
test fixtures that Soma must reproduce:

    Tests/SomaTests/Fixtures/tf/<model>/model.pb          the frozen GraphDef
    Tests/SomaTests/Fixtures/tf/<model>/<input>.npy       seeded inputs
    Tests/SomaTests/Fixtures/tf/<model>/expected_<k>.npy  TF's outputs
    Tests/SomaTests/Fixtures/tf/<model>/manifest.json     inputs, fetches, tolerances

Together the models use every op Soma has. Run with `pip install tensorflow-cpu`:

    python3 Tools/make_tf_fixtures.py
"""
import json
import os
import shutil

import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1
tf1.disable_eager_execution()
tf1.disable_resource_variables()

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "SomaTests", "Fixtures", "tf")
rng = np.random.default_rng(1129)


def write_model(name, build, inputs, tolerance=1e-5, tolerances=None):
    """build(placeholders) -> dict of fetch name -> tensor. Variables are frozen to constants."""
    graph = tf.Graph()
    with graph.as_default():
        placeholders = {}
        for pname, value in inputs.items():
            shape = [None] + list(value.shape[1:]) if value.ndim > 0 else []
            placeholders[pname] = tf1.placeholder(tf.as_dtype(value.dtype), shape=shape, name=pname)
        fetches = build(placeholders)
        outputs = {f"out_{fname}": tf.identity(t, name=f"out_{fname}") for fname, t in fetches.items()}
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            feed = {placeholders[k]: v for k, v in inputs.items()}
            values = sess.run(outputs, feed_dict=feed)
            frozen = tf1.graph_util.convert_variables_to_constants(sess, graph.as_graph_def(), list(outputs))
    folder = os.path.join(ROOT, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    with open(os.path.join(folder, "model.pb"), "wb") as f:
        f.write(frozen.SerializeToString())
    manifest = {"inputs": {}, "fetches": [], "ops": sorted({n.op for n in frozen.node})}
    for pname, value in inputs.items():
        np.save(os.path.join(folder, f"{pname}.npy"), value)
        manifest["inputs"][pname] = f"{pname}.npy"
    for k, fname in enumerate(sorted(outputs)):
        np.save(os.path.join(folder, f"expected_{k}.npy"), np.asarray(values[fname]))
        tol = (tolerances or {}).get(fname[len("out_"):], tolerance)
        manifest["fetches"].append({"name": f"{fname}:0", "file": f"expected_{k}.npy", "tolerance": tol})
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    print(f"{name}: {len(frozen.node)} nodes, ops {', '.join(manifest['ops'])}")


def f32(*shape, low=-2.0, high=2.0):
    return rng.uniform(low, high, size=shape).astype(np.float32)


# An MLP with variables (frozen to constants): MatMul, BiasAdd, activations, softmax, argmax.
def mlp(p):
    x = p["x"]
    w1 = tf1.Variable(rng.normal(0, 0.5, (8, 16)).astype(np.float32), name="w1")
    b1 = tf1.Variable(rng.normal(0, 0.1, (16,)).astype(np.float32), name="b1")
    w2 = tf1.Variable(rng.normal(0, 0.5, (16, 4)).astype(np.float32), name="w2")
    h = tf.nn.relu(tf.nn.bias_add(tf.matmul(x, w1), b1))
    h6 = tf.nn.relu6(h * 3.0)
    logits = tf.matmul(h6, w2, transpose_b=False)
    wt = tf.constant(rng.normal(0, 0.5, (4, 16)).astype(np.float32))
    logits2 = tf.matmul(h, wt, transpose_b=True)
    return {"probs": tf.nn.softmax(logits), "log_probs": tf.nn.log_softmax(logits2),
            "classes": tf.argmax(logits, axis=1), "loss": tf.reduce_mean(tf.square(logits))}


write_model("mlp", mlp, {"x": f32(5, 8)})


def math(p):
    a, b, i, j = p["a"], p["b"], p["i"], p["j"]
    out = {
        "add": a + b, "add_raw": tf.raw_ops.Add(x=a, y=b), "sub": a - b, "mul": a * b, "div": a / b,
        "floordiv": tf.math.floordiv(a, b), "floormod": tf.math.floormod(a, b), "maximum": tf.maximum(a, b),
        "minimum": tf.minimum(a, b), "pow": tf.pow(tf.abs(a) + 0.5, b), "sqdiff": tf.math.squared_difference(a, b),
        "int_floordiv": tf.math.floordiv(i, j), "int_floormod": tf.math.floormod(i, j), "int_mul": i * j,
        "int_pow": tf.pow(i, tf.abs(j) % 3),
        "neg": -a, "abs": tf.abs(a), "sign": tf.sign(a), "exp": tf.exp(a), "log": tf.math.log(tf.abs(a) + 0.1),
        "log1p": tf.math.log1p(tf.abs(a)), "sqrt": tf.sqrt(tf.abs(a)), "rsqrt": tf.math.rsqrt(tf.abs(a) + 0.5),
        "square": tf.square(a), "reciprocal": tf.math.reciprocal(b), "erf": tf.math.erf(a), "floor": tf.floor(a),
        "ceil": tf.math.ceil(a), "round": tf.round(a * 2.0),
        "equal": tf.equal(tf.round(a), tf.round(b)), "not_equal": tf.not_equal(i, j), "less": tf.less(a, b),
        "less_equal": tf.less_equal(i, j), "greater": tf.greater(a, b), "greater_equal": tf.greater_equal(a, b),
        "logical": tf.logical_or(tf.logical_and(a > 0, b > 0), tf.logical_not(a > b)),
        "select": tf.where(a > b, a, b * 2.0),
        "cast_int": tf.cast(a * 10.0, tf.int32), "cast_float": tf.cast(i, tf.float64), "cast_bool": tf.cast(i, tf.bool),
        "cast_u8": tf.cast(tf.abs(j), tf.uint8), "cast_i64": tf.cast(j, tf.int64),
        "broadcast": a + tf.constant(rng.uniform(-1, 1, (1, 4)).astype(np.float32)),
    }
    return out


b = f32(6, 4)
b[np.abs(b) < 0.3] = 0.7
j = rng.integers(-9, 10, size=(6, 4)).astype(np.int32)
j[j == 0] = 3
write_model("math", math, {"a": f32(6, 4), "b": b, "i": rng.integers(-20, 20, size=(6, 4)).astype(np.int32), "j": j})


def activations(p):
    x = p["x"]
    d = tf.cast(x, tf.float64)
    return {"relu": tf.nn.relu(x), "relu6": tf.nn.relu6(x * 4.0), "leaky": tf.nn.leaky_relu(x, alpha=0.1),
            "elu": tf.nn.elu(x), "selu": tf.nn.selu(x), "softplus": tf.nn.softplus(x), "softsign": tf.nn.softsign(x),
            "sigmoid": tf.sigmoid(x), "tanh": tf.tanh(x), "softmax": tf.nn.softmax(x), "log_softmax": tf.nn.log_softmax(x),
            "gelu": tf.nn.gelu(x, approximate=False), "gelu_tanh": tf.nn.gelu(x, approximate=True),
            "step": tf.cast(x >= 0, tf.float32), "sigmoid64": tf.sigmoid(d), "softmax64": tf.nn.softmax(d)}


write_model("activations", activations, {"x": f32(4, 7, low=-6, high=6)})


def reductions(p):
    x, m = p["x"], p["m"]
    return {"sum": tf.reduce_sum(x, axis=[0, 2]), "mean": tf.reduce_mean(x, axis=1, keepdims=True),
            "max": tf.reduce_max(x, axis=-1), "min": tf.reduce_min(x), "prod": tf.reduce_prod(x * 0.5 + 1.0, axis=0),
            "all": tf.reduce_all(m, axis=1), "any": tf.reduce_any(m, axis=[0, 1]),
            "argmax": tf.argmax(x, axis=2), "argmin": tf.argmin(x, axis=0, output_type=tf.int32),
            "int_sum": tf.reduce_sum(tf.cast(x * 10.0, tf.int64), axis=1)}


write_model("reductions", reductions, {"x": f32(3, 4, 5), "m": rng.integers(0, 2, size=(3, 4)).astype(bool)})


def arrays(p):
    x, idx = p["x"], p["idx"]
    parts = tf.split(x, 2, axis=2)
    v1, v2, v3 = tf.split(x, [1, 3, -1], axis=1)
    rows = tf.unstack(x, num=4, axis=1)
    return {
        "shape": tf.shape(x), "size": tf.size(x), "rank": tf.rank(x),
        "reshape": tf.reshape(x, [-1, 6]), "expand": tf.expand_dims(x, 1), "squeeze": tf.squeeze(v1, axis=[1]),
        "transpose": tf.transpose(x, [2, 0, 1]), "concat": tf.concat([x, x * 2.0], axis=1),
        "stack": tf.stack([x, -x], axis=1), "unstack": rows[2], "split": parts[1], "splitv": v3,
        "slice": tf.slice(x, [0, 1, 2], [-1, 2, 3]), "strided": x[:, ::-2, 1:5:2], "strided2": x[..., 0],
        "strided3": x[:, tf.newaxis, 1, -3:], "pad": tf.pad(x, [[0, 0], [1, 2], [2, 1]]),
        "padv2": tf.pad(x, [[1, 0], [0, 0], [0, 1]], constant_values=-1.0), "tile": tf.tile(v1, [1, 2, 3]),
        "fill": tf.fill([2, 3], 4.5), "zeros_like": tf.zeros_like(x), "ones_like": tf.ones_like(idx),
        "range": tf.range(1, 10, 2), "range_f": tf.range(0.0, 1.0, 0.25),
        "gather": tf.gather(x, idx, axis=1), "gather_batch": tf.gather(x, tf.ones([3, 2], tf.int32), axis=1, batch_dims=1),
        "one_hot": tf.one_hot(idx, depth=5, on_value=2.0, off_value=-1.0),
        "broadcast_to": tf.broadcast_to(v1, [3, 4, 6]), "stop_gradient": tf.stop_gradient(x),
        "with_default": tf1.placeholder_with_default(tf.constant([1.0, 2.0]), shape=[None]) * 2.0,
        "dynamic_reshape": tf.reshape(x, tf.stack([tf.shape(x)[0], -1])),
    }


write_model("arrays", arrays, {"x": f32(3, 4, 6), "idx": np.array([3, 0, 2], np.int32)})


def batch_matmul(p):
    a, b = p["a"], p["b"]
    return {"bmm": tf.matmul(a, b), "bmm_adj": tf.matmul(a, b, adjoint_a=True, transpose_b=False),
            "bmm_broadcast": tf.matmul(a, tf.constant(rng.normal(size=(5, 2)).astype(np.float32)))}


write_model("batch_matmul", batch_matmul, {"a": f32(3, 5, 5), "b": f32(3, 5, 2)})


def float64(p):
    x = p["x"]
    w = tf.constant(rng.normal(size=(3, 3)))
    return {"mm": tf.matmul(x, w), "tanh": tf.tanh(x), "mean": tf.reduce_mean(x, axis=0)}


write_model("float64", float64, {"x": rng.normal(size=(4, 3))})


# Gradients: tf.gradients emits TF's gradient ops (ReluGrad, BiasAddGrad,
# BroadcastGradientArgs, StridedSliceGrad, the cross-entropy ops, …), frozen with the graph.
def gradients(p):
    x, labels = p["x"], p["labels"]
    w = tf.constant(rng.normal(0, 0.5, size=(6, 4)).astype(np.float32))
    b = tf.constant(rng.normal(size=(4,)).astype(np.float32))
    row = tf.constant(rng.normal(size=(1, 6)).astype(np.float32))
    logits = tf.nn.bias_add(tf.matmul(tf.nn.relu(x) + row, w), b)
    activations = {
        "relu6": tf.nn.relu6(x * 4.0), "leaky": tf.nn.leaky_relu(x, alpha=0.1), "elu": tf.nn.elu(x),
        "selu": tf.nn.selu(x), "softplus": tf.nn.softplus(x), "softsign": tf.nn.softsign(x),
        "sigmoid": tf.sigmoid(x), "tanh": tf.tanh(x), "sqrt": tf.sqrt(tf.abs(x) + 0.5),
        "rsqrt": tf.math.rsqrt(tf.abs(x) + 0.5), "reciprocal": tf.math.reciprocal(tf.abs(x) + 0.5),
        "slice": x[:, 1::2] * 2.0,
    }
    out = {name: tf.gradients(tf.reduce_sum(y * y), x)[0] for name, y in activations.items()}
    sparse = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    dense = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=tf.one_hot(labels, 4), logits=logits))
    out["sparse_ce"] = tf.gradients(sparse, x)[0]
    out["dense_ce"] = tf.gradients(dense, x)[0]
    out["bias"] = tf.gradients(sparse, b)[0]
    out["row"] = tf.gradients(dense, row)[0]
    return out


write_model("gradients", gradients, {"x": f32(5, 6), "labels": np.array([0, 3, 1, 2, 3], np.int64)})


# Convolution and pooling, forward and backward: Conv2D (paddings, strides, dilations),
# the transposed convolution, MaxPool, AvgPool, and their TF gradients.
def conv(p):
    x = p["x"]
    f1 = tf.constant(rng.normal(0, 0.3, size=(3, 3, 3, 4)).astype(np.float32))
    f2 = tf.constant(rng.normal(0, 0.3, size=(2, 2, 4, 2)).astype(np.float32))
    ft = tf.constant(rng.normal(0, 0.3, size=(3, 3, 2, 4)).astype(np.float32))
    same = tf.nn.conv2d(x, f1, strides=[1, 2, 2, 1], padding="SAME")
    valid = tf.nn.conv2d(x, f1, strides=1, padding="VALID", dilations=[1, 2, 2, 1])
    explicit = tf.nn.conv2d(x, f1, strides=1, padding=[[0, 0], [1, 2], [0, 1], [0, 0]])
    pooled = tf.nn.max_pool2d(tf.nn.relu(same), ksize=2, strides=2, padding="SAME")
    averaged = tf.nn.avg_pool2d(valid, ksize=[3, 2], strides=[1, 2], padding="SAME")
    second = tf.nn.conv2d(pooled, f2, strides=1, padding="VALID")
    up = tf.nn.conv2d_transpose(same, ft, output_shape=tf.stack([tf.shape(x)[0], 9, 8, 2]), strides=2, padding="SAME")
    loss = tf.reduce_sum(second ** 2) + tf.reduce_sum(averaged * 0.5) + tf.reduce_sum(tf.tanh(up)) + tf.reduce_sum(explicit ** 2)
    dx, df1 = tf.gradients(loss, [x, f1])
    return {"same": same, "valid": valid, "explicit": explicit, "pooled": pooled, "averaged": averaged, "second": second,
            "up": up, "dx": dx, "df1": df1}


write_model("conv", conv, {"x": f32(2, 9, 8, 3)}, tolerance=1e-4)


# Recurrent cells: TF's fused LSTMBlockCell unrolled over 4 steps (its gradient is TF's
# LSTMBlockCellGrad) and a GRU cell written as ops, with gradients.
#
# TF 2 no longer registers LSTMBlockCell's Python gradient (it lived in tf.contrib.rnn);
# this is TF 1.15's `_LSTMBlockCellGrad`, around the LSTMBlockCellGrad op TF still has.
@tf.RegisterGradient("LSTMBlockCell")
def _lstm_block_cell_grad(op, *grad):
    x, cs_prev, h_prev, w, wci, wcf, wco, b = op.inputs
    i, cs, f, o, ci, co, _ = op.outputs
    _, cs_grad, _, _, _, _, h_grad = grad
    input_size, cell_size = tf.shape(x)[1], tf.shape(h_prev)[1]
    cs_prev_grad, dicfo, wci_grad, wcf_grad, wco_grad = tf.raw_ops.LSTMBlockCellGrad(
        x=x, cs_prev=cs_prev, h_prev=h_prev, w=w, wci=wci, wcf=wcf, wco=wco, b=b, i=i, cs=cs, f=f, o=o, ci=ci, co=co,
        cs_grad=cs_grad, h_grad=h_grad, use_peephole=op.get_attr("use_peephole"))
    xh = tf.concat([x, h_prev], 1)
    xh_grad = tf.matmul(dicfo, w, transpose_b=True)
    x_grad, h_prev_grad = tf.split(xh_grad, tf.stack([input_size, cell_size]), axis=1)
    w_grad = tf.matmul(xh, dicfo, transpose_a=True)
    b_grad = tf.reduce_sum(dicfo, 0)
    if not op.get_attr("use_peephole"):
        wci_grad, wcf_grad, wco_grad = tf.zeros_like(wci), tf.zeros_like(wcf), tf.zeros_like(wco)
    return x_grad, cs_prev_grad, h_prev_grad, w_grad, wci_grad, wcf_grad, wco_grad, b_grad


def rnn(p):
    x = p["x"]
    units, features, steps = 5, 3, 4
    w = tf.constant(rng.normal(0, 0.4, size=(features + units, 4 * units)).astype(np.float32))
    b = tf.constant(rng.normal(0, 0.1, size=(4 * units,)).astype(np.float32))
    peep = [tf.constant(rng.normal(0, 0.3, size=(units,)).astype(np.float32)) for _ in range(3)]
    wg = tf.constant(rng.normal(0, 0.4, size=(features + units, 2 * units)).astype(np.float32))
    wc = tf.constant(rng.normal(0, 0.4, size=(features + units, units)).astype(np.float32))
    batch = tf.shape(x)[0]
    c = h = gh = tf.zeros(tf.stack([batch, units]))
    for t in range(steps):
        xt = x[:, t, :]
        _, c, _, _, _, _, h = tf.raw_ops.LSTMBlockCell(x=xt, cs_prev=c, h_prev=h, w=w, wci=peep[0], wcf=peep[1], wco=peep[2],
                                                       b=b, forget_bias=1.0, cell_clip=-1.0, use_peephole=(t % 2 == 1))
        r, u = tf.split(tf.sigmoid(tf.matmul(tf.concat([xt, gh], 1), wg) + 1.0), 2, axis=1)
        candidate = tf.tanh(tf.matmul(tf.concat([xt, r * gh], 1), wc))
        gh = u * gh + (1 - u) * candidate
    loss = tf.reduce_sum(h * h) + tf.reduce_sum(c) + tf.reduce_sum(gh ** 2)
    dx, dw, dwg = tf.gradients(loss, [x, w, wg])
    return {"h": h, "c": c, "gru": gh, "dx": dx, "dw": dw, "dwg": dwg}


write_model("rnn", rnn, {"x": f32(3, 4, 3)}, tolerance=1e-4)


# Batch normalisation (FusedBatchNormV3) in training and inference mode, with its
# gradient (FusedBatchNormGradV3).
def batchnorm(p):
    x = p["x"]
    scale = tf.constant(rng.uniform(0.5, 1.5, size=(3,)).astype(np.float32))
    offset = tf.constant(rng.normal(size=(3,)).astype(np.float32))
    mean = tf.constant(rng.normal(size=(3,)).astype(np.float32))
    variance = tf.constant(rng.uniform(0.5, 2, size=(3,)).astype(np.float32))
    y, batch_mean, batch_var = tf.compat.v1.nn.fused_batch_norm(x, scale, offset, epsilon=0.001, is_training=True)
    y_inf, _, _ = tf.compat.v1.nn.fused_batch_norm(x, scale, offset, mean=mean, variance=variance, epsilon=0.001,
                                                   is_training=False)
    loss = tf.reduce_sum(y * x) + tf.reduce_sum(tf.tanh(y_inf))
    dx, dscale, doffset = tf.gradients(loss, [x, scale, offset])
    return {"y": y, "batch_mean": batch_mean, "batch_var": batch_var, "y_inference": y_inf, "dx": dx, "dscale": dscale,
            "doffset": doffset}


write_model("batchnorm", batchnorm, {"x": f32(4, 3, 5, 3)}, tolerance=1e-4)


# Depthwise convolution (channel multiplier 2) and its gradients. (TF builds dilated
# depthwise convolutions from SpaceToBatchND, so dilation is checked by the gradient tests.)
def depthwise(p):
    x = p["x"]
    f = tf.constant(rng.normal(0, 0.4, size=(3, 3, 3, 2)).astype(np.float32))
    y = tf.nn.depthwise_conv2d(x, f, strides=[1, 2, 2, 1], padding="SAME")
    y2 = tf.nn.depthwise_conv2d(x, f, strides=[1, 1, 1, 1], padding="VALID")
    loss = tf.reduce_sum(tf.tanh(y)) + tf.reduce_sum(y2 * y2)
    dx, df = tf.gradients(loss, [x, f])
    return {"y": y, "y2": y2, "dx": dx, "df": df}


write_model("depthwise", depthwise, {"x": f32(2, 7, 6, 3)}, tolerance=1e-4)


# Einsum as Keras' MultiHeadAttention uses it (projection, scores, combination, output
# projection), with TF's own gradient graph of the scores.
def einsum_attention(p):
    x = p["x"]
    wq = tf.constant(rng.normal(0, 0.3, size=(16, 4, 8)).astype(np.float32))
    wo = tf.constant(rng.normal(0, 0.3, size=(4, 8, 16)).astype(np.float32))
    q = tf.einsum("abc,cde->abde", x, wq)
    scores = tf.nn.softmax(tf.einsum("aecd,abcd->acbe", q, q) / 8.0)
    combined = tf.einsum("acbe,aecd->abcd", scores, q)
    out = tf.einsum("abcd,cde->abe", combined, wo)
    return {"out": out, "dx": tf.gradients(tf.reduce_sum(out * out), x)[0]}


write_model("einsum", einsum_attention, {"x": f32(3, 10, 16)}, tolerance=1e-4)
