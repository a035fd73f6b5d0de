#!/usr/bin/env python3
"""Builds control-flow models in TensorFlow and writes them as fixtures Soma must
reproduce, in the layout of make_tf_fixtures.py (model.pb, inputs, expected_<k>.npy,
manifest.json whose `ops` include the ops inside library functions):

    cond_while      tf.cond, tf.while_loop over a TensorArray, and their gradients
                    (cond_v2's optionals, while_v2's accumulators) — a tf.function frozen
    keras_lstm      a Keras LSTM and GRU (not unrolled) on a sequence — a While loop over
                    TensorLists, frozen from a tf.function
    keras_lstm_v1   the same, frozen as TF does by default: loops lowered to v1 frames
    keras_lstm_last a Keras LSTM keeping its last output and its state (return_state): each
                    step's h written at index 0 of a one-element list
    nested_while_v1 nested tf.while_loops using outside values, lowered to v1 frames
    dynamic_rnn     tf.compat.v1.nn.dynamic_rnn with an LSTM cell and sequence lengths, in a
                    TF1 graph (control flow v2), with its gradients

    cond_v1         TF1 conds as v1 Switch/Merge (nested, two outputs, inside a loop)

    tensor_array_v1 TF1 TensorArrayV3 in v1 loops: dynamic_rnn with an LSTM cell and
                    sequence lengths, and a loop that writes, reads, gathers, scatters and
                    grows TensorArrays (control flow v2 off)

TF1's `LSTMCell` needs the legacy Keras package. Name fixtures to write only those:

    pip install tensorflow-cpu tf_keras
    TF_USE_LEGACY_KERAS=1 python3 Tools/make_control_flow_fixtures.py [NAME ...]
"""
import json
import os
import shutil
import sys

import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

tf1 = tf.compat.v1
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "SomaTests", "Fixtures", "tf")
rng = np.random.default_rng(2026)
ONLY = set(sys.argv[1:])


def f32(*shape, scale=1.0):
    return (rng.normal(size=shape) * scale).astype(np.float32)


def ops_of(graph_def):
    ops = {n.op for n in graph_def.node}
    for f in graph_def.library.function:
        ops |= {n.op for n in f.node_def}
    return sorted(ops)


def write(name, graph_def, inputs, fetch_names, values, tolerance):
    if ONLY and name not in ONLY:
        return
    folder = os.path.join(ROOT, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    with open(os.path.join(folder, "model.pb"), "wb") as f:
        f.write(graph_def.SerializeToString())
    manifest = {"inputs": {}, "fetches": [], "ops": ops_of(graph_def)}
    for pname, value in inputs.items():
        np.save(os.path.join(folder, f"{pname}.npy"), value)
        manifest["inputs"][pname] = f"{pname}.npy"
    for k, (fname, value) in enumerate(zip(fetch_names, values)):
        np.save(os.path.join(folder, f"expected_{k}.npy"), np.asarray(value))
        manifest["fetches"].append({"name": fname, "file": f"expected_{k}.npy", "tolerance": tolerance})
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    print(f"{name}: {len(graph_def.node)} nodes, {len(graph_def.library.function)} functions, ops {', '.join(manifest['ops'])}")


def write_tf1(name, fetches, feeds, tolerance):
    """Runs a TF1 graph (the default one) for `feeds` ({placeholder: value}), freezes it
    and writes it, with each fetch behind an identity named out_<key>."""
    named = {k: tf.identity(v, name=f"out_{k}") for k, v in fetches.items()}
    names = sorted(named)
    with tf1.Session() as sess:
        sess.run(tf1.global_variables_initializer())
        values = sess.run(named, feed_dict=feeds)
        frozen = tf1.graph_util.convert_variables_to_constants(sess, tf1.get_default_graph().as_graph_def(),
                                                               [f"out_{k}" for k in names])
    write(name, frozen, {p.op.name: v for p, v in feeds.items()}, [f"out_{k}:0" for k in names], [values[k] for k in names],
          tolerance)


def tf1_dynamic_rnn(seed):
    """Placeholders x [batch, 6, 3] and lengths [batch], and an LSTM cell of 5 units run over
    them by tf.compat.v1.nn.dynamic_rnn in the default graph: (x, lengths, outputs, state)."""
    x = tf1.placeholder(tf.float32, [None, 6, 3], name="x")
    lengths = tf1.placeholder(tf.int32, [None], name="lengths")
    cell = tf1.nn.rnn_cell.LSTMCell(5, initializer=tf1.glorot_uniform_initializer(seed=seed))
    outputs, state = tf1.nn.dynamic_rnn(cell, x, sequence_length=lengths, dtype=tf.float32)
    return x, lengths, outputs, state


def write_function(name, function, inputs, tolerance=1e-5, lower_control_flow=False):
    """Freezes a tf.function for these inputs and records its outputs (with TF's v1 frames —
    Enter/Exit/Switch/Merge/NextIteration/LoopCond — when `lower_control_flow`)."""
    specs = [tf.TensorSpec([None] + list(v.shape[1:]) if v.ndim else [], tf.as_dtype(v.dtype), name=k) for k, v in inputs.items()]
    concrete = function.get_concrete_function(*specs)
    frozen = convert_variables_to_constants_v2(concrete, lower_control_flow=lower_control_flow)
    graph_def = frozen.graph.as_graph_def()
    outputs = frozen(*[tf.constant(v) for v in inputs.values()])
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    fetch_names = [t.name for t in frozen.outputs]
    write(name, graph_def, inputs, fetch_names, [o.numpy() for o in outputs], tolerance)


# tf.cond, tf.while_loop with a TensorArray, tf.switch_case, and their gradients.
w_cf = tf.constant(f32(4, 4, scale=0.5))


@tf.function
def cond_while(x, n):
    with tf.GradientTape() as tape:
        tape.watch(x)
        branch = tf.cond(tf.reduce_sum(x) > 0, lambda: tf.matmul(x, w_cf), lambda: tf.tanh(x) * 2.0)

        def body(i, h, ta):
            h = tf.tanh(tf.matmul(h, w_cf)) + 0.1 * tf.cast(i, tf.float32)
            return i + 1, h, ta.write(i, h)

        ta = tf.TensorArray(tf.float32, size=n, element_shape=[None, 4])
        _, h, ta = tf.while_loop(lambda i, h, ta: i < n, body, [0, branch, ta])
        sequence = ta.stack()
        # TensorArray gather and scatter (TensorListGather, TensorListScatterIntoExistingList).
        shuffled = ta.scatter([0, 1], tf.stack([h, -h])).gather([1, n - 1, 0])
        # (tf.switch_case is left out: freezing lowers its Case op to v1 _SwitchN/Merge.)
        picked = tf.cond(tf.math.floormod(n, 2) > 0, lambda: h * 2.0, lambda: tf.square(h) - 1.0)
        loss = tf.reduce_sum(picked * picked) + tf.reduce_sum(sequence) + tf.reduce_sum(shuffled * shuffled)
    dx = tape.gradient(loss, x)
    return branch, h, sequence, picked, dx, ta.size(), ta.read(0), shuffled


inputs = {"x": f32(3, 4), "n": np.array(5, dtype=np.int32)}
write_function("cond_while", cond_while, inputs, tolerance=1e-4)


# Keras recurrent layers (cuDNN-compatible LSTM and GRU, not unrolled): a While loop over
# TensorLists.
tf.keras.utils.set_random_seed(7)
lstm = tf.keras.layers.LSTM(6, return_sequences=True)
gru = tf.keras.layers.GRU(5)


@tf.function
def keras_rnn(x):
    return gru(lstm(x)), lstm(x)


keras_input = {"x": f32(2, 7, 3)}
write_function("keras_lstm", keras_rnn, keras_input, tolerance=1e-4)
# The same layers frozen as TF freezes by default: loops lowered to v1 frames.
write_function("keras_lstm_v1", keras_rnn, keras_input, tolerance=1e-4, lower_control_flow=True)


# Nested tf.while_loops with values from outside (constant Enters), lowered to v1 frames.
w_nested = tf.constant(f32(3, 3, scale=0.4))


@tf.function
def nested_while(x, n):
    def outer(i, h):
        _, h = tf.while_loop(lambda j, h: j < i + 1, lambda j, h: (j + 1, tf.tanh(tf.matmul(h, w_nested)) + x), [0, h])
        return i + 1, h * 0.5
    return tf.while_loop(lambda i, h: i < n, outer, [0, x])[1]


write_function("nested_while_v1", nested_while, {"x": f32(2, 3), "n": np.array(3, dtype=np.int32)}, tolerance=1e-5,
               lower_control_flow=True)


# tf.compat.v1.nn.dynamic_rnn with sequence lengths, in a TF1 graph, and its gradients.
graph = tf.Graph()
with graph.as_default():
    x, lengths, outputs, state = tf1_dynamic_rnn(seed=3)
    loss = tf.reduce_sum(outputs * outputs) + tf.reduce_sum(state.h)
    dx = tf.gradients(loss, [x])[0]
    write_tf1("dynamic_rnn", {"outputs": outputs, "c": state.c, "h": state.h, "dx": dx},
              {x: f32(4, 6, 3), lengths: np.array([6, 3, 1, 5], dtype=np.int32)}, 1e-4)


# TF1 conds as v1 Switch/Merge (control flow v2 off), nested and inside a loop.
tf1.disable_control_flow_v2()
graph = tf.Graph()
with graph.as_default():
    x = tf1.placeholder(tf.float32, [None, 3], name="x")
    flag = tf1.placeholder(tf.bool, [], name="flag")
    w = tf.constant(f32(3, 3, scale=0.5))
    inner = lambda h: tf.cond(tf.reduce_sum(h) > 0, lambda: tf.tanh(h), lambda: h * h)
    branched = tf.cond(flag, lambda: inner(tf.matmul(x, w)), lambda: tf.sigmoid(x) - 1.0)
    both = tf.cond(flag, lambda: (x + 1.0, x * 2.0), lambda: (x - 1.0, x * 3.0))
    looped = tf.while_loop(lambda i, h: i < 3,
                           lambda i, h: (i + 1, tf.cond(i > 0, lambda: tf.tanh(tf.matmul(h, w)), lambda: h + 0.5)),
                           [0, x])[1]
    fetches = {"branched": branched, "sum": both[0] + both[1], "looped": looped}
    named = {k: tf.identity(v, name=f"out_{k}") for k, v in fetches.items()}
    feed_values = {"x": f32(2, 3), "flag": np.array(True)}
    with tf1.Session() as sess:
        values = sess.run(named, feed_dict={x: feed_values["x"], flag: feed_values["flag"]})
    write("cond_v1", graph.as_graph_def(), feed_values, [f"out_{k}:0" for k in sorted(named)], [values[k] for k in sorted(named)],
          1e-5)

# TF1 TensorArrayV3 in v1 loops (control flow v2 still off): dynamic_rnn, and a loop over
# TensorArrays with every access TF1 offers.
graph = tf.Graph()
with graph.as_default():
    x, lengths, outputs, state = tf1_dynamic_rnn(seed=4)
    rows = tf.transpose(x, [1, 0, 2])                                 # [6, batch, 3]
    n = tf.shape(rows)[0]
    source = tf.TensorArray(tf.float32, size=n).unstack(rows)
    squares = tf.TensorArray(tf.float32, size=n, element_shape=[None, 3], clear_after_read=False)
    grown = tf.TensorArray(tf.float32, size=0, dynamic_size=True)

    def body(i, sq, gr):
        row = source.read(i)
        return i + 1, sq.write(i, row * row), gr.write(2 * i, tf.tanh(row))
    _, squares, grown = tf.while_loop(lambda i, sq, gr: i < n, body, [0, squares, grown])
    scattered = tf.TensorArray(tf.float32, size=3).scatter([2, 0, 1], tf.tanh(rows[:3]))
    write_tf1("tensor_array_v1", {"outputs": outputs, "c": state.c, "h": state.h, "squares": squares.stack(),
                                  "gathered": squares.gather([4, 2]), "grown": grown.stack(), "grown_size": grown.size(),
                                  "scattered": scattered.stack()},
              {x: f32(4, 6, 3), lengths: np.array([6, 3, 1, 5], dtype=np.int32)}, 1e-4)
tf1.enable_control_flow_v2()

# A Keras LSTM keeping only its last output, with its state: its loop writes each step's h
# at index 0 of a one-element list. (Last in the file: the draws above stay as they were.)
tf.keras.utils.set_random_seed(11)
lstm_last = tf.keras.layers.LSTM(6, return_state=True)


@tf.function
def keras_lstm_last(x):
    return lstm_last(x)


write_function("keras_lstm_last", keras_lstm_last, {"x": f32(3, 9, 4)}, tolerance=1e-4)
