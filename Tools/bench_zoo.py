#!/usr/bin/env python3
"""Real architectures side by side: Soma, TensorFlow and ONNX Runtime on frozen Keras models.

Each model (Keras applications with random weights and no softmax — at 224², and at the small
sizes of the issue's benchmark set: MobileNetV2 α 0.35 at 96², ResNet50 and EfficientNetB0 at
64², InceptionV3 at 75² —, a convolutional autoencoder, and a Keras transformer encoder block
built on MultiHeadAttention, i.e. Einsum) is frozen to a GraphDef, converted to
ONNX with tf2onnx, run by the three engines on the same input, checked against TF's output,
then timed interleaved round by round (median ms and the ratios Soma/TF, Soma/ORT; Soma's
planned arena against its lower bound).

    pip install tensorflow-cpu onnxruntime tf2onnx
    python3 Tools/bench_zoo.py [--only MobileNetV2 …] [--rounds 3] [--runs 20] [--load N] [--json out.json]
"""
import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import onnxruntime as ort
import tensorflow as tf
import tf2onnx
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from bench_common import WARMUP_SECONDS, competing_load, graphtool_path, soma_report, tf_step_peak_bytes


def transformer_encoder():
    """One encoder block: 4-head self-attention, residual + layer norm, a 2-layer MLP."""
    x = tf.keras.Input((64, 128))
    a = tf.keras.layers.MultiHeadAttention(4, 32)(x, x)
    h = tf.keras.layers.LayerNormalization()(x + a)
    f = tf.keras.layers.Dense(128)(tf.keras.layers.Dense(512, activation="gelu")(h))
    return tf.keras.Model(x, tf.keras.layers.LayerNormalization()(h + f))


def conv_autoencoder():
    """A convolutional autoencoder on 64×64×3: Conv2D + max pooling down, UpSampling2D and Conv2DTranspose up."""
    x = tf.keras.Input((64, 64, 3))
    h = x
    for filters in (32, 64):
        h = tf.keras.layers.MaxPooling2D()(tf.keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(h))
    h = tf.keras.layers.Conv2D(16, 3, padding="same", activation="relu")(h)
    h = tf.keras.layers.Conv2D(64, 3, padding="same", activation="relu")(tf.keras.layers.UpSampling2D()(h))
    h = tf.keras.layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(h)
    return tf.keras.Model(x, tf.keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid")(h))


def application(name, size=224, **options):
    return lambda: getattr(tf.keras.applications, name)(weights=None, input_shape=(size, size, 3), classifier_activation=None,
                                                         **options)


MODELS = {
    "MobileNet": application("MobileNet"),
    "MobileNetV2": application("MobileNetV2"),
    "EfficientNetB0": application("EfficientNetB0"),
    "ResNet50": application("ResNet50"),
    "DenseNet121": application("DenseNet121"),
    "MobileNetV2_0.35_96": application("MobileNetV2", 96, alpha=0.35),
    "ResNet50_64": application("ResNet50", 64),
    "EfficientNetB0_64": application("EfficientNetB0", 64),
    "InceptionV3_75": application("InceptionV3", 75),
    "conv_autoencoder": conv_autoencoder,
    "transformer_encoder": transformer_encoder,
}


def freeze(name, folder):
    tf.keras.utils.set_random_seed(1)
    model = MODELS[name]()
    shape = [1] + list(model.input_shape[1:])
    function = tf.function(lambda x: model(x, training=False)).get_concrete_function(tf.TensorSpec(shape, tf.float32, name="x"))
    frozen = convert_variables_to_constants_v2(function)
    graph_def = frozen.graph.as_graph_def()
    output = frozen.outputs[0].name.split(":")[0]
    pb = os.path.join(folder, f"{name}.pb")
    with open(pb, "wb") as f:
        f.write(graph_def.SerializeToString())
    value = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    npy = os.path.join(folder, f"{name}_x.npy")
    np.save(npy, value)
    onnx_path = os.path.join(folder, f"{name}.onnx")
    tf2onnx.convert.from_graph_def(erfc_as_erf(graph_def), input_names=["x:0"], output_names=[f"{output}:0"],
                                   output_path=onnx_path)
    return graph_def, output, pb, npy, onnx_path, value


def erfc_as_erf(graph_def):
    """A copy of `graph_def` with each `Erfc(x)` (Keras' exact GELU) as `1 − Erf(x)`, which tf2onnx converts."""
    rewritten = tf.compat.v1.GraphDef()
    rewritten.CopyFrom(graph_def)
    for node in [n for n in rewritten.node if n.op == "Erfc"]:
        dtype = node.attr["T"]
        erf = rewritten.node.add(name=f"{node.name}/erf", op="Erf", input=list(node.input))
        erf.attr["T"].CopyFrom(dtype)
        one = rewritten.node.add(name=f"{node.name}/one", op="Const")
        one.attr["dtype"].CopyFrom(dtype)
        one.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(1.0, tf.as_dtype(dtype.type)))
        del node.input[:]
        node.op = "Sub"
        node.input.extend([one.name, erf.name])
    return rewritten


def relative_error(value, expected):
    return float(np.max(np.abs(value - expected)) / (np.max(np.abs(expected)) + 1e-12))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--load", type=int, default=0)
    parser.add_argument("--json")
    args = parser.parse_args()
    graphtool = graphtool_path()
    folder = tempfile.mkdtemp(prefix="soma-zoo-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # the models and feeds written: no litter
    results = {}
    for name in args.only or list(MODELS):
        graph_def, output, pb, npy, onnx_path, value = freeze(name, folder)
        graph = tf.Graph()
        with graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        sess = tf.compat.v1.Session(graph=graph)
        x_t, out_t = graph.get_tensor_by_name("x:0"), graph.get_tensor_by_name(f"{output}:0")
        expected = sess.run(out_t, {x_t: value})
        try:
            ort_sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        except Exception as error:  # tf2onnx may emit ops ONNX Runtime lacks
            print(f"{name}: ONNX Runtime cannot run the converted model ({type(error).__name__})", flush=True)
            ort_sess = None
        if ort_sess:  # a conversion that computes something else is not timed
            ort_error = relative_error(ort_sess.run(None, {"x:0": value})[0], expected)
            if ort_error > 1e-3:
                print(f"{name}: the converted model's output differs from TF's (max rel. error {ort_error:.1e})", flush=True)
                ort_sess = None
        out_npy = os.path.join(folder, f"{name}_soma.npy")
        subprocess.run([graphtool, "run", pb, "--input", f"x={npy}", "--fetch", f"{output}={out_npy}"], check=True,
                       stdout=subprocess.DEVNULL)
        error = relative_error(np.load(out_npy), expected)
        timings = {"tf": [], "ort": [], "soma": []} if ort_sess else {"tf": [], "soma": []}
        with competing_load(args.load):
            for _ in range(args.rounds):
                engines = [("tf", lambda: sess.run(out_t, {x_t: value}))]
                if ort_sess:
                    engines.append(("ort", lambda: ort_sess.run(None, {"x:0": value})))
                for engine, run in engines:
                    run()
                    samples = []
                    for _ in range(args.runs):
                        t0 = time.perf_counter_ns()
                        run()
                        samples.append(time.perf_counter_ns() - t0)
                    timings[engine].append(statistics.median(samples) / 1e6)
                report = subprocess.run([graphtool, "bench", pb, "--input", f"x={npy}", "--fetch", output, "--runs", str(args.runs),
                                         "--warmup", "3", "--warmup-seconds", WARMUP_SECONDS, "--json"], check=True, capture_output=True, text=True)
                timings["soma"].append(json.loads(report.stdout)["median_ms"])
        memory, memory_text = soma_report(json.loads(report.stdout), tf_step_peak_bytes(sess, out_t, {x_t: value}))
        row = {k: statistics.median(v) for k, v in timings.items()} | memory
        row["max_relative_error"] = error
        results[name] = row
        ort_text = f"ORT {row['ort']:8.2f} ms  " if "ort" in row else "ORT      n/a    "
        ort_ratio = f"Soma/ORT {row['soma'] / row['ort']:5.2f}" if "ort" in row else "Soma/ORT   n/a"
        print(f"{name:20s} TF {row['tf']:8.2f} ms  {ort_text}Soma {row['soma']:8.2f} ms  Soma/TF {row['soma'] / row['tf']:5.2f}  "
              f"{ort_ratio}  max rel. error {error:.1e}  {memory_text}", flush=True)
    ratios = [r["soma"] / r["tf"] for r in results.values()], [r["soma"] / r["ort"] for r in results.values() if "ort" in r]
    print(f"geometric mean: Soma/TF {np.exp(np.mean(np.log(ratios[0]))):.2f}  Soma/ORT {np.exp(np.mean(np.log(ratios[1]))):.2f}")
    levels = sorted({row["vector_instructions"] for row in results.values() if "vector_instructions" in row})
    print(f"Soma's vector loops ran with: {', '.join(levels) or 'unknown'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"load": args.load, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
