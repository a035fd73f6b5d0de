#!/usr/bin/env python3
"""Convolution FLOP rates: Soma against TensorFlow and against the machine's sgemm.

For each convolution shape (the harness CNN's and the zoo models' typical layers) builds
three single-op graphs in TensorFlow — Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter —
times each in Soma (`graphtool bench`, median) and in TF (`Session.run`, median, the same
thread count), and prints GFLOP/s (2·N·OH·OW·KH·KW·C·OC per pass) beside Soma's sgemm
rate: a 1024×1024×1024 float32 MatMul run by Soma (OpenBLAS) on the same threads.

    pip install tensorflow-cpu
    python3 Tools/bench_conv.py [--threads 1] [--only conv5x5_32_64 …]
"""
import argparse
import os
import statistics
import subprocess
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf

from bench_common import graphtool_path

tf1 = tf.compat.v1
tf1.disable_eager_execution()
rng = np.random.default_rng(11)

SHAPES = {  # name: (N, H, W, C, OC, K, stride)
    "conv5x5_1_32": (64, 28, 28, 1, 32, 5, 1),      # the harness CNN's first layer
    "conv5x5_32_64": (64, 14, 14, 32, 64, 5, 1),    # its second layer
    "conv3x3_64_64": (8, 32, 32, 64, 64, 3, 1),     # ResNet-style 3×3
    "conv1x1_128_128": (8, 28, 28, 128, 128, 1, 1),  # MobileNet's pointwise
    "conv3x3s2_64_128": (4, 56, 56, 64, 128, 3, 2),  # a strided down-sampling layer
}


def graphs(n, h, w, c, oc, k, s):
    """Three GraphDefs (forward, input gradient, filter gradient), each fed `x`."""
    oh, ow = -(-h // s), -(-w // s)
    f = rng.normal(0, 0.05, (k, k, c, oc)).astype(np.float32)
    built = {}
    for name, shape in (("forward", [n, h, w, c]), ("input", [n, oh, ow, oc]), ("filter", [n, h, w, c])):
        g = tf.Graph()
        with g.as_default():
            x = tf1.placeholder(tf.float32, shape, name="x")
            if name == "forward":
                y = tf.nn.conv2d(x, tf.constant(f), s, "SAME")
            elif name == "input":
                y = tf1.nn.conv2d_backprop_input([n, h, w, c], tf.constant(f), x, [1, s, s, 1], "SAME")
            else:
                dy = tf.constant(rng.uniform(-1, 1, (n, oh, ow, oc)).astype(np.float32))
                y = tf1.nn.conv2d_backprop_filter(x, [k, k, c, oc], dy, [1, s, s, 1], "SAME")
            tf.identity(y, name="out")
        built[name] = (g, rng.uniform(-1, 1, shape).astype(np.float32))
    return built, 2.0 * n * oh * ow * k * k * c * oc


def soma_ms(graphtool, graph, value, folder, threads, runs):
    pb, npy = os.path.join(folder, "g.pb"), os.path.join(folder, "x.npy")
    with open(pb, "wb") as file:
        file.write(graph.as_graph_def().SerializeToString())
    np.save(npy, value)
    out = subprocess.run([graphtool, "bench", pb, "--input", f"x={npy}", "--fetch", "out", "--runs", str(runs),
                          "--warmup", "5", "--threads", str(threads)], check=True, capture_output=True, text=True).stdout
    return float(out.split("median")[1].split("ms")[0])


def tf_ms(graph, value, threads, runs):
    config = tf1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=1)
    with tf1.Session(graph=graph, config=config) as sess:
        out, x = graph.get_tensor_by_name("out:0"), graph.get_tensor_by_name("x:0")
        for _ in range(5):
            sess.run(out, {x: value})
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter_ns()
            sess.run(out, {x: value})
            samples.append(time.perf_counter_ns() - t0)
    return statistics.median(samples) / 1e6


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    graphtool = graphtool_path()
    with tempfile.TemporaryDirectory() as folder:
        g = tf.Graph()
        with g.as_default():
            a = tf1.placeholder(tf.float32, [1024, 1024], name="x")
            tf.identity(tf.matmul(a, tf.constant(rng.normal(0, 1, (1024, 1024)).astype(np.float32))), name="out")
        sgemm = 2.0 * 1024 ** 3 / soma_ms(graphtool, g, rng.normal(0, 1, (1024, 1024)).astype(np.float32), folder,
                                           args.threads, args.runs) / 1e6
        print(f"sgemm (Soma MatMul 1024³, {args.threads} thread(s)): {sgemm:.1f} GFLOP/s")
        print(f"{'shape':18s} {'pass':7s} {'Soma ms':>8s} {'TF ms':>8s} {'Soma/TF':>7s} {'Soma GF/s':>9s} {'TF GF/s':>8s} {'Soma/sgemm':>10s}")
        for name, shape in SHAPES.items():
            if args.only and name not in args.only:
                continue
            built, flop = graphs(*shape)
            for kind, (graph, value) in built.items():
                soma = soma_ms(graphtool, graph, value, folder, args.threads, args.runs)
                tf_time = tf_ms(graph, value, args.threads, args.runs)
                print(f"{name:18s} {kind:7s} {soma:8.3f} {tf_time:8.3f} {soma / tf_time:7.2f} {flop / soma / 1e6:9.1f} "
                      f"{flop / tf_time / 1e6:8.1f} {flop / soma / 1e6 / sgemm:9.0%}", flush=True)


if __name__ == "__main__":
    main()
