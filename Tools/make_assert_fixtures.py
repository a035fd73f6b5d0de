#!/usr/bin/env python3
"""Records the messages TensorFlow's Assert gives for a set of data tensors and summarize
values (Tests/SomaTests/Fixtures/logging/assert_messages.json), for LoggingTests.

    python3 Tools/make_assert_fixtures.py
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1
tf1.disable_eager_execution()
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "SomaTests", "Fixtures", "logging",
                   "assert_messages.json")

CASES = [
    (3, [np.array([-1.5, 2, 3, 4], np.float32)]),
    (3, [np.array([[1, 2], [3, 4]], np.int32)]),
    (5, [np.arange(12, dtype=np.int64).reshape(2, 3, 2)]),
    (-1, [np.arange(6, dtype=np.float64).reshape(2, 3) / 4]),
    (2, [np.arange(8, dtype=np.int32).reshape(1, 1, 2, 4)]),
    (3, [np.array([True, False], np.bool_), np.array(2**40, np.int64)]),
    (3, [np.array(["x must be positive"], object).reshape(()), np.array([b"a", b"b\x01", b"c", b"d"], object)]),
    (4, [np.zeros((3, 0), np.float32), np.array([0.1, 1e-5, 123456789.0, -0.0], np.float32)]),
    (0, [np.array([1, 2], np.uint8)]),
    (10, [np.arange(6, dtype=np.float32).reshape(3, 2)]),
]


def dtype_name(a):
    return "string" if a.dtype == object else {np.float32: "float32", np.float64: "float64", np.int32: "int32",
                                                np.int64: "int64", np.uint8: "uint8", np.bool_: "bool"}[a.dtype.type]


def values(a):
    if a.dtype == object:
        return [v.decode("latin-1") if isinstance(v, bytes) else v for v in a.ravel().tolist()]
    return a.ravel().tolist()


cases = []
for summarize, data in CASES:
    with tf.Graph().as_default(), tf1.Session() as sess:
        tensors = [tf.constant(d.astype(object) if d.dtype == object else d) for d in data]
        op = tf.debugging.Assert(tf.constant(False), tensors, summarize=summarize)
        try:
            sess.run(op)
            raise SystemExit("the assertion did not fail")
        except tf.errors.InvalidArgumentError as e:
            message = e.message.split("\n\t")[0].split("\n")[-1]
    cases.append({"summarize": summarize, "message": message,
                  "data": [{"dtype": dtype_name(d), "shape": list(d.shape), "values": values(d)} for d in data]})
    print(message)
json.dump({"cases": cases}, open(OUT, "w"), indent=1)
