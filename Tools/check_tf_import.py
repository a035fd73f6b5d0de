#!/usr/bin/env python3
"""Imports graphs that Soma built and saved into TensorFlow and checks TF computes what
Soma computed (the Soma → TF direction of GraphDef interop).

    python3 Tools/check_tf_import.py EXPORT_DIR [OP_CASES_JSON]

EXPORT_DIR is written by `swift run interop-export EXPORT_DIR` (Tools/tf-interop.sh runs
both). Prints one line per failure and a closing `tf-interop: N passed, M failed` line;
exits non-zero on any failure.
"""
import json
import math
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf

tf.get_logger().setLevel("ERROR")
tf1 = tf.compat.v1
tf1.disable_eager_execution()

export = sys.argv[1]
cases_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "SomaTests", "Fixtures", "op_cases.json")
DT = {"float32": np.float32, "float64": np.float64, "int32": np.int32, "int64": np.int64, "uint8": np.uint8, "bool": np.bool_}

# Where Soma deliberately differs from TF, with the reason. Each entry is a case-name prefix.
KNOWN_DIFFERENCES = {
    "Round/int32": "TF 2.21's CPU Round kernel returns 0 for integer inputs; Soma returns the input, as NumPy does",
    "Round/int64": "TF 2.21's CPU Round kernel returns 0 for integer inputs; Soma returns the input, as NumPy does",
}

passed, failed, skipped = 0, 0, 0


def read_graph_def(path):
    graph_def = tf1.GraphDef()
    with open(path, "rb") as f:
        graph_def.ParseFromString(f.read())
    return graph_def


def import_graph(graph_def):
    graph = tf.Graph()
    with graph.as_default():
        tf1.import_graph_def(graph_def, name="")
    return graph


def decode(t):
    values = [float("nan") if v == "nan" else float("inf") if v == "inf" else float("-inf") if v == "-inf" else v
              for v in t["values"]]
    return np.array(values, dtype=np.float64 if t["dtype"].startswith("float") else None).astype(DT[t["dtype"]]).reshape(t["shape"])


def close(actual, expected, tol):
    if actual.shape != expected.shape or actual.dtype != expected.dtype:
        return False
    if expected.dtype.kind == "f":
        return np.allclose(actual, expected, rtol=tol, atol=tol, equal_nan=True)
    return np.array_equal(actual, expected)


# Every op case, as Soma wrote it; each case runs in a graph of its own, because TF
# instantiates every kernel of a session's graph and lacks some (RealDiv on int32, …).
cases = json.load(open(cases_path))["cases"]
all_cases = read_graph_def(os.path.join(export, "op_cases.pb"))
no_kernel = {}
for i, c in enumerate(cases):
    if any(c["name"].startswith(p) for p in KNOWN_DIFFERENCES):
        skipped += 1
        continue
    fetches = [f"case_{i}/op:{k}" for k in range(len(c["outputs"]))]
    graph = import_graph(tf1.graph_util.extract_sub_graph(all_cases, [f"case_{i}/op"]))
    with tf1.Session(graph=graph) as sess:
        try:
            results = sess.run(fetches)
        except Exception as e:  # noqa: BLE001 - report and continue
            message = str(e)
            if "No OpKernel was registered" in message:
                skipped += 1
                dtypes = sorted({t["dtype"] for t in c["inputs"]})
                no_kernel.setdefault(c["op"], set()).update(dtypes)
                continue
            failed += 1
            lines = [l for l in message.splitlines() if l.strip()]
            print(f"FAIL {c['name']}: TF could not run it: {lines[:3]}")
            continue
        ok = all(close(np.asarray(r), decode(e), c["tolerance"]) for r, e in zip(results, c["outputs"]))
        if ok:
            passed += 1
        else:
            failed += 1
            print(f"FAIL {c['name']}: TF gave {[np.asarray(r).tolist() for r in results]}, "
                  f"Soma/NumPy expect {[decode(e).tolist() for e in c['outputs']]}")

# Models with variables and placeholders, with Soma's outputs.
for model in sorted(os.listdir(export)):
    folder = os.path.join(export, model)
    # persistence/: check_tf_persistence.py; tensorboard/: check_tensorboard.py
    if not os.path.isdir(folder) or model in ("persistence", "tensorboard"):
        continue
    manifest = json.load(open(os.path.join(folder, "manifest.json")))
    graph = import_graph(read_graph_def(os.path.join(folder, "model.pb")))
    with tf1.Session(graph=graph) as sess:
        if manifest.get("initializer"):
            sess.run(graph.get_operation_by_name(manifest["initializer"]))
        feeds = {graph.get_tensor_by_name(f"{name}:0"): np.load(os.path.join(folder, file))
                 for name, file in manifest["inputs"].items()}
        # Training graphs: run Soma's train op (its gradient ops and Apply* updates) first.
        if manifest.get("train"):
            for _ in range(manifest["train"]["steps"]):
                sess.run(graph.get_operation_by_name(manifest["train"]["op"]), feed_dict=feeds)
        results = sess.run([f["name"] for f in manifest["fetches"]], feed_dict=feeds)
        for f, r in zip(manifest["fetches"], results):
            expected = np.load(os.path.join(folder, f["file"]))
            if close(np.asarray(r), expected, f["tolerance"]):
                passed += 1
            else:
                failed += 1
                print(f"FAIL {model}/{f['name']}: TF gave {np.asarray(r).tolist()}, Soma gave {expected.tolist()}")

for prefix, reason in KNOWN_DIFFERENCES.items():
    print(f"skipped {prefix}: {reason}")
for op, dtypes in sorted(no_kernel.items()):
    print(f"skipped {op} on {', '.join(sorted(dtypes))}: TensorFlow has no CPU kernel for it")
print(f"tf-interop: {passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
