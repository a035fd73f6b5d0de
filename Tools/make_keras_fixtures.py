#!/usr/bin/env python3
"""Writes Keras (3, on TensorFlow) reference results for Soma's layers:

    Tests/SomaTests/Fixtures/keras/<case>/x<k>.npy     inputs
    Tests/SomaTests/Fixtures/keras/<case>/w<k>.npy     the layer's weights, in Keras' order
    Tests/SomaTests/Fixtures/keras/<case>/r.npy        a random cotangent for the output
    Tests/SomaTests/Fixtures/keras/<case>/out.npy      the layer's output
    Tests/SomaTests/Fixtures/keras/<case>/dx<k>.npy    d Σ(out · r) / d x<k>  (float inputs)
    Tests/SomaTests/Fixtures/keras/<case>/dw<k>.npy    d Σ(out · r) / d w<k>  (trainable weights)
    Tests/SomaTests/Fixtures/keras/manifest.json       per case: weight paths, training flag, …

Weights are seeded random values set with `set_weights`, so the test checks the layer's
arithmetic, not its initialisers. The Swift side (`LayerFixtureTests`) builds the same
layer from its case name. Run:

    python3 Tools/make_keras_fixtures.py
"""
import json
import os
import shutil

import numpy as np
import tensorflow as tf
import keras
from keras import layers

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "SomaTests", "Fixtures", "keras")
rng = np.random.default_rng(2026)


def normal(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def default_apply(layer, tensors, training):
    return layer(tensors if len(tensors) > 1 else tensors[0], training=training)


def case(name, layer, inputs, training=False, positive_weights=(), apply=default_apply):
    """Runs `layer` on `inputs` (numpy arrays) and writes its output and gradients."""
    tensors = [tf.constant(x) for x in inputs]
    apply(layer, tensors, False)  # build
    weights = []
    for k, w in enumerate(layer.get_weights()):
        value = normal(*w.shape) * 0.5
        if k in positive_weights:  # variances
            value = np.abs(value) + 0.5
        weights.append(value.astype(w.dtype))
    layer.set_weights(weights)
    trainable = [w for w in layer.weights if w.trainable]
    with tf.GradientTape(persistent=True) as tape:
        float_inputs = [t for t in tensors if t.dtype.is_floating]
        for t in float_inputs:
            tape.watch(t)
        out = apply(layer, tensors, training)
        r = tf.constant(normal(*out.shape))
        objective = tf.reduce_sum(out * r)
    folder = os.path.join(ROOT, name)
    os.makedirs(folder)
    for k, x in enumerate(inputs):
        np.save(os.path.join(folder, f"x{k}.npy"), x)
        if x.dtype.kind == "f":
            np.save(os.path.join(folder, f"dx{k}.npy"), tape.gradient(objective, tensors[k]).numpy())
    for k, w in enumerate(weights):
        np.save(os.path.join(folder, f"w{k}.npy"), w)
    for k, w in enumerate(layer.weights):
        if w.trainable:
            g = tape.gradient(objective, w)
            g = tf.convert_to_tensor(g)  # embeddings give IndexedSlices
            np.save(os.path.join(folder, f"dw{k}.npy"), g.numpy())
    np.save(os.path.join(folder, "r.npy"), r.numpy())
    np.save(os.path.join(folder, "out.npy"), out.numpy())
    after = {}
    if training and isinstance(layer, layers.BatchNormalization):
        np.save(os.path.join(folder, "moving_mean.npy"), layer.moving_mean.numpy())
        np.save(os.path.join(folder, "moving_variance.npy"), layer.moving_variance.numpy())
        after = {"moving": True}
    manifest[name] = {
        "weights": [w.path for w in layer.weights],
        "trainable": [bool(w.trainable) for w in layer.weights],
        "training": training,
        **after,
    }


manifest = {}
shutil.rmtree(ROOT, ignore_errors=True)
os.makedirs(ROOT)

case("dense", layers.Dense(5, activation="relu"), [normal(4, 3)])
case("dense_3d", layers.Dense(4), [normal(2, 3, 5)])
case("conv2d_same_stride2", layers.Conv2D(4, 3, strides=2, padding="same", activation="tanh"), [normal(2, 7, 7, 3)])
case("conv2d_valid", layers.Conv2D(3, 2), [normal(2, 5, 5, 2)])
case("conv2d_transpose_same", layers.Conv2DTranspose(3, 3, strides=2, padding="same"), [normal(2, 4, 4, 2)])
case("conv2d_transpose_valid", layers.Conv2DTranspose(2, 3, strides=2, padding="valid"), [normal(1, 3, 3, 2)])
case("depthwise_conv2d", layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same"), [normal(2, 5, 5, 3)])
case("separable_conv2d", layers.SeparableConv2D(4, 3, activation="relu"), [normal(2, 6, 6, 3)])
case("max_pooling2d", layers.MaxPooling2D(), [normal(2, 4, 4, 3)])
case("average_pooling2d_same", layers.AveragePooling2D(3, strides=2, padding="same"), [normal(2, 5, 5, 2)])
case("global_average_pooling2d", layers.GlobalAveragePooling2D(), [normal(2, 3, 4, 5)])
case("flatten", layers.Flatten(), [normal(2, 3, 4, 2)])
case("reshape", layers.Reshape((4, -1)), [normal(2, 3, 4, 2)])
case("batch_normalization_inference", layers.BatchNormalization(), [normal(4, 3, 3, 2)], positive_weights=(3,))
case("batch_normalization_training", layers.BatchNormalization(momentum=0.9), [normal(4, 3, 3, 2)],
     training=True, positive_weights=(3,))
case("batch_normalization_dense", layers.BatchNormalization(), [normal(6, 3)], positive_weights=(3,))
case("layer_normalization", layers.LayerNormalization(), [normal(3, 4, 5)])
case("embedding", layers.Embedding(10, 3), [rng.integers(0, 10, size=(3, 4)).astype(np.int32)])
case("lstm", layers.LSTM(4), [normal(2, 5, 3)])
case("lstm_sequences", layers.LSTM(3, return_sequences=True), [normal(2, 4, 3)])
case("gru_sequences", layers.GRU(3, return_sequences=True), [normal(2, 4, 3)])
case("simple_rnn", layers.SimpleRNN(4), [normal(2, 5, 3)])
case("multi_head_attention", layers.MultiHeadAttention(num_heads=2, key_dim=3), [normal(2, 4, 5), normal(2, 6, 5)],
     apply=lambda layer, ts, training: layer(ts[0], ts[1], training=training))
case("add", layers.Add(), [normal(2, 3), normal(2, 3), normal(2, 3)])
case("concatenate", layers.Concatenate(), [normal(2, 3), normal(2, 2)])
for activation in ["linear", "relu", "relu6", "leaky_relu", "elu", "selu", "sigmoid", "hard_sigmoid", "tanh",
                   "softmax", "softplus", "softsign", "gelu", "silu", "mish", "exponential"]:
    case(f"activation_{activation}", layers.Activation(activation), [normal(3, 5) * 2])

attention_mask = rng.random((2, 4, 6)) < 0.7
attention_mask[:, :, 0] = True  # every query attends somewhere
case("multi_head_attention_masked", layers.MultiHeadAttention(num_heads=2, key_dim=3),
     [normal(2, 4, 5), normal(2, 6, 5), attention_mask],
     apply=lambda layer, ts, training: layer(ts[0], ts[1], attention_mask=ts[2], training=training))
case("multi_head_attention_causal", layers.MultiHeadAttention(num_heads=2, key_dim=2), [normal(2, 4, 6)],
     apply=lambda layer, ts, training: layer(ts[0], ts[0], use_causal_mask=True, training=training))


def metric_fixture():
    """Keras' streaming metrics over three batches of fixed labels and predictions."""
    binary_labels = rng.integers(0, 2, size=30).astype(np.float32)
    scores = np.clip(binary_labels * 0.3 + rng.uniform(0, 0.7, size=30), 0, 1).astype(np.float32)
    class_labels = rng.integers(0, 4, size=30).astype(np.int64)
    class_scores = rng.uniform(0, 1, size=(30, 4)).astype(np.float32)
    # Regression targets as [n, 1]: Keras averages over the last axis first, so rank-1
    # targets would make one value per batch.
    targets = rng.standard_normal((30, 1)).astype(np.float32)
    estimates = (targets + rng.standard_normal((30, 1)) * 0.5).astype(np.float32)
    metrics = {
        "auc": (keras.metrics.AUC(), binary_labels, scores),
        "precision": (keras.metrics.Precision(), binary_labels, scores),
        "recall": (keras.metrics.Recall(), binary_labels, scores),
        "binary_accuracy": (keras.metrics.BinaryAccuracy(), binary_labels, scores),
        "sparse_categorical_accuracy": (keras.metrics.SparseCategoricalAccuracy(), class_labels, class_scores),
        "mean_squared_error": (keras.metrics.MeanSquaredError(), targets, estimates),
        "mean_absolute_error": (keras.metrics.MeanAbsoluteError(), targets, estimates),
    }
    out = {}
    for name, (metric, labels, predictions) in metrics.items():
        for start in range(0, 30, 12):  # batches of 12, 12, 6
            metric.update_state(labels[start:start + 12], predictions[start:start + 12])
        out[name] = {"labels": labels.reshape(-1).tolist(), "label_shape": list(labels.shape),
                     "predictions": predictions.reshape(-1).tolist(),
                     "prediction_shape": list(predictions.shape), "value": float(metric.result())}
    with open(os.path.join(ROOT, "metrics.json"), "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)


def summary_fixture():
    """The demo's CNN in Keras: each layer's output shape and parameter count, and the totals."""
    model = keras.Sequential([
        keras.Input(shape=(64,)),
        layers.Reshape((8, 8, 1)),
        layers.Conv2D(16, 3, padding="same", use_bias=False),
        layers.BatchNormalization(),
        layers.Activation("relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dropout(0.3),
        layers.Dense(10, activation="softmax"),
    ])
    rows = [{"type": type(l).__name__, "output_shape": [d for d in l.output.shape], "params": l.count_params()}
            for l in model.layers]
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    total = model.count_params()
    with open(os.path.join(ROOT, "summary.json"), "w") as f:
        json.dump({"layers": rows, "total": total, "trainable": trainable, "non_trainable": total - trainable}, f, indent=1)


summary_fixture()
metric_fixture()
with open(os.path.join(ROOT, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1, sort_keys=True)
print(f"wrote {len(manifest)} cases to {os.path.normpath(ROOT)}")
