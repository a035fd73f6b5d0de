#!/usr/bin/env python3
"""Writes checkpoints and SavedModels made by TensorFlow, for Soma to read:

    Tests/SomaTests/Fixtures/checkpoints/<name>/   a checkpoint (TensorBundle V2 + `checkpoint`
                                                   state file) and manifest.json with every
                                                   tensor's dtype, shape and values
    Tests/SomaTests/Fixtures/saved_models/<name>/  a SavedModel and manifest.json: signatures,
                                                   inputs (.npy) and TF's outputs (.npy)

Run with `pip install tensorflow-cpu`: python3 Tools/make_saved_model_fixtures.py
"""
import json
import os
import shutil

import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "SomaTests", "Fixtures")
rng = np.random.default_rng(2026)


def fresh(*parts):
    folder = os.path.join(ROOT, *parts)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    return folder


def describe(value):
    value = np.asarray(value)
    if value.dtype.kind in ("S", "O", "U"):
        flat = [v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in value.reshape(-1)]
        return {"dtype": "string", "shape": list(value.shape), "values": flat}
    return {"dtype": str(value.dtype), "shape": list(value.shape), "values": value.reshape(-1).tolist()}


def checkpoint_manifest(folder, prefix):
    reader = tf.train.load_checkpoint(os.path.join(folder, prefix))
    tensors = {name: describe(reader.get_tensor(name)) for name in sorted(reader.get_variable_to_shape_map())}
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump({"prefix": prefix, "tensors": tensors}, f, indent=1, sort_keys=True)
    print(f"checkpoint {os.path.basename(folder)}: {len(tensors)} tensors")


def tf1_saver_checkpoint():
    """tf.compat.v1.train.Saver over ref variables of every dtype Soma has, at step 7."""
    folder = fresh("checkpoints", "tf1_saver")
    graph = tf.Graph()
    with graph.as_default():
        tf1.Variable(rng.standard_normal((3, 2)).astype(np.float32), name="dense/kernel", use_resource=False)
        tf1.Variable(rng.standard_normal(2), name="dense/bias", use_resource=False)  # float64
        tf1.Variable(np.array([1, -2, 3, -4], np.int32), name="counts", use_resource=False)
        tf1.Variable(np.int64(1) << 40, name="big", use_resource=False)
        tf1.Variable(np.array([0, 127, 255], np.uint8), name="bytes", use_resource=False)
        tf1.Variable(np.array([True, False]), name="flags", use_resource=False)
        tf1.Variable(np.array([b"alpha", b"", b"\xce\xb2eta"]), name="words", use_resource=False)
        step = tf1.train.get_or_create_global_step()
        saver = tf1.train.Saver()
        cwd = os.getcwd()
        os.chdir(folder)  # a relative prefix, so the state file holds relative paths
        try:
            with tf1.Session() as sess:
                sess.run(tf1.global_variables_initializer())
                sess.run(step.assign(7))
                saver.save(sess, "model.ckpt", global_step=7, write_meta_graph=False)
        finally:
            os.chdir(cwd)
    checkpoint_manifest(folder, "model.ckpt-7")


def tf2_checkpoint():
    """tf.train.Checkpoint of a module: object-graph keys and the string object graph."""
    folder = fresh("checkpoints", "tf2_object")

    class Dense(tf.Module):
        def __init__(self):
            self.kernel = tf.Variable(rng.standard_normal((4, 3)).astype(np.float32))
            self.bias = tf.Variable(np.zeros(3, np.float32))

    model = Dense()
    checkpoint = tf.train.Checkpoint(model=model, step=tf.Variable(np.int64(12)))
    checkpoint.write(os.path.join(folder, "ckpt"))
    checkpoint_manifest(folder, "ckpt")


if __name__ == "__main__":
    tf1_saver_checkpoint()
    tf2_checkpoint()
