#!/usr/bin/env python3
"""Extracts the 8×8 handwritten-digits data set into Soma's package resource.

The data: UCI "Optical Recognition of Handwritten Digits" (E. Alpaydin, C. Kaynak, 1998),
CC BY 4.0, https://doi.org/10.24432/C50P49 — the 1,797-image test-set version that
scikit-learn ships as `load_digits`. Run with `pip install scikit-learn`:

    python3 Tools/extract_digits.py

Writes Sources/Soma/Resources/digits.bin:
    8 bytes   magic "SOMADIG1"
    4 bytes   count N (little-endian uint32)
    4 bytes   features F = 64 (little-endian uint32)
    N·F bytes pixel values 0…16, image by image, row-major
    N bytes   labels 0…9
"""
import os
import struct

import numpy as np
from sklearn.datasets import load_digits

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Sources", "Soma", "Resources", "digits.bin")

digits = load_digits()
pixels = digits.data.astype(np.uint8)
labels = digits.target.astype(np.uint8)
assert pixels.shape == (1797, 64) and pixels.max() <= 16 and labels.max() <= 9
with open(OUT + ".tmp", "wb") as f:
    f.write(b"SOMADIG1")
    f.write(struct.pack("<II", *pixels.shape))
    f.write(pixels.tobytes())
    f.write(labels.tobytes())
os.replace(OUT + ".tmp", OUT)
print(f"{OUT}: {pixels.shape[0]} images, {os.path.getsize(OUT)} bytes")
