# Keras equivalent of example-cnn.
import keras
from keras import layers
from digits import load

(x, y), (tx, ty) = load()
keras.utils.set_random_seed(42)
model = keras.Sequential([
    keras.Input(shape=(64,)),
    layers.Reshape((8, 8, 1)),
    layers.Conv2D(16, 3, padding="same", use_bias=False, kernel_initializer="he_normal"),
    layers.BatchNormalization(),
    layers.Activation("relu"),
    layers.MaxPooling2D(),
    layers.Conv2D(32, 3, padding="same", use_bias=False, kernel_initializer="he_normal"),
    layers.BatchNormalization(),
    layers.Activation("relu"),
    layers.MaxPooling2D(),
    layers.Flatten(),
    layers.Dense(64, activation="relu", kernel_initializer="he_normal"),
    layers.Dropout(0.3),
    layers.Dense(10, activation="softmax"),
])
model.summary()
model.compile(optimizer=keras.optimizers.Adam(0.002), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
decay = keras.callbacks.LearningRateScheduler(lambda epoch, rate: rate / 2 if epoch > 0 and epoch % 8 == 0 else rate)
model.fit(x, y, batch_size=32, epochs=30, callbacks=[decay], verbose=2)
print(f"test accuracy: {model.evaluate(tx, ty, verbose=0)[1]:.4f}")
