# Keras equivalent of example-mlp.
import keras
from keras import layers
from digits import load

(x, y), (tx, ty) = load()
mean, std = x.mean(0), x.std(0)
x, tx = (x - mean) / (std + (std == 0)), (tx - mean) / (std + (std == 0))
keras.utils.set_random_seed(42)
model = keras.Sequential([
    keras.Input(shape=(64,)),
    layers.Dense(64, activation="relu", kernel_regularizer=keras.regularizers.l2(3e-4)),
    layers.Dense(10, activation="softmax", kernel_regularizer=keras.regularizers.l2(3e-4)),
])
model.summary()
model.compile(optimizer=keras.optimizers.Adam(0.003), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, batch_size=32, epochs=40, verbose=2)
print(f"test accuracy: {model.evaluate(tx, ty, verbose=0)[1]:.4f}")
