#!/usr/bin/env python3
"""Writes the graphs `Tools/check-allocations.sh` runs beyond the op fixtures: kernels whose
paths hold scratch memory a steady-state run must reuse, not allocate.

- `inference.pb` (feed `x` [1, 14, 14, 16], fetch `out`): a 3×3 convolution with a constant
  filter, which runs as Winograd tiles with its filter transformed in the plan, then an
  attention block over four heads: `q·kᵀ` (BatchMatMulV2, adj_y) whose transposed operand
  is copied, a softmax, and the product with `v` transposed to [batch, time, heads, depth],
  which the compiler fuses into `_SomaFusedBatchMatMul`.
- `training.pb` (feeds `x` [16, 12, 12, 16] and `y` [16], `init`, `train`): a 3×3
  convolution over a variable filter (Winograd tiles, the filter transformed on every run)
  and a dense layer whose input gradient `dY·Wᵀ` (16 rows) copies `W` transposed, one plain
  SGD step.
- `recurrent.pb` (feed `x` [8, 24, 16], `init`, `train`): a hand-unrolled tanh RNN of 24
  steps whose weight gradient, an AddN of 24 products behind TF's gradient tuples, runs as
  one `_SomaFusedMatMulSum` of 48 inputs (more than a kernel context keeps on the stack),
  and whose input gradients share a transposed weight; one plain SGD step.
- `normalization.pb` (feed `x` [8, 10, 10, 16], `init`, `train`): a 3×3 convolution, a
  FusedBatchNormV3 in training (its statistics and coefficients per channel held in
  scratch) with its gradient FusedBatchNormGradV3, the moving mean and variance updated as
  Keras does (AssignSubVariableOp), one plain SGD step.
- `keras_recurrent.pb` (feed `x` [8, T, 16] for any T: `keras_recurrent_x8.npy` and
  `keras_recurrent_x64.npy`, fetch `out`; frozen): Keras' LSTM returning sequences, then
  its GRU keeping the last output — two `While` loops over TensorLists that run as fused
  cells, whose steps must not allocate: a run allocates as often for 64 steps as for 8.
  `keras_recurrent_b32.pb` is the same layers over a batch of 32 (`keras_recurrent_b32_x8.npy`):
  two blocks of rows, each of which runs along the whole sequence on two threads.

    pip install tensorflow-cpu tf_keras   # tf_keras: keras_recurrent.pb
    python3 Tools/make_allocation_fixtures.py
"""
import os

import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1
tf1.disable_eager_execution()
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "SomaTests", "Fixtures", "allocations")
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(5)


def write(graph, name):
    with open(os.path.join(out, name), "wb") as f:
        f.write(graph.as_graph_def().SerializeToString())


inference = tf.Graph()
with inference.as_default():
    x = tf1.placeholder(tf.float32, [1, 14, 14, 16], name="x")
    h = tf.nn.relu(tf.nn.conv2d(x, tf.constant(rng.normal(0, 0.2, (3, 3, 16, 16)).astype(np.float32)), 1, "SAME"))
    q = tf.reshape(h, [1, 4, 49, 16])
    attention = tf.nn.softmax(tf.matmul(q, q, transpose_b=True))
    tf.identity(tf.transpose(tf.matmul(attention, q), [0, 2, 1, 3]), name="out")
write(inference, "inference.pb")
np.save(os.path.join(out, "inference_x.npy"), rng.normal(size=(1, 14, 14, 16)).astype(np.float32))

training = tf.Graph()
with training.as_default():
    x = tf1.placeholder(tf.float32, [16, 12, 12, 16], name="x")
    y = tf1.placeholder(tf.int32, [16], name="y")
    f = tf1.get_variable("f", initializer=tf.constant(rng.normal(0, 0.2, (3, 3, 16, 16)).astype(np.float32)))
    w = tf1.get_variable("w", initializer=tf.constant(rng.normal(0, 0.05, (12 * 12 * 16, 10)).astype(np.float32)))
    h = tf.reshape(tf.nn.relu(tf.nn.conv2d(x, f, 1, "SAME")), [16, -1])
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=tf.matmul(h, w)))
    tf1.train.GradientDescentOptimizer(0.01).minimize(loss, name="train")
    tf1.global_variables_initializer()  # named "init"
write(training, "training.pb")
np.save(os.path.join(out, "training_x.npy"), rng.normal(size=(16, 12, 12, 16)).astype(np.float32))
np.save(os.path.join(out, "training_y.npy"), rng.integers(0, 10, 16).astype(np.int32))
recurrent = tf.Graph()
with recurrent.as_default():
    x = tf1.placeholder(tf.float32, [8, 24, 16], name="x")
    w = tf1.get_variable("w", initializer=tf.constant(rng.normal(0, 0.2, (16 + 32, 32)).astype(np.float32)))
    h = tf.zeros([8, 32])
    for t in range(24):
        h = tf.tanh(tf.matmul(tf.concat([x[:, t, :], h], axis=1), w))
    tf1.train.GradientDescentOptimizer(0.01).minimize(tf.reduce_sum(h * h), name="train")
    tf1.global_variables_initializer()  # named "init"
write(recurrent, "recurrent.pb")
np.save(os.path.join(out, "recurrent_x.npy"), rng.normal(size=(8, 24, 16)).astype(np.float32))
normalization = tf.Graph()
with normalization.as_default():
    x = tf1.placeholder(tf.float32, [8, 10, 10, 16], name="x")
    f = tf1.get_variable("f", initializer=tf.constant(rng.normal(0, 0.2, (3, 3, 16, 24)).astype(np.float32)))
    gamma = tf1.get_variable("gamma", initializer=tf.ones([24]))
    beta = tf1.get_variable("beta", initializer=tf.zeros([24]))
    moving_mean = tf1.get_variable("moving_mean", initializer=tf.zeros([24]), trainable=False)
    moving_variance = tf1.get_variable("moving_variance", initializer=tf.ones([24]), trainable=False)
    h, batch_mean, batch_variance = tf1.nn.fused_batch_norm(tf.nn.conv2d(x, f, 1, "SAME"), gamma, beta,
                                                            epsilon=0.001, is_training=True)
    updates = [moving_mean.assign_sub(0.01 * (moving_mean - batch_mean)),
               moving_variance.assign_sub(0.01 * (moving_variance - batch_variance))]
    with tf.control_dependencies(updates):
        loss = tf.reduce_mean(tf.square(tf.nn.relu(h)))
    tf1.train.GradientDescentOptimizer(0.01).minimize(loss, name="train")
    tf1.global_variables_initializer()  # named "init"
write(normalization, "normalization.pb")
np.save(os.path.join(out, "normalization_x.npy"), rng.normal(size=(8, 10, 10, 16)).astype(np.float32))
for batch, name in ((8, "keras_recurrent.pb"), (32, "keras_recurrent_b32.pb")):
    keras = tf.Graph()
    with keras.as_default():
        import tf_keras
        x = tf1.placeholder(tf.float32, [batch, None, 16], name="x")
        h = tf_keras.layers.LSTM(32, return_sequences=True, kernel_initializer=tf_keras.initializers.GlorotUniform(seed=1),
                                 recurrent_initializer=tf_keras.initializers.Orthogonal(seed=2))(x)
        h = tf_keras.layers.GRU(32, kernel_initializer=tf_keras.initializers.GlorotUniform(seed=3),
                                recurrent_initializer=tf_keras.initializers.Orthogonal(seed=4))(h)
        tf.identity(h, name="out")
        with tf1.Session() as session:  # frozen: Keras' initializers use ops Soma does not have
            session.run(tf1.global_variables_initializer())
            frozen = tf1.graph_util.convert_variables_to_constants(session, keras.as_graph_def(), ["out"])
    with open(os.path.join(out, name), "wb") as f:
        f.write(frozen.SerializeToString())
for steps in (8, 64):
    np.save(os.path.join(out, f"keras_recurrent_x{steps}.npy"), rng.normal(size=(8, steps, 16)).astype(np.float32))
np.save(os.path.join(out, "keras_recurrent_b32_x8.npy"), rng.normal(size=(32, 8, 16)).astype(np.float32))
print("allocation fixtures: inference.pb, training.pb, recurrent.pb, normalization.pb, keras_recurrent.pb, keras_recurrent_b32.pb")
