#!/usr/bin/env python3
"""Checkpoint throughput: Soma and TensorFlow writing and reading the same tensors, in the
same run, on the same files — Soma reads TF's file and TF reads Soma's.

Soma runs `soma-checkpoint-bench` (release); TF runs its C++ bundle writer and reader
through `tf.raw_ops.SaveV2` / `RestoreV2` (eager, one call each, so Python adds
nothing per tensor). Soma's write includes fsync of both files (its saves are durable);
TF's SaveV2 does not sync, so TF is also timed with an fsync of its two files after.
Each round writes new files (the previous round's are deleted, and the disk synced,
before timing), as numbered checkpoints are. Rounds are interleaved; medians and the ratio Soma/TF are printed.
With --load, as many busy processes as there are cores compete while timing.

    python3 Tools/bench_checkpoints.py [--mb 256] [--rounds 5] [--load] [--json out.json]
"""
import argparse
import atexit
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf

from bench_common import release_binary


def soma(binary, *args):
    out = subprocess.run([binary, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def burn():
    while True:
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--load", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()
    binary = release_binary("soma-checkpoint-bench")
    folder = tempfile.mkdtemp(prefix="soma-ckpt-bench-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # the models and feeds written: no litter
    soma_prefix, tf_prefix = os.path.join(folder, "soma"), os.path.join(folder, "tf")

    # The tensors: Soma writes them once; TF reads them (untimed) to write its own file.
    soma(binary, "write", soma_prefix, str(args.mb))
    reader = tf.train.load_checkpoint(soma_prefix)
    names = sorted(reader.get_variable_to_shape_map())
    tensors = [tf.constant(reader.get_tensor(n)) for n in names]
    nbytes = sum(t.numpy().nbytes for t in tensors)
    dtypes = [t.dtype for t in tensors]
    empty = [""] * len(names)

    burners = []
    if args.load:
        burners = [multiprocessing.Process(target=burn, daemon=True) for _ in range(os.cpu_count() or 2)]
        for b in burners:
            b.start()
    times = {"soma_write": [], "tf_write": [], "tf_write_sync": [], "soma_read_soma": [], "soma_read_tf": [], "tf_read_soma": [], "tf_read_tf": []}
    crc = soma(binary, "crc", "64")
    def remove(prefix):
        for suffix in (".data-00000-of-00001", ".index"):
            if os.path.exists(prefix + suffix):
                os.remove(prefix + suffix)

    for r in range(args.rounds):
        # Each round saves to new files, as numbered checkpoints do: freeing the previous
        # round's blocks (which a durable save's journal commit would otherwise pay for)
        # happens before the clock starts, for both.
        remove(soma_prefix)
        remove(tf_prefix)
        os.sync()
        times["soma_write"].append(soma(binary, "write", soma_prefix, str(args.mb))["seconds"])
        start = time.perf_counter()
        tf.raw_ops.SaveV2(prefix=tf_prefix, tensor_names=names, shape_and_slices=empty, tensors=tensors)
        times["tf_write"].append(time.perf_counter() - start)
        for suffix in (".data-00000-of-00001", ".index"):
            fd = os.open(tf_prefix + suffix, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        times["tf_write_sync"].append(time.perf_counter() - start)
        times["soma_read_soma"].append(soma(binary, "read", soma_prefix)["seconds"])
        times["soma_read_tf"].append(soma(binary, "read", tf_prefix)["seconds"])
        for key, prefix in [("tf_read_soma", soma_prefix), ("tf_read_tf", tf_prefix)]:
            start = time.perf_counter()
            restored = tf.raw_ops.RestoreV2(prefix=prefix, tensor_names=names, shape_and_slices=empty, dtypes=dtypes)
            _ = [r.numpy() for r in restored[:1]]
            times[key].append(time.perf_counter() - start)
    for b in burners:
        b.terminate()

    med = {k: statistics.median(v) for k, v in times.items()}
    mbps = {k: nbytes / 1e6 / v for k, v in med.items()}
    load = " under load" if args.load else ""
    print(f"checkpoint throughput{load}, {nbytes / 2**20:.0f} MiB in {len(names)} float32 tensors, median of {args.rounds} (MB/s):")
    print(f"  write           Soma {mbps['soma_write']:8.0f} (with fsync)   TF {mbps['tf_write']:8.0f}   Soma/TF time {med['soma_write'] / med['tf_write']:.2f}")
    print(f"  write + fsync                                 TF {mbps['tf_write_sync']:8.0f}   Soma/TF time {med['soma_write'] / med['tf_write_sync']:.2f}")
    print(f"  read Soma file  Soma {mbps['soma_read_soma']:8.0f}                 TF {mbps['tf_read_soma']:8.0f}   Soma/TF time {med['soma_read_soma'] / med['tf_read_soma']:.2f}")
    print(f"  read TF file    Soma {mbps['soma_read_tf']:8.0f}                 TF {mbps['tf_read_tf']:8.0f}   Soma/TF time {med['soma_read_tf'] / med['tf_read_tf']:.2f}")
    print(f"  CRC-32C         instruction {crc['instruction_gb_per_s']:.2f} GB/s, table {crc['table_gb_per_s']:.2f} GB/s "
          f"(×{crc['instruction_gb_per_s'] / crc['table_gb_per_s']:.1f}; hardware: {crc['hardware']})")
    if args.json:
        json.dump({"mb_per_s": mbps, "median_s": med, "crc": crc, "bytes": nbytes, "load": args.load}, open(args.json, "w"), indent=1)
    for f in os.listdir(folder):
        os.remove(os.path.join(folder, f))
    os.rmdir(folder)


if __name__ == "__main__":
    sys.exit(main())
