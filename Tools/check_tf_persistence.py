#!/usr/bin/env python3
"""Reads what Soma saved with TensorFlow's own readers and checks the values: a
checkpoint of every dtype (tf.train.load_checkpoint), a trained model's Saver checkpoints
(tf.train.latest_checkpoint, get_checkpoint_state), its SavedModel through both loaders
(tf.compat.v1.saved_model.loader.load and tf.saved_model.load), and frozen graphs
(import_graph_def) — the Soma → TF direction of checkpoint and SavedModel interop.

    python3 Tools/check_tf_persistence.py EXPORT_DIR

EXPORT_DIR/persistence is written by interop-export (Tools/tf-interop.sh runs both).
Prints one line per failure and a closing `tf-persistence: N passed, M failed` line;
exits non-zero on any failure.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_common import Checks  # noqa: E402

tf.get_logger().setLevel("ERROR")
tf1 = tf.compat.v1

root = os.path.join(sys.argv[1], "persistence")
check = Checks("tf-persistence")


def same(actual, expected, tol=0.0):
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape or actual.dtype != expected.dtype:
        return False
    if tol and expected.dtype.kind == "f":
        return np.allclose(actual, expected, rtol=tol, atol=tol)
    return np.array_equal(actual, expected, equal_nan=expected.dtype.kind == "f")


def load(folder, name):
    return np.load(os.path.join(folder, name))


# A checkpoint of every dtype: keys, dtypes, shapes and values bitwise.
folder = os.path.join(root, "checkpoint")
manifest = json.load(open(os.path.join(folder, "manifest.json")))
reader = tf.train.load_checkpoint(os.path.join(folder, manifest["prefix"]))
shapes = reader.get_variable_to_shape_map()
check("checkpoint keys", set(shapes) == set(manifest["tensors"]), f"{sorted(shapes)}")
for name, entry in manifest["tensors"].items():
    value = reader.get_tensor(name)
    if "strings" in entry:
        expected = np.array([s.encode() for s in entry["strings"]], dtype=object).reshape(entry["shape"])
        check(f"checkpoint {name}", value.shape == expected.shape and list(value.ravel()) == list(expected.ravel()),
              f"{value!r}")
    else:
        check(f"checkpoint {name}", same(value, load(folder, entry["file"])), f"{value!r}")

# Saver checkpoints: the state file, maxToKeep, and every variable (Adam slots, step).
folder = os.path.join(root, "trained")
manifest = json.load(open(os.path.join(folder, "manifest.json")))
checkpoints = os.path.join(folder, "checkpoints")
latest = tf.train.latest_checkpoint(checkpoints)
check("latest_checkpoint", latest is not None and os.path.basename(latest) == manifest["latest"], f"{latest}")
state = tf.train.get_checkpoint_state(checkpoints)
check("checkpoint state", [os.path.basename(p) for p in state.all_model_checkpoint_paths] == manifest["kept"],
      f"{state}")
reader = tf.train.load_checkpoint(latest)
for name, file in manifest["variables"].items():
    check(f"Saver {name}", reader.has_tensor(name) and same(reader.get_tensor(name), load(folder, file)))

x = load(folder, manifest["input"])
probs = load(folder, manifest["probs"])
saved_model = os.path.join(folder, "saved_model")

# TF1 loader: restores through the saver_def, signatures by name.
with tf.Graph().as_default() as graph, tf1.Session(graph=graph) as sess:
    meta = tf1.saved_model.loader.load(sess, ["serve"], saved_model)
    signature = meta.signature_def["serving_default"]
    out = sess.run(signature.outputs["probs"].name, {signature.inputs["x"].name: x})
    check("tf1 loader serving_default", same(out, probs, 1e-6), f"{out} vs {probs}")
    for name, file in manifest["variables"].items():
        value = sess.run(graph.get_tensor_by_name(name + ":0"))
        check(f"tf1 loader variable {name}", same(value, load(folder, file)))
    check("tf1 loader collections", len(tf1.global_variables()) == len(manifest["variables"])
          and len(tf1.trainable_variables()) == 2, f"{tf1.global_variables()}")

# TF2 loader (eager): a TF1 SavedModel wrapped as concrete functions.
loaded = tf.saved_model.load(saved_model)
out = loaded.signatures["serving_default"](x=tf.constant(x))["probs"].numpy()
check("tf.saved_model.load serving_default", same(out, probs, 1e-6), f"{out} vs {probs}")

# Frozen graphs: no variables, same outputs.
def run_frozen(path, feeds, fetch):
    graph_def = tf1.GraphDef()
    with open(path, "rb") as f:
        graph_def.ParseFromString(f.read())
    with tf.Graph().as_default() as graph:
        tf1.import_graph_def(graph_def, name="")
        ops = {op.type for op in graph.get_operations()}
        with tf1.Session(graph=graph) as sess:
            return sess.run(fetch, feeds), ops


out, ops = run_frozen(os.path.join(folder, "frozen.pb"), {"x:0": x}, "probs:0")
check("frozen model", same(out, probs, 1e-6) and not ops & {"VariableV2", "VarHandleOp", "Assign"}, f"{ops}")
folder = os.path.join(root, "frozen_keras_cnn")
manifest = json.load(open(os.path.join(folder, "manifest.json")))
out, ops = run_frozen(os.path.join(folder, "frozen.pb"), {manifest["input"]: load(folder, manifest["input_file"])},
                      manifest["output"])
check("frozen Keras CNN", same(out, load(folder, manifest["output_file"]), 1e-5)
      and not ops & {"VarHandleOp", "ReadVariableOp", "StatefulPartitionedCall"}, f"{ops}")

check.finish()
