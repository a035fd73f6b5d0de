#!/usr/bin/env python3
"""Writes checkpoints and SavedModels made by TensorFlow, for Soma to read:

    Tests/SomaTests/Fixtures/checkpoints/<name>/   a checkpoint (TensorBundle V2 + `checkpoint`
                                                   state file) and manifest.json with every
                                                   tensor's dtype, shape and values
    Tests/SomaTests/Fixtures/saved_models/<name>/  a SavedModel and manifest.json: signatures,
                                                   inputs (.npy) and TF's outputs (.npy)
    Tests/SomaTests/Fixtures/resource_training/    TF1 training GraphDefs over resource
                                                   variables, one per optimiser, and the
                                                   variable after each step

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




def save_inputs_outputs(folder, signature_runs, extra=None):
    """signature_runs: {signature key: (inputs dict, outputs dict)} -> manifest.json + .npy files."""
    manifest = {"signatures": {}}
    for key, (inputs, outputs) in signature_runs.items():
        entry = {"inputs": {}, "outputs": {}}
        for name, value in inputs.items():
            file = f"{key}_in_{name}.npy"
            np.save(os.path.join(folder, file), np.asarray(value))
            entry["inputs"][name] = file
        for name, value in outputs.items():
            file = f"{key}_out_{name}.npy"
            np.save(os.path.join(folder, file), np.asarray(value))
            entry["outputs"][name] = file
        manifest["signatures"][key] = entry
    manifest.update(extra or {})
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)


def tf1_saved_model(name, use_resource):
    """A TF1 SavedModel (builder API): a two-layer MLP over VariableV2 or resource variables."""
    folder = fresh("saved_models", name)
    shutil.rmtree(folder)
    x_value = rng.standard_normal((4, 5)).astype(np.float32)
    graph = tf.Graph()
    with graph.as_default():
        x = tf1.placeholder(tf.float32, [None, 5], name="x")
        with tf1.variable_scope("model", use_resource=use_resource):
            w1 = tf1.get_variable("w1", initializer=rng.standard_normal((5, 8)).astype(np.float32))
            b1 = tf1.get_variable("b1", initializer=rng.standard_normal(8).astype(np.float32))
            w2 = tf1.get_variable("w2", initializer=rng.standard_normal((8, 3)).astype(np.float32))
            step = tf1.get_variable("step", initializer=np.int64(5), trainable=False)
        hidden = tf.nn.relu(tf.matmul(x, w1) + b1)
        y = tf.identity(tf.nn.softmax(tf.matmul(hidden, w2)), name="y")
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            value = sess.run(y, {x: x_value})
            builder = tf1.saved_model.builder.SavedModelBuilder(folder)
            builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={
                "serving_default": tf1.saved_model.predict_signature_def({"x": x}, {"probs": y})})
            builder.save()
    save_inputs_outputs(folder, {"serving_default": ({"x": x_value}, {"probs": value})},
                        {"ops": sorted({n.op for n in graph.as_graph_def().node})})
    print(f"saved model {name}")


def tf2_module_saved_model():
    """tf.saved_model.save of a tf.Module: functions, StatefulPartitionedCall, two signatures."""
    folder = fresh("saved_models", "tf2_module")
    shutil.rmtree(folder)

    class Model(tf.Module):
        def __init__(self):
            self.w = tf.Variable(rng.standard_normal((5, 3)).astype(np.float32), name="w")
            self.b = tf.Variable(rng.standard_normal(3).astype(np.float32), name="b")
            self.scale = tf.Variable(np.float64(0.5), name="scale")

        @tf.function(input_signature=[tf.TensorSpec([None, 5], tf.float32)])
        def predict(self, x):
            logits = tf.matmul(x, self.w) + self.b
            return {"logits": logits, "probs": tf.nn.softmax(logits)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float64)])
        def scaled(self, v):
            return {"out": v * self.scale + tf.reduce_sum(v)}

    model = Model()
    tf.saved_model.save(model, folder, signatures={"serving_default": model.predict, "scaled": model.scaled})
    x_value = rng.standard_normal((3, 5)).astype(np.float32)
    v_value = rng.standard_normal(4)
    predicted = model.predict(tf.constant(x_value))
    save_inputs_outputs(folder, {
        "serving_default": ({"x": x_value}, {k: v.numpy() for k, v in predicted.items()}),
        "scaled": ({"v": v_value}, {"out": model.scaled(tf.constant(v_value))["out"].numpy()}),
    })
    print("saved model tf2_module")


def keras_cnn_saved_model():
    """A small Keras CNN with batch normalisation, exported for serving (model.export)."""
    folder = fresh("saved_models", "keras_cnn")
    shutil.rmtree(folder)
    keras = tf.keras
    inputs = keras.Input((8, 8, 1), name="image")
    h = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(3, activation="softmax")(h)
    model = keras.Model(inputs, outputs)
    # Non-trivial moving statistics, so inference-mode batch norm is checked.
    model.layers[2].moving_mean.assign(rng.standard_normal(4).astype(np.float32) * 0.1)
    model.layers[2].moving_variance.assign(1 + rng.random(4).astype(np.float32))
    model.export(folder, verbose=False)
    x_value = rng.standard_normal((2, 8, 8, 1)).astype(np.float32)
    loaded = tf.saved_model.load(folder)
    runs = {}
    for key, signature in loaded.signatures.items():
        input_name = list(signature.structured_input_signature[1].keys())[0]
        outputs = {k: v.numpy() for k, v in signature(**{input_name: tf.constant(x_value)}).items()}
        runs[key] = ({input_name: x_value}, outputs)
    save_inputs_outputs(folder, runs)
    print("saved model keras_cnn")


def resource_training():
    """TF1 training graphs over resource variables (TF 2.x's default in tf.compat.v1): for each
    optimiser, a GraphDef with `init` and `train` (ResourceApply*, AssignAddVariableOp on the
    global step) and w after each of 5 steps."""
    folder = fresh("resource_training")
    w0 = rng.normal(size=4).astype(np.float32)
    c = rng.normal(size=4).astype(np.float32)
    cases = {
        "GradientDescent": lambda: tf1.train.GradientDescentOptimizer(0.1),
        "Momentum": lambda: tf1.train.MomentumOptimizer(0.1, momentum=0.9, use_nesterov=True),
        "Adam": lambda: tf1.train.AdamOptimizer(0.1),
        "RMSProp": lambda: tf1.train.RMSPropOptimizer(0.1, decay=0.9, momentum=0.5, epsilon=1e-6),
        "Adagrad": lambda: tf1.train.AdagradOptimizer(0.1, initial_accumulator_value=0.1),
    }
    manifest = {"steps": 5, "runs": {}}
    for name, make in cases.items():
        graph = tf.Graph()
        with graph.as_default():
            with tf1.variable_scope("", use_resource=True):
                w = tf1.get_variable("w", initializer=tf.constant(w0))
                step = tf1.train.get_or_create_global_step()
            loss = tf.reduce_sum(tf.constant(c) * w) + 0.5 * tf.reduce_sum(w * w) + 0.25 * tf.reduce_sum(w ** 4)
            make().minimize(loss, global_step=step, name="train")
            tf1.global_variables_initializer()  # named "init"
            with tf1.Session() as sess:
                sess.run("init")
                trajectory = []
                for _ in range(manifest["steps"]):
                    sess.run("train")
                    trajectory.append([float(v) for v in sess.run(w)])
                final_step = int(sess.run(step))
        with open(os.path.join(folder, f"{name}.pb"), "wb") as f:
            f.write(graph.as_graph_def().SerializeToString())
        manifest["runs"][name] = {"w": trajectory, "global_step": final_step,
                                  "ops": sorted({n.op for n in graph.as_graph_def().node})}
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    print(f"resource training: {len(cases)} optimisers")


if __name__ == "__main__":
    resource_training()
    tf1_saver_checkpoint()
    tf2_checkpoint()
    tf1_saved_model("tf1_ref", use_resource=False)
    tf1_saved_model("tf1_resource", use_resource=True)
    tf2_module_saved_model()
    keras_cnn_saved_model()
