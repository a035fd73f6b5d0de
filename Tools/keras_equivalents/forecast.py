# Keras equivalent of example-forecast.
import keras
import numpy as np
from keras import layers

window = 24
rng = np.random.default_rng(11)
t = np.arange(2000, dtype=np.float32)
series = np.sin(2 * np.pi * t / 24) + 0.5 * np.sin(2 * np.pi * t / 68) + 0.0004 * t + rng.uniform(-0.1, 0.1, 2000)
starts = np.arange(len(series) - window)
x = np.stack([series[s:s + window] for s in starts])[..., None].astype(np.float32)
y = series[starts + window, None].astype(np.float32)
cut = int(len(starts) * 0.8)
keras.utils.set_random_seed(42)
model = keras.Sequential([keras.Input(shape=(window, 1)), layers.LSTM(32), layers.Dense(1)])
model.compile(optimizer=keras.optimizers.Adam(0.005), loss="mse", metrics=["mae"])
model.fit(x[:cut], y[:cut], batch_size=32, epochs=25, verbose=2)
predicted, actual, last = model.predict(x[cut:], verbose=0)[:, 0], y[cut:, 0], x[cut:, -1, 0]
rmse = lambda guesses: float(np.sqrt(np.mean((guesses - actual) ** 2)))
print(f"naive last-value baseline test RMSE: {rmse(last):.4f}")
print(f"LSTM test RMSE: {rmse(predicted):.4f} ({100 * rmse(predicted) / rmse(last):.1f}% of the baseline's)")
