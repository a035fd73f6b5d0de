# Keras equivalent of example-transformer.
import keras
import numpy as np
from keras import layers, ops

length, vocabulary, width, heads = 8, 10, 64, 4
rng = np.random.default_rng(3)
def sequences(n):
    x = rng.integers(0, vocabulary, (n, length)).astype(np.int32)
    return x, np.sort(x, axis=1)
(x, y), (tx, ty) = sequences(20_000), sequences(2_000)

keras.utils.set_random_seed(42)
tokens = keras.Input(shape=(length,), dtype="int32")
h = layers.Embedding(vocabulary, width)(tokens) + layers.Embedding(length, width)(ops.arange(length))
for _ in range(2):
    h = layers.LayerNormalization()(h + layers.MultiHeadAttention(heads, width // heads)(h, h))
    h = layers.LayerNormalization()(h + layers.Dense(width)(layers.Dense(2 * width, activation="relu")(h)))
model = keras.Model(tokens, layers.Dense(vocabulary, activation="softmax")(h), name="sorter")
model.summary()
model.compile(optimizer=keras.optimizers.Adam(0.002), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, batch_size=64, epochs=4, validation_split=0.05, verbose=2)
exact = np.all(model.predict(tx, batch_size=256, verbose=0).argmax(-1) == ty, axis=1).mean()
print(f"test digit accuracy: {model.evaluate(tx, ty, batch_size=256, verbose=0)[1]:.4f}")
print(f"test sequence accuracy: {exact:.4f}")
