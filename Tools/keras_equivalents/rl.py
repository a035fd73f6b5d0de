# Keras equivalent of example-rl: REINFORCE on CartPole, the same Swift-free dynamics in Python.
import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers


class CartPole:
    def __init__(self, rng):
        self.x, self.v, self.a, self.w = rng.uniform(-0.05, 0.05, 4)

    def observation(self):
        return np.array([self.x, self.v, self.a, self.w], np.float32)

    def failed(self):
        return abs(self.x) > 2.4 or abs(self.a) > 12 * 2 * math.pi / 360

    def step(self, action):
        f, total, moment = (10.0 if action == 1 else -10.0), 1.1, 0.05
        cos, sin = math.cos(self.a), math.sin(self.a)
        temp = (f + moment * self.w ** 2 * sin) / total
        angular = (9.8 * sin - cos * temp) / (0.5 * (4 / 3 - 0.1 * cos ** 2 / total))
        linear = temp - moment * angular * cos / total
        self.x, self.v, self.a, self.w = self.x + 0.02 * self.v, self.v + 0.02 * linear, self.a + 0.02 * self.w, self.w + 0.02 * angular


keras.utils.set_random_seed(42)
policy = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(32, activation="relu"), layers.Dense(2)])
optimizer = keras.optimizers.Adam(0.01)


@tf.function
def learn(states, actions, weights):
    with tf.GradientTape() as tape:
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(actions, policy(states))
        loss = tf.reduce_mean(losses * weights)
    optimizer.apply_gradients(zip(tape.gradient(loss, policy.trainable_weights), policy.trainable_weights))


rng, recent = np.random.default_rng(7), []
for episode in range(1, 3001):
    pole, states, actions = CartPole(rng), [], []
    while len(actions) < 200:
        p = tf.nn.softmax(policy(pole.observation()[None]))[0].numpy()
        action = 0 if rng.random() < p[0] else 1
        states.append(pole.observation())
        actions.append(action)
        pole.step(action)
        if pole.failed():
            break
    returns = np.cumsum([0.99 ** k for k in range(len(actions))])[::-1].astype(np.float32)
    learn(np.array(states), np.array(actions), (returns - returns.mean()) / (returns.std() + 1e-8))
    recent = (recent + [len(actions)])[-100:]
    if len(recent) == 100 and np.mean(recent) >= 195:
        break
print(f"{episode} episodes")
print(f"average return over last 100 episodes: {np.mean(recent):.1f}")
