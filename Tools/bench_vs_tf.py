#!/usr/bin/env python3
"""Soma side by side with TensorFlow and ONNX Runtime on the same frozen GraphDefs.

Builds each workload in TensorFlow (tf.compat.v1 graph mode, float32, random inputs),
freezes it, converts it to ONNX with tf2onnx, checks that Soma (graphtool run) computes
TF's outputs, then times the three engines interleaved round by round and prints median
milliseconds and the ratios Soma/TF and Soma/ORT, with Soma's planned arena against its
lower bound (the peak of live bytes) and TF's peak of live bytes in a traced run (ONNX
Runtime reports none). Soma is timed twice: with the machine's
OpenBLAS settings, and with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset (AVX-512 kernels, as
TF and ORT use) — in that command alone.

    pip install tensorflow-cpu onnxruntime tf2onnx tf_keras   # tf_keras: the keras_lstm and keras_gru workloads
    python3 Tools/bench_vs_tf.py [--rounds 3] [--only mlp_infer_b256 …] [--json out.json] [--load N]

`--load N` runs N CPU-bound processes (pure Python busy loops) for the whole measurement: the
engines then share the cores with a competing load, as they do on a busy machine.
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

from bench_common import WARMUP_SECONDS, competing_load, graphtool_path, soma_report, tf_step_peak_bytes

tf.get_logger().setLevel("ERROR")
tf1 = tf.compat.v1
rng = np.random.default_rng(5)


def weights(*shape):
    return tf.constant(rng.normal(0, 0.05, size=shape).astype(np.float32))


def single_op_run(x):
    return x + 1.0


def chain1000(x):
    h = x
    for i in range(1000):
        h = h + 1.0 if i % 2 == 0 else h * 0.999
    return h


def mlp_infer(x):
    h = tf.nn.relu(tf.nn.bias_add(tf.matmul(x, weights(784, 512)), weights(512)))
    h = tf.nn.relu(tf.nn.bias_add(tf.matmul(h, weights(512, 512)), weights(512)))
    return tf.nn.bias_add(tf.matmul(h, weights(512, 10)), weights(10))


def wide8(x):
    branches = []
    for _ in range(8):
        w = weights(256, 256)
        branches.append(tf.nn.relu(tf.matmul(tf.nn.relu(tf.matmul(x, w)), w)))
    return sum(branches[1:], branches[0])


def lstm_layers(x, weight):
    """A hand-unrolled LSTM cell (input 64, hidden 128, 32 steps, batch 32), then dense 10."""
    batch, steps, inputs, hidden = 32, 32, 64, 128
    w, b = weight(inputs + hidden, 4 * hidden), weight(4 * hidden)
    h = tf.zeros([batch, hidden])
    c = tf.zeros([batch, hidden])
    for t in range(steps):
        gates = tf.nn.bias_add(tf.matmul(tf.concat([x[:, t, :], h], axis=1), w), b)
        i, f, g, o = tf.split(gates, 4, axis=1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        h = tf.sigmoid(o) * tf.tanh(c)
    return tf.matmul(h, weight(hidden, 10))


def lstm_infer(x):
    return lstm_layers(x, weights)


def cnn_layers(x, weight):
    """28×28×1 → conv 5×5×32 SAME+ReLU → maxpool 2 → conv 5×5×64 SAME+ReLU → maxpool 2 → dense 256 ReLU → dense 10."""
    h = tf.nn.max_pool2d(tf.nn.relu(tf.nn.conv2d(x, weight(5, 5, 1, 32), 1, "SAME") + weight(32)), 2, 2, "VALID")
    h = tf.nn.max_pool2d(tf.nn.relu(tf.nn.conv2d(h, weight(5, 5, 32, 64), 1, "SAME") + weight(64)), 2, 2, "VALID")
    h = tf.nn.relu(tf.matmul(tf.reshape(h, [-1, 7 * 7 * 64]), weight(7 * 7 * 64, 256)) + weight(256))
    return tf.matmul(h, weight(256, 10)) + weight(10)


def cnn_infer(x):
    return cnn_layers(x, weights)


def depthwise3x3(x):
    """A 3×3 stride-1 depthwise convolution (MobileNet's block, small channel count)."""
    return tf.nn.depthwise_conv2d(x, weights(3, 3, 16, 1), [1, 1, 1, 1], "SAME")


def depthwise3x3_s2(x):
    """A 3×3 stride-2 depthwise convolution on MobileNetV1's second block shape."""
    return tf.nn.depthwise_conv2d(x, weights(3, 3, 64, 1), [1, 2, 2, 1], "SAME")


def mobilenet_block(x):
    """Depthwise 3×3 + BN + ReLU6, pointwise 1×1 + BN + ReLU6 (MobileNetV1, 28×28×128, inference)."""
    def batch_norm(h, c):
        mean, var = weights(c), tf.abs(weights(c)) + 1.0
        return tf.compat.v1.nn.fused_batch_norm(h, 1.0 + weights(c), weights(c), mean, var, is_training=False)[0]
    h = tf.nn.relu6(batch_norm(tf.nn.depthwise_conv2d(x, weights(3, 3, 128, 1), [1, 1, 1, 1], "SAME"), 128))
    return tf.nn.relu6(batch_norm(tf.nn.conv2d(h, weights(1, 1, 128, 128), 1, "SAME"), 128))


def attention(x):
    """One head of self-attention on [8, 64, 64]: projections, BatchMatMul, Softmax, Transpose."""
    width = 64
    q, k, v = (tf.matmul(x, weights(width, width)) for _ in range(3))
    scores = tf.matmul(q, tf.transpose(k, [0, 2, 1])) * (1.0 / np.sqrt(width))
    return tf.transpose(tf.matmul(tf.nn.softmax(scores), v), [1, 0, 2])


def variable(*shape):
    return tf1.get_variable(f"v{len(tf1.global_variables())}", initializer=rng.normal(0, 0.05, size=shape).astype(np.float32))


def sgd_step(logits, y):
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    return loss, tf1.train.GradientDescentOptimizer(0.01).minimize(loss, name="train")


def cnn_train(x, y):
    return sgd_step(cnn_layers(x, variable), y)


def lstm_train(x, y):
    """The lstm_infer_b32_t32 network with variables, one SGD step."""
    return sgd_step(lstm_layers(x, variable), y)


def mlp_train(x, y):
    """784→512→512→10 ReLU MLP, sparse softmax cross-entropy, one plain SGD step."""
    h = tf.nn.relu(tf.nn.bias_add(tf.matmul(x, variable(784, 512)), variable(512)))
    h = tf.nn.relu(tf.nn.bias_add(tf.matmul(h, variable(512, 512)), variable(512)))
    return sgd_step(tf.nn.bias_add(tf.matmul(h, variable(512, 10)), variable(10)), y)


def while_empty(x):
    """10,000 iterations of a loop that only counts: the per-iteration overhead."""
    i, y = tf.while_loop(lambda i, y: i < 10000, lambda i, y: (i + 1, y), [0, x])
    return y + tf.cast(i, tf.float32)


def keras_recurrent(kind, x):
    """A Keras recurrent layer of 64 units (tf_keras, not unrolled): a While loop over TensorLists."""
    import tf_keras
    return getattr(tf_keras.layers, kind)(64, kernel_initializer=tf_keras.initializers.GlorotUniform(seed=1),
                                          recurrent_initializer=tf_keras.initializers.Orthogonal(seed=2))(x)


def keras_lstm(x):
    return keras_recurrent("LSTM", x)


def keras_gru(x):
    """Keras' GRU with ``reset_after`` (TF 2's default)."""
    return keras_recurrent("GRU", x)


def keras_recurrent_onnx(kind):
    """The same layer with the same weights as ONNX: tf2onnx does not convert the TF 1 graph's
    TensorList loop, but turns a Keras LSTM or GRU traced in TF 2 (eagerly: run in a process
    of its own, ``onnx_equivalent``) into ONNX's own LSTM or GRU op."""
    def convert(weights, shape):
        import tf_keras
        layer = getattr(tf_keras.layers, kind)(64)
        model = tf_keras.Sequential([tf_keras.Input(shape[1:], batch_size=shape[0]), layer])
        layer.set_weights(weights)
        model_proto, _ = tf2onnx.convert.from_function(tf.function(lambda x: model(x)), opset=17,
                                                       input_signature=[tf.TensorSpec(shape, tf.float32, name="x")])
        model_proto.graph.input[0].name = "x:0"  # the name every other workload's model takes
        for node in model_proto.graph.node:
            node.input[:] = ["x:0" if i == "x" else i for i in node.input]
        return model_proto
    return convert


# Workloads whose TF 1 graph tf2onnx cannot convert: an equivalent ONNX model from the
# graph's variables (in creation order), checked against TF's output like every other.
ONNX_EQUIVALENTS = {"keras_lstm_b32_t32": keras_recurrent_onnx("LSTM"), "keras_gru_b32_t32": keras_recurrent_onnx("GRU")}


def onnx_equivalent(name, weights, shape, onnx_path):
    """Writes ``ONNX_EQUIVALENTS[name]``'s model, made in a fresh process: it traces eagerly,
    and this one runs TF 1 graphs."""
    weights_path = onnx_path + ".weights.npz"
    np.savez(weights_path, *weights)
    subprocess.run([sys.executable, os.path.abspath(__file__), "--onnx-equivalent", name, weights_path, onnx_path,
                    ",".join(map(str, shape))], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


WORKLOADS = {  # name: (builder, input shape, timed runs per round)
    "single_op_run": (single_op_run, [1], 3000),
    "chain1000": (chain1000, [1], 1000),
    "mlp_infer_b256": (mlp_infer, [256, 784], 200),
    "wide8_matmul256": (wide8, [256, 256], 100),
    "lstm_infer_b32_t32": (lstm_infer, [32, 32, 64], 100),
    "cnn_infer_b64": (cnn_infer, [64, 28, 28, 1], 50),
    "depthwise3x3_b2_64x64x16": (depthwise3x3, [2, 64, 64, 16], 100),
    "depthwise3x3s2_b1_112x112x64": (depthwise3x3_s2, [1, 112, 112, 64], 100),
    "mobilenet_block_b8_28x28x128": (mobilenet_block, [8, 28, 28, 128], 50),
    "attention_b8_t64": (attention, [8, 64, 64], 200),
    "while_empty_10k": (while_empty, [1], 10),
    "keras_lstm_b32_t32": (keras_lstm, [32, 32, 64], 50),
    "keras_gru_b32_t32": (keras_gru, [32, 32, 64], 50),
}
# Training steps: TF's own training GraphDef (variables, TF's gradient ops, ApplyGradientDescent),
# run by Soma as TF wrote it. ONNX Runtime does not train these graphs.
TRAINING = {  # name: (builder, input shape, timed runs per round)
    "mlp_train_b128": (mlp_train, [128, 784], 100),
    "cnn_train_b64": (cnn_train, [64, 28, 28, 1], 30),
    "lstm_train_b32_t32": (lstm_train, [32, 32, 64], 50),
}


def build(name, folder):
    builder, shape, _ = WORKLOADS[name]
    graph = tf.Graph()
    with graph.as_default():
        x = tf1.placeholder(tf.float32, shape=shape, name="x")
        out = tf.identity(builder(x), name="out")
        graph_def = graph.as_graph_def()
        weights = []
        if tf1.global_variables():  # a Keras layer's weights: frozen to constants
            with tf1.Session(graph=graph) as sess:
                sess.run(tf1.global_variables_initializer())
                weights = sess.run(tf1.global_variables())
                graph_def = tf1.graph_util.convert_variables_to_constants(sess, graph_def, ["out"])
    pb = os.path.join(folder, f"{name}.pb")
    with open(pb, "wb") as f:
        f.write(graph_def.SerializeToString())
    value = rng.uniform(-1, 1, size=shape).astype(np.float32)
    npy = os.path.join(folder, f"{name}_x.npy")
    np.save(npy, value)
    onnx_path = os.path.join(folder, f"{name}.onnx")
    try:
        if name in ONNX_EQUIVALENTS:
            onnx_equivalent(name, weights, shape, onnx_path)
        else:
            model, _ = tf2onnx.convert.from_graph_def(graph_def, input_names=["x:0"], output_names=["out:0"], opset=17)
            with open(onnx_path, "wb") as f:
                f.write(model.SerializeToString())
    except Exception as error:  # tf2onnx does not convert every TF construct
        print(f"{name}: no ONNX model ({type(error).__name__}); timing TF and Soma only", flush=True)
        return graph_def, pb, npy, None, value
    return graph_def, pb, npy, onnx_path, value


def build_training(name, folder):
    builder, shape, _ = TRAINING[name]
    graph = tf.Graph()
    with graph.as_default():
        tf1.disable_resource_variables()
        x = tf1.placeholder(tf.float32, shape=[None] + shape[1:], name="x")
        y = tf1.placeholder(tf.int64, shape=[None], name="y")
        loss, _ = builder(x, y)
        tf.identity(loss, name="loss")
        tf1.global_variables_initializer()  # named "init"
        graph_def = graph.as_graph_def()
    pb = os.path.join(folder, f"{name}.pb")
    with open(pb, "wb") as f:
        f.write(graph_def.SerializeToString())
    x_value = rng.uniform(-1, 1, size=shape).astype(np.float32)
    y_value = rng.integers(0, 10, size=shape[:1]).astype(np.int64)
    np.save(os.path.join(folder, f"{name}_x.npy"), x_value)
    np.save(os.path.join(folder, f"{name}_y.npy"), y_value)
    return graph, pb, x_value, y_value


def bench_training(name, folder, graphtool, rounds, blas_variants):
    graph, pb, x_value, y_value = build_training(name, folder)
    sess = tf1.Session(graph=graph)
    x, y = graph.get_tensor_by_name("x:0"), graph.get_tensor_by_name("y:0")
    loss, train, init = graph.get_tensor_by_name("loss:0"), graph.get_operation_by_name("train"), graph.get_operation_by_name("init")
    feeds = {x: x_value, y: y_value}
    # Soma must follow TF: the loss after two SGD steps from the same initial values.
    sess.run(init)
    sess.run(train, feeds)
    sess.run(train, feeds)
    expected = sess.run(loss, feeds)
    inputs = ["--input", f"x={os.path.join(folder, name + '_x.npy')}", "--input", f"y={os.path.join(folder, name + '_y.npy')}"]
    for native in blas_variants:
        out_npy = os.path.join(folder, f"{name}_soma.npy")
        subprocess.run([graphtool, "run", pb, *inputs, "--target", "init", "--target", "train", "--target", "train",
                        "--fetch", f"loss={out_npy}"], check=True, env=soma_env(native), stdout=subprocess.DEVNULL)
        soma_loss = float(np.load(out_npy))
        if not np.isclose(soma_loss, expected, rtol=1e-4):
            sys.exit(f"{name}: Soma's loss after two steps {soma_loss} differs from TF's {expected}")
    runs = TRAINING[name][2]
    timings = {"tf": [], "soma": [], "soma_native_blas": []}
    for _ in range(rounds):
        for _ in range(10):
            sess.run(train, feeds)
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter_ns()
            sess.run(train, feeds)
            samples.append(time.perf_counter_ns() - t0)
        timings["tf"].append(median_ms(samples))
        for native in blas_variants:
            report = subprocess.run([graphtool, "bench", pb, *inputs, "--init", "init", "--target", "train",
                                     "--runs", str(runs), "--warmup", "20", "--warmup-seconds", WARMUP_SECONDS, "--json"],
                                    check=True, capture_output=True, text=True, env=soma_env(native))
            timings["soma_native_blas" if native else "soma"].append(json.loads(report.stdout)["median_ms"])
    memory, memory_text = soma_report(json.loads(report.stdout), tf_step_peak_bytes(sess, train, feeds))
    row = {k: statistics.median(v) for k, v in timings.items() if v} | memory
    line = f"{name:28s} TF {row['tf']:8.4f} ms  ORT        —     Soma {row['soma']:8.4f} ms  Soma/TF {row['soma'] / row['tf']:5.2f}  {memory_text}"
    if "soma_native_blas" in row:
        line += f"  | native BLAS: Soma {row['soma_native_blas']:8.4f} ms  Soma/TF {row['soma_native_blas'] / row['tf']:5.2f}"
    print(line, flush=True)
    return row


def soma_env(native_blas):
    env = dict(os.environ)
    if native_blas:
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    return env


def median_ms(samples_ns):
    return statistics.median(samples_ns) / 1e6


def main():
    if sys.argv[1:2] == ["--onnx-equivalent"]:  # NAME WEIGHTS.npz OUT.onnx SHAPE (see onnx_equivalent)
        name, weights_path, onnx_path, shape = sys.argv[2:6]
        archive = np.load(weights_path)
        weights = [archive[f"arr_{i}"] for i in range(len(archive.files))]
        model = ONNX_EQUIVALENTS[name](weights, [int(d) for d in shape.split(",")])
        with open(onnx_path, "wb") as f:
            f.write(model.SerializeToString())
        return
    tf1.disable_eager_execution()
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--json")
    parser.add_argument("--load", type=int, default=0, help="competing CPU-bound processes during the measurement")
    args = parser.parse_args()
    with competing_load(args.load):
        results = measure(args)
    levels = sorted({row["vector_instructions"] for row in results.values() if isinstance(row, dict) and "vector_instructions" in row})
    print(f"Soma's vector loops ran with: {', '.join(levels) or 'unknown'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"load": args.load, "results": results}, f, indent=2)


def measure(args):
    names = args.only or list(WORKLOADS) + list(TRAINING)
    graphtool = graphtool_path()
    folder = tempfile.mkdtemp(prefix="soma-bench-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # the models and feeds written: no litter
    blas_variants = [False] + ([True] if "OPENBLAS_CORETYPE" in os.environ else [])
    results = {}
    for name in names:
        if name in TRAINING:
            results[name] = bench_training(name, folder, graphtool, args.rounds, blas_variants)
            continue
        graph_def, pb, npy, onnx_path, value = build(name, folder)
        graph = tf.Graph()
        with graph.as_default():
            tf1.import_graph_def(graph_def, name="")
        sess = tf1.Session(graph=graph)
        x_t, out_t = graph.get_tensor_by_name("x:0"), graph.get_tensor_by_name("out:0")
        expected = sess.run(out_t, {x_t: value})
        ort_sess = None
        if onnx_path:
            try:
                ort_sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
                ort_out = ort_sess.run(None, {"x:0": value})[0]
            except Exception as error:
                print(f"{name}: ONNX Runtime cannot run the converted model ({type(error).__name__})", flush=True)
                ort_sess = None
        # Soma must compute TF's outputs, with either OpenBLAS setting.
        for native in blas_variants:
            out_npy = os.path.join(folder, f"{name}_soma.npy")
            subprocess.run([graphtool, "run", pb, "--input", f"x={npy}", "--fetch", f"out={out_npy}"], check=True,
                           env=soma_env(native), stdout=subprocess.DEVNULL)
            soma_out = np.load(out_npy)
            if not np.allclose(soma_out, expected, rtol=1e-4, atol=1e-5):
                sys.exit(f"{name}: Soma's output differs from TF's (max |Δ| {np.max(np.abs(soma_out - expected))})")
        runs = WORKLOADS[name][2]
        timings = {"tf": [], "ort": [], "soma": [], "soma_native_blas": []}
        for _ in range(args.rounds):
            for _ in range(10):
                sess.run(out_t, {x_t: value})
                if ort_sess:
                    ort_sess.run(None, {"x:0": value})
            samples = []
            for _ in range(runs):
                t0 = time.perf_counter_ns()
                sess.run(out_t, {x_t: value})
                samples.append(time.perf_counter_ns() - t0)
            timings["tf"].append(median_ms(samples))
            if ort_sess:
                samples = []
                for _ in range(runs):
                    t0 = time.perf_counter_ns()
                    ort_sess.run(None, {"x:0": value})
                    samples.append(time.perf_counter_ns() - t0)
                timings["ort"].append(median_ms(samples))
            for native in blas_variants:
                report = subprocess.run([graphtool, "bench", pb, "--input", f"x={npy}", "--fetch", "out", "--runs", str(runs),
                                         "--warmup", "20", "--warmup-seconds", WARMUP_SECONDS, "--json"],
                                        check=True, capture_output=True, text=True, env=soma_env(native))
                timings["soma_native_blas" if native else "soma"].append(json.loads(report.stdout)["median_ms"])
        memory, memory_text = soma_report(json.loads(report.stdout), tf_step_peak_bytes(sess, out_t, {x_t: value}))
        row = {k: statistics.median(v) for k, v in timings.items() if v} | memory
        if ort_sess:
            row["ort_matches_tf"] = bool(np.allclose(ort_out, expected, rtol=1e-4, atol=1e-5))
        results[name] = row
        ort_ms = f"{row['ort']:8.4f} ms" if "ort" in row else "     n/a   "
        ort_ratio = f"{row['soma'] / row['ort']:5.2f}" if "ort" in row else "  n/a"
        line = f"{name:28s} TF {row['tf']:8.4f} ms  ORT {ort_ms}  Soma {row['soma']:8.4f} ms  " \
               f"Soma/TF {row['soma'] / row['tf']:5.2f}  Soma/ORT {ort_ratio}  {memory_text}"
        if "soma_native_blas" in row:
            line += f"  | native BLAS: Soma {row['soma_native_blas']:8.4f} ms  Soma/TF {row['soma_native_blas'] / row['tf']:5.2f}"
            if "ort" in row:
                line += f"  Soma/ORT {row['soma_native_blas'] / row['ort']:5.2f}"
        print(line, flush=True)
        if name == "while_empty_10k":
            print(f"{'':20s} per iteration: TF {row['tf'] / 10:.2f} µs  Soma {row['soma'] / 10:.2f} µs", flush=True)
    return results


if __name__ == "__main__":
    main()
