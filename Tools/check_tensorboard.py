#!/usr/bin/env python3
"""Reads the TensorBoard event files Soma wrote with TensorBoard's own reader
(EventAccumulator) and checks every value against an independent reference: the values
Soma logged, and TensorFlow's own summary ops (histogram buckets, image normalisation and
PNG pixels) run on the same inputs.

    python3 Tools/check_tensorboard.py EXPORT_DIR

EXPORT_DIR/tensorboard is written by interop-export (Tools/tf-interop.sh runs both).
Prints one line per failure and a closing `tensorboard: N passed, M failed` line; exits
non-zero on any failure.
"""
import glob
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_common import Checks  # noqa: E402
from tensorboard.backend.event_processing import event_accumulator as ea

tf.get_logger().setLevel("ERROR")
tf1 = tf.compat.v1

root = os.path.join(sys.argv[1], "tensorboard")
manifest = json.load(open(os.path.join(root, "manifest.json")))
check = Checks("tensorboard")


def load(folder):
    files = glob.glob(os.path.join(root, folder, "events.out.tfevents.*"))
    check(f"{folder}: one event file", len(files) == 1, str(files))
    acc = ea.EventAccumulator(os.path.join(root, folder), size_guidance={
        ea.SCALARS: 0, ea.HISTOGRAMS: 0, ea.IMAGES: 0, ea.TENSORS: 0, ea.GRAPH: 1})
    acc.Reload()
    return acc


def tf_summary(build, value):
    """Runs TF's own summary op (graph mode) on `value`; returns the parsed Summary."""
    with tf1.Graph().as_default(), tf1.Session() as session:
        placeholder = tf1.placeholder(tf.as_dtype(value.dtype), value.shape)
        serialized = session.run(build(placeholder), {placeholder: value})
    return tf1.Summary.FromString(serialized)


def same_histogram(what, actual, expected):
    fields = ["min", "max", "num", "sum", "sum_squares"]
    for f in fields:
        a, e = getattr(actual, f), getattr(expected, f)
        check(f"{what} {f}", np.isclose(a, e, rtol=1e-12, atol=0), f"{a} vs TF's {e}")
    check(f"{what} bucket limits", list(actual.bucket_limit) == list(expected.bucket_limit),
          f"{len(actual.bucket_limit)} limits vs TF's {len(expected.bucket_limit)}")
    check(f"{what} bucket counts", list(actual.bucket) == list(expected.bucket))


def pixels(png):
    return tf.io.decode_png(png).numpy()


# Summary ops fetched from a graph, with the graph itself.
acc = load("ops")
tags = acc.Tags()
losses = [e.value for e in acc.Scalars("loss")]
check("ops: loss per step", np.allclose(losses, np.float32(manifest["ops"]["loss"]), rtol=0, atol=0), f"{losses}")
check("ops: loss steps", [e.step for e in acc.Scalars("loss")] == [0, 1])
histograms = acc.Histograms("activations")
check("ops: one histogram per step", [h.step for h in histograms] == [0, 1])
for h in histograms:
    x = np.load(os.path.join(root, f"x_{h.step}.npy"))
    reference = tf_summary(lambda p: tf1.summary.histogram("activations", p), x).value[0].histo
    same_histogram(f"ops: histogram step {h.step}", h.histogram_value, reference)
for tag in ["inputs/image/0", "inputs/image/1"]:
    images = acc.Images(tag) if tag in tags["images"] else []
    check(f"ops: {tag} at steps 0, 1, 2", [i.step for i in images] == [0, 1, 2], f"{tags['images']}")
    for image in images:
        x = np.load(os.path.join(root, f"x_{image.step}.npy"))
        reference = tf_summary(lambda p: tf1.summary.image("inputs", p, max_outputs=2), x)
        expected = next(v.image for v in reference.value if v.tag == tag)
        check(f"ops: {tag} step {image.step} size", (image.width, image.height) == (expected.width, expected.height))
        a, e = pixels(image.encoded_image_string), pixels(expected.encoded_image_string)
        check(f"ops: {tag} step {image.step} pixels equal TF's", a.shape == e.shape and np.array_equal(a, e),
              f"{int(np.sum(a != e))} differ" if a.shape == e.shape else f"{a.shape} vs {e.shape}")
text = acc.Tensors("note")
check("ops: text", len(text) == 2 and tf.make_ndarray(text[0].tensor_proto).item() == b"**Soma** writes *TensorBoard* logs")
check("ops: text plugin", acc.SummaryMetadata("note").plugin_data.plugin_name == "text")
check("ops: graph present", tags["graph"])
graph_def = acc.Graph()
names = {n.name for n in graph_def.node}
missing = [n for n in manifest["ops"]["graph_nodes"] if n not in names]
check("ops: graph nodes in name scopes", not missing, f"missing {missing} among {sorted(names)}")
with tf1.Graph().as_default():
    try:
        tf1.import_graph_def(tf1.GraphDef.FromString(graph_def.SerializeToString()), name="")
        check("ops: TF imports the event file's graph", True)
    except Exception as e:  # noqa: BLE001
        check("ops: TF imports the event file's graph", False, str(e))

# The writer's direct methods.
acc = load("direct")
values = [(e.step, e.value) for e in acc.Scalars("direct/value")]
check("direct: scalars", values == [(s, np.float32(s * 0.25 - 1)) for s in range(4)], f"{values}")
weights = np.load(os.path.join(root, "weights.npy"))
h = acc.Histograms("direct/weights")
reference = tf_summary(lambda p: tf1.summary.histogram("w", p), weights).value[0].histo
check("direct: histogram step", [e.step for e in h] == [1])
same_histogram("direct: histogram", h[0].histogram_value, reference)
image = acc.Images("direct/pixels/image")
expected = np.load(os.path.join(root, "pixels.npy"))[0]
check("direct: uint8 RGBA image unchanged", len(image) == 1 and np.array_equal(pixels(image[0].encoded_image_string), expected))
text = acc.Tensors("direct/text")
check("direct: text", len(text) == 1 and tf.make_ndarray(text[0].tensor_proto).item() == b"line one\nline two")

# fit's TensorBoard callback: Keras' layout (train/ and validation/, epoch_ tags).
train, validation = load("fit/train"), load("fit/validation")
fit = manifest["fit"]
loss = [e.value for e in train.Scalars("epoch_loss")]
check("fit: train epoch_loss", np.allclose(loss, np.float32(fit["loss"]), rtol=0, atol=0), f"{loss} vs {fit['loss']}")
val = [e.value for e in validation.Scalars("epoch_loss")]
check("fit: validation epoch_loss", np.allclose(val, np.float32(fit["val_loss"]), rtol=0, atol=0), f"{val} vs {fit['val_loss']}")
check("fit: epochs as steps", [e.step for e in train.Scalars("epoch_loss")] == [0, 1, 2])
check("fit: weight histograms", sorted(train.Tags()["histograms"]) == sorted(fit["variables"]), f"{train.Tags()['histograms']}")
check("fit: graph", train.Tags()["graph"] and len(train.Graph().node) > 0)

check.finish()
