# Keras equivalent of example-autoencoder.
import keras
import numpy as np
from keras import layers
from digits import load

(x, _), (tx, _) = load()
keras.utils.set_random_seed(42)
images = keras.Input(shape=(64,))
code = layers.Dense(8, name="code")(layers.Dense(32, activation="relu")(images))
reconstruction = layers.Dense(64, activation="sigmoid")(layers.Dense(32, activation="relu")(code))
autoencoder = keras.Model(images, reconstruction, name="autoencoder")
autoencoder.summary()
autoencoder.compile(optimizer=keras.optimizers.Adam(0.003), loss="mse")
autoencoder.fit(x, x, batch_size=32, epochs=150, verbose=2)
encoder = keras.Model(images, code)
print("codes of the first test image:", np.round(encoder.predict(tx[:1], verbose=0)[0], 2))
baseline = float(np.mean((tx - x.mean(0)) ** 2))
mse = autoencoder.evaluate(tx, tx, verbose=0)
print(f"mean-image baseline mse: {baseline:.5f}")
print(f"test reconstruction mse: {mse:.5f} ({100 * mse / baseline:.1f}% of the baseline)")
