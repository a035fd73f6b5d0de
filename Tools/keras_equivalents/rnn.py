# Keras equivalent of example-rnn.
import keras
from keras import layers
from digits import load

(x, y), (tx, ty) = load()
keras.utils.set_random_seed(42)
model = keras.Sequential([keras.Input(shape=(64,)), layers.Reshape((8, 8)), layers.LSTM(64),
                          layers.Dense(10, activation="softmax")])
model.summary()
model.compile(optimizer=keras.optimizers.Adam(0.005), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, batch_size=32, epochs=30, verbose=2)
print(f"test accuracy: {model.evaluate(tx, ty, verbose=0)[1]:.4f}")
