#!/usr/bin/env python3
"""Records TensorFlow training runs that Soma must reproduce (tf.compat.v1 graph mode):

    Tests/SomaTests/Fixtures/training/optimizers.json
        For each TF1 optimiser: a variable w (float32 [4]) minimising
        Σ c·w + ½ Σ w² + ¼ Σ w⁴ for 5 steps, and w after each step.
    Tests/SomaTests/Fixtures/training/mlp_sgd.json
        A 64 → 32 → 10 ReLU MLP on the 8×8 digits (pixels / 16) with given initial
        weights, trained by plain SGD (lr 0.1) on 100 given batches of 32, with the
        sparse softmax cross-entropy loss (mean) of every step.

Run with `pip install tensorflow-cpu scikit-learn`:

    python3 Tools/make_training_fixtures.py
"""
import json
import os

import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits

tf1 = tf.compat.v1
tf1.disable_eager_execution()
tf1.disable_resource_variables()
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "SomaTests", "Fixtures", "training")
rng = np.random.default_rng(2026)


def floats(a):
    return [float(v) for v in np.asarray(a, np.float32).ravel()]


def optimizers():
    w0 = rng.normal(size=4).astype(np.float32)
    c = rng.normal(size=4).astype(np.float32)
    cases = {
        "GradientDescent": lambda: tf1.train.GradientDescentOptimizer(0.1),
        "Momentum": lambda: tf1.train.MomentumOptimizer(0.1, momentum=0.9),
        "MomentumNesterov": lambda: tf1.train.MomentumOptimizer(0.1, momentum=0.9, use_nesterov=True),
        "Adam": lambda: tf1.train.AdamOptimizer(0.1),
        "RMSProp": lambda: tf1.train.RMSPropOptimizer(0.1, decay=0.9, momentum=0.5, epsilon=1e-6),
        "Adagrad": lambda: tf1.train.AdagradOptimizer(0.1, initial_accumulator_value=0.1),
    }
    result = {"w0": floats(w0), "c": floats(c), "steps": 5, "runs": {}}
    for name, make in cases.items():
        graph = tf.Graph()
        with graph.as_default():
            w = tf1.get_variable("w", initializer=tf.constant(w0))
            loss = tf.reduce_sum(tf.constant(c) * w) + 0.5 * tf.reduce_sum(w * w) + 0.25 * tf.reduce_sum(w ** 4)
            train = make().minimize(loss)
            with tf1.Session() as sess:
                sess.run(tf1.global_variables_initializer())
                trajectory = []
                for _ in range(result["steps"]):
                    sess.run(train)
                    trajectory.append(floats(sess.run(w)))
        result["runs"][name] = trajectory
    return result


def mlp_sgd():
    digits = load_digits()
    x_all = (digits.data / 16.0).astype(np.float32)
    y_all = digits.target.astype(np.int64)
    shapes = {"w1": (64, 32), "b1": (32,), "w2": (32, 10), "b2": (10,)}
    init = {k: (rng.normal(0, 0.2, size=s) if k[0] == "w" else rng.normal(0, 0.05, size=s)).astype(np.float32)
            for k, s in shapes.items()}
    order = rng.permutation(len(y_all))
    batches = [order[(32 * i) % 1760:(32 * i) % 1760 + 32] for i in range(100)]
    graph = tf.Graph()
    with graph.as_default():
        x = tf1.placeholder(tf.float32, [None, 64])
        y = tf1.placeholder(tf.int64, [None])
        v = {k: tf1.get_variable(k, initializer=tf.constant(a)) for k, a in init.items()}
        h = tf.nn.relu(tf.nn.bias_add(tf.matmul(x, v["w1"]), v["b1"]))
        logits = tf.nn.bias_add(tf.matmul(h, v["w2"]), v["b2"])
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        train = tf1.train.GradientDescentOptimizer(0.1).minimize(loss)
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            losses = []
            for b in batches:
                value, _ = sess.run([loss, train], {x: x_all[b], y: y_all[b]})
                losses.append(float(value))
    return {"initial": {k: {"shape": list(a.shape), "values": floats(a)} for k, a in init.items()},
            "learning_rate": 0.1, "batches": [[int(i) for i in b] for b in batches], "losses": losses}


os.makedirs(OUT, exist_ok=True)
for name, data in [("optimizers", optimizers()), ("mlp_sgd", mlp_sgd())]:
    path = os.path.join(OUT, f"{name}.json")
    with open(path, "w") as f:
        json.dump(data, f)
    print(path)
