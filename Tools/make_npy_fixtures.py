#!/usr/bin/env python3
"""Writes .npy files with NumPy's own writer, for Soma's reader tests:
every supported dtype, format versions 1.0, 2.0 and 3.0, and files Soma must refuse.

    python3 Tools/make_npy_fixtures.py
"""
import os

import numpy as np
from numpy.lib import format as npformat

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "SomaTests", "Fixtures", "npy")
os.makedirs(out, exist_ok=True)


def save(name, array, version=None):
    with open(os.path.join(out, name), "wb") as f:
        npformat.write_array(f, array, version=version, allow_pickle=True)


values = np.arange(6) - 2
save("float32.npy", (values * 1.5).astype(np.float32).reshape(2, 3))
save("float64.npy", (values * 0.25).astype(np.float64).reshape(3, 2))
save("int32.npy", values.astype(np.int32))
save("int64.npy", (values * 10**12).astype(np.int64).reshape(1, 2, 3))
save("uint8.npy", np.array([0, 1, 254, 255], np.uint8))
save("bool.npy", np.array([[True, False], [False, True]]))
save("scalar.npy", np.array(3.5, np.float32))
save("empty.npy", np.zeros((0, 4), np.float32))
save("v2.npy", values.astype(np.float32), version=(2, 0))
save("v3.npy", values.astype(np.float32), version=(3, 0))
# Refused: Fortran order, big-endian, object arrays, unsupported dtypes.
save("fortran.npy", np.asfortranarray(values.astype(np.float32).reshape(2, 3)))
save("bigendian.npy", values.astype(">f4"))
save("object.npy", np.array([1, "a"], dtype=object))
save("float16.npy", values.astype(np.float16))
with open(os.path.join(out, "float32.npy"), "rb") as f:
    whole = f.read()
with open(os.path.join(out, "truncated.npy"), "wb") as f:
    f.write(whole[:-3])
print("wrote", len(os.listdir(out)), "files to", os.path.normpath(out))
