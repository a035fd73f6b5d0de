#!/usr/bin/env python3
"""Convolution FLOP rates: Soma against TensorFlow and against the machine's sgemm.

For each convolution shape of the harness CNN builds three single-op graphs in TensorFlow —
Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter —, for each layer shape of the zoo models
(`--zoo`: batch 1, inference, as `Tools/bench_zoo.py` runs them) the forward pass alone,
times each in Soma (`graphtool bench`, median) and in TF (`Session.run`, median, the same
thread count), and prints GFLOP/s (2·N·OH·OW·KH·KW·C·OC per pass; depthwise 2·N·OH·OW·KH·KW·C)
beside Soma's sgemm rate — a 1024×1024×1024 float32 MatMul run by Soma on the same
threads — and the least memory traffic a pass needs (input, filter and output once each,
in GB/s): a layer that does little arithmetic per byte (a depthwise layer; a batch of one
through a large filter) is bound by memory, not by the FLOP rate. The FLOPs count every tap
of every window, as TF's do; on a small image many taps read only `SAME` padding (a 3×3
window over 3² reads the image with 60 % of its taps), so the last two columns give the
share of taps inside the image and the rate on those taps alone against sgemm (`in/sgemm`).

    pip install tensorflow-cpu
    python3 Tools/bench_conv.py [--threads 1] [--zoo] [--only conv5x5_32_64 …]
"""
import argparse
import json
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

ZOO_SHAPES = {  # the zoo models' layers at batch 1, forward only; OC 0: depthwise (multiplier 1)
    "r50_conv1_7x7s2": (1, 224, 224, 3, 64, 7, 2),       # ResNet50 224²: its stem
    "r50_3x3_56_64": (1, 56, 56, 64, 64, 3, 1),          # conv2 blocks
    "r50_1x1_56_64_256": (1, 56, 56, 64, 256, 1, 1),
    "r50_3x3_28_128": (1, 28, 28, 128, 128, 3, 1),       # conv3 blocks
    "r50_3x3_14_256": (1, 14, 14, 256, 256, 3, 1),       # conv4 blocks
    "r50_1x1_14_1024_256": (1, 14, 14, 1024, 256, 1, 1),
    "r50_3x3_7_512": (1, 7, 7, 512, 512, 3, 1),          # conv5 blocks
    "r50_1x1_7_512_2048": (1, 7, 7, 512, 2048, 1, 1),
    "r50_64_3x3_16_64": (1, 16, 16, 64, 64, 3, 1),       # ResNet50 64²: conv2 blocks
    "r50_64_3x3_2_512": (1, 2, 2, 512, 512, 3, 1),       # its conv5 blocks: 4 positions
    "dn121_1x1_56_256_128": (1, 56, 56, 256, 128, 1, 1),  # DenseNet121: a bottleneck
    "dn121_3x3_56_128_32": (1, 56, 56, 128, 32, 3, 1),   # its 32 new channels
    "dn121_3x3_7_128_32": (1, 7, 7, 128, 32, 3, 1),
    "mv2_1x1_56_24_144": (1, 56, 56, 24, 144, 1, 1),     # MobileNetV2 224²: an expansion
    "mv2_1x1_14_384_64": (1, 14, 14, 384, 64, 1, 1),     # a projection
    "mv2_1x1_7_320_1280": (1, 7, 7, 320, 1280, 1, 1),    # its last pointwise
    "mv2_dw3x3s2_112_96": (1, 112, 112, 96, 0, 3, 2),    # depthwise
    "mv2_dw3x3_56_144": (1, 56, 56, 144, 0, 3, 1),
    "mv2_dw3x3_14_384": (1, 14, 14, 384, 0, 3, 1),
    "mv2s_1x1_24_16_48": (1, 24, 24, 16, 48, 1, 1),      # MobileNetV2 α 0.35 96²: an expansion
    "mv2s_dw3x3_48_16": (1, 48, 48, 16, 0, 3, 1),        # its depthwise layers, in order
    "mv2s_dw3x3s2_48_48": (1, 48, 48, 48, 0, 3, 2),      # (Keras pads, then VALID: SAME's padding)
    "mv2s_dw3x3_24_48": (1, 24, 24, 48, 0, 3, 1),
    "mv2s_dw3x3s2_24_48": (1, 24, 24, 48, 0, 3, 2),
    "mv2s_dw3x3_12_96": (1, 12, 12, 96, 0, 3, 1),        # two layers
    "mv2s_dw3x3s2_12_96": (1, 12, 12, 96, 0, 3, 2),
    "mv2s_dw3x3_6_144": (1, 6, 6, 144, 0, 3, 1),         # four
    "mv2s_dw3x3_6_192": (1, 6, 6, 192, 0, 3, 1),         # two
    "mv2s_dw3x3s2_6_192": (1, 6, 6, 192, 0, 3, 2),
    "mv2s_dw3x3_3_336": (1, 3, 3, 336, 0, 3, 1),         # three
    "eb0_dw5x5s2_56_144": (1, 56, 56, 144, 0, 5, 2),     # EfficientNetB0 224²: strided 5×5 depthwise
    "eb0_dw5x5s2_14_672": (1, 14, 14, 672, 0, 5, 2),
    "eb0_1x1_16_40_240": (1, 16, 16, 40, 240, 1, 1),     # EfficientNetB0 at 128² (earlier figures): an expansion
    "eb0_dw5x5_16_240": (1, 16, 16, 240, 0, 5, 1),       # its 5×5 depthwise after it
    "eb0s_dw3x3_32_32": (1, 32, 32, 32, 0, 3, 1),        # EfficientNetB0 at 64²: its depthwise layers
    "eb0s_dw3x3s2_32_96": (1, 32, 32, 96, 0, 3, 2),
    "eb0s_dw3x3_16_144": (1, 16, 16, 144, 0, 3, 1),
    "eb0s_dw5x5s2_16_144": (1, 16, 16, 144, 0, 5, 2),
    "eb0s_dw5x5_8_240": (1, 8, 8, 240, 0, 5, 1),
    "eb0s_dw3x3s2_8_240": (1, 8, 8, 240, 0, 3, 2),
    "eb0s_dw3x3_4_480": (1, 4, 4, 480, 0, 3, 1),         # two
    "eb0s_dw5x5_4_480": (1, 4, 4, 480, 0, 5, 1),
    "eb0s_dw5x5_4_672": (1, 4, 4, 672, 0, 5, 1),         # two
    "eb0s_dw5x5s2_4_672": (1, 4, 4, 672, 0, 5, 2),
    "eb0s_dw5x5_2_1152": (1, 2, 2, 1152, 0, 5, 1),       # three
    "eb0s_dw3x3_2_1152": (1, 2, 2, 1152, 0, 3, 1),
    "i3_3x3_35_32_64": (1, 35, 35, 32, 64, 3, 1),        # InceptionV3 75²: its stem
    "i3_5x5_6_48_64": (1, 6, 6, 48, 64, 5, 1),           # a mixed block's 5×5
}


def graphs(n, h, w, c, oc, k, s, passes=("forward", "input", "filter")):
    """GraphDefs for `passes` (forward, input gradient, filter gradient), each fed `x`; their FLOPs and bytes."""
    oh, ow = -(-h // s), -(-w // s)
    depthwise = oc == 0
    f = rng.normal(0, 0.05, (k, k, c, 1) if depthwise else (k, k, c, oc)).astype(np.float32)
    oc = c if depthwise else oc
    built = {}
    for name, shape in (("forward", [n, h, w, c]), ("input", [n, oh, ow, oc]), ("filter", [n, h, w, c])):
        if name not in passes:
            continue
        g = tf.Graph()
        with g.as_default():
            x = tf1.placeholder(tf.float32, shape, name="x")
            if name == "forward" and depthwise:
                y = tf.nn.depthwise_conv2d(x, tf.constant(f), [1, s, s, 1], "SAME")
            elif name == "forward":
                y = tf.nn.conv2d(x, tf.constant(f), s, "SAME")
            elif name == "input":
                y = tf1.nn.conv2d_backprop_input([n, h, w, c], tf.constant(f), x, [1, s, s, 1], "SAME")
            else:
                dy = tf.constant(rng.uniform(-1, 1, (n, oh, ow, oc)).astype(np.float32))
                y = tf1.nn.conv2d_backprop_filter(x, [k, k, c, oc], dy, [1, s, s, 1], "SAME")
            tf.identity(y, name="out")
        built[name] = (g, rng.uniform(-1, 1, shape).astype(np.float32))
    flop = 2.0 * n * oh * ow * k * k * (c if depthwise else c * oc)
    return built, flop, 4.0 * (n * h * w * c + f.size + n * oh * ow * oc), inside_share(h, oh, k, s) * inside_share(w, ow, k, s)


def inside_share(size, out, k, s):
    """The share of a `SAME` window's taps along one axis that read the image, not its padding."""
    before = max((out - 1) * s + k - size, 0) // 2
    return sum(0 <= o * s - before + t < size for o in range(out) for t in range(k)) / (out * k)


def soma_ms(graphtool, graph, value, folder, threads, runs):
    pb, npy = os.path.join(folder, "g.pb"), os.path.join(folder, "x.npy")
    with open(pb, "wb") as file:
        file.write(graph.as_graph_def().SerializeToString())
    np.save(npy, value)
    out = subprocess.run([graphtool, "bench", pb, "--input", f"x={npy}", "--fetch", "out", "--runs", str(runs),
                          "--warmup", "5", "--threads", str(threads), "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)["median_ms"]


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
    parser.add_argument("--zoo", action="store_true", help="the zoo models' layers at batch 1, forward only")
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
        print(f"{'shape':21s} {'pass':7s} {'Soma ms':>8s} {'TF ms':>8s} {'Soma/TF':>7s} {'Soma GF/s':>9s} {'TF GF/s':>8s} "
              f"{'Soma/sgemm':>10s} {'Soma GB/s':>9s} {'in image':>8s} {'in/sgemm':>9s}")
        shapes, passes = (ZOO_SHAPES, ("forward",)) if args.zoo else (SHAPES, ("forward", "input", "filter"))
        for name, shape in shapes.items():
            if args.only and name not in args.only:
                continue
            built, flop, traffic, inside = graphs(*shape, passes=passes)
            for kind, (graph, value) in built.items():
                soma = soma_ms(graphtool, graph, value, folder, args.threads, args.runs)
                tf_time = tf_ms(graph, value, args.threads, args.runs)
                print(f"{name:21s} {kind:7s} {soma:8.4f} {tf_time:8.3f} {soma / tf_time:7.2f} {flop / soma / 1e6:9.1f} "
                      f"{flop / tf_time / 1e6:8.1f} {flop / soma / 1e6 / sgemm:9.0%} {traffic / soma / 1e6:9.1f} "
                      f"{inside:8.0%} {inside * flop / soma / 1e6 / sgemm:9.0%}", flush=True)


if __name__ == "__main__":
    main()
