# Keras equivalent of example-gan (a custom training step, as Keras GANs are written).
import keras
import numpy as np
import tensorflow as tf
from keras import layers

modes, radius, sigma, noise_size, batch, steps = 8, 2.0, 0.02, 2, 256, 16000
rng = np.random.default_rng(5)
centres = np.array([[radius * np.cos(2 * np.pi * k / modes), radius * np.sin(2 * np.pi * k / modes)] for k in range(modes)])
real_batch = lambda: (centres[rng.integers(0, modes, batch)] + sigma * rng.standard_normal((batch, 2))).astype(np.float32)
noise = lambda n: rng.standard_normal((n, noise_size)).astype(np.float32)

keras.utils.set_random_seed(42)
generator = keras.Sequential([keras.Input(shape=(noise_size,)), layers.Dense(128, activation="relu"),
                              layers.Dense(128, activation="relu"), layers.Dense(2)])
discriminator = keras.Sequential([keras.Input(shape=(2,)), layers.Dense(128, activation="leaky_relu"),
                                  layers.Dense(128, activation="leaky_relu"), layers.Dense(1)])
schedule = keras.optimizers.schedules.PiecewiseConstantDecay([4000, 8000, 12000], [2e-4, 1e-4, 5e-5, 2e-5])
d_optimizer, g_optimizer = keras.optimizers.Adam(schedule, beta_1=0.5), keras.optimizers.Adam(schedule, beta_1=0.5)
bce = keras.losses.BinaryCrossentropy(from_logits=True)


@tf.function
def train_step(real, z_d, z_g):
    with tf.GradientTape() as tape:
        real_logits, fake_logits = discriminator(real), discriminator(generator(z_d))
        d_loss = bce(tf.ones_like(real_logits), real_logits) + bce(tf.zeros_like(fake_logits), fake_logits)
    d_optimizer.apply_gradients(zip(tape.gradient(d_loss, discriminator.trainable_weights), discriminator.trainable_weights))
    with tf.GradientTape() as tape:
        fake_logits = discriminator(generator(z_g))
        g_loss = bce(tf.ones_like(fake_logits), fake_logits)
    g_optimizer.apply_gradients(zip(tape.gradient(g_loss, generator.trainable_weights), generator.trainable_weights))
    return d_loss, g_loss


for step in range(1, steps + 1):
    d_loss, g_loss = train_step(real_batch(), noise(batch), noise(batch))
    if step % 1000 == 0:
        print(f"step {step:5d}  discriminator loss {float(d_loss):.4f}  generator loss {float(g_loss):.4f}")
samples = generator.predict(noise(2000), verbose=0)
distances = np.linalg.norm(samples[:, None, :] - centres[None], axis=2)
nearest, good = distances.argmin(1), distances.min(1) <= 3 * sigma
per_mode = np.bincount(nearest[good], minlength=modes)
print(f"modes covered: {int(np.sum(per_mode >= 40))}/{modes}")
print(f"high-quality samples: {good.mean():.3f}")
