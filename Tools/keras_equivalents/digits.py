"""The digits from Soma's resource, split 75/25 per class — shared by the Keras equivalents."""
import os

import numpy as np


def load(seed=7):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Sources", "Soma", "Resources", "digits.bin")
    raw = open(path, "rb").read()
    n, f = int.from_bytes(raw[8:12], "little"), int.from_bytes(raw[12:16], "little")
    x = np.frombuffer(raw[16:16 + n * f], np.uint8).reshape(n, f).astype(np.float32) / 16
    y = np.frombuffer(raw[16 + n * f:], np.uint8).astype(np.int64)
    rng = np.random.default_rng(seed)
    test = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:round(0.25 * np.sum(y == c))] for c in range(10)])
    train = np.setdiff1d(np.arange(n), test)
    return (x[train], y[train]), (x[np.sort(test)], y[np.sort(test)])
