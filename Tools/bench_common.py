"""Plumbing the benchmark scripts share: the release graphtool and a competing CPU load."""
import contextlib
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

# `graphtool bench --warmup-seconds`: TF and ONNX Runtime are timed inside a Python process
# whose threads have long been busy, while each Soma measurement is a fresh process, whose
# second core often barely joins in at first (run alone, the attention block took 0.245 ms
# after 20 warm-up runs in about half of the processes, 0.167 ms after 500). Inside the
# harness its median still moves between 0.17 and 0.25 ms from one process to the next.
WARMUP_SECONDS = "0.5"


def release_binary(product):
    """Builds `product` with `swift build -c release` and returns the executable's path."""
    subprocess.run(["swift", "build", "-c", "release", "--product", product], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    bin_dir = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()
    return os.path.join(bin_dir, product)


def graphtool_path():
    return release_binary("graphtool")


@contextlib.contextmanager
def competing_load(processes):
    """N busy-looping processes while the block runs (a competing CPU-bound load)."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        yield
    finally:
        for p in busy:
            p.kill()
            p.wait()


def plan_memory(report):
    """The compiled plan's arena, the arena the runs took (the parallel layout's where steps
    ran in parallel) and their ratios to the peak of live bytes (the lower bound), from a
    `graphtool bench --json` report: a dict for the results (with the vector instruction set
    Soma's loops ran with), and a phrase for a table."""
    arena, bound = report.get("arena_bytes"), report.get("lower_bound_bytes")
    run = report.get("run_arena_bytes", arena)
    isa = {"vector_instructions": report["vector_instructions"]} if "vector_instructions" in report else {}
    if arena is None:
        return isa, "arena n/a"
    memory = isa | {"arena_bytes": arena, "run_arena_bytes": run, "lower_bound_bytes": bound}
    if bound == 0:  # nothing lives between steps: inputs and fetched outputs only
        return memory, "arena   0 (no intermediates)"
    return memory, f"arena {arena / 2**20:6.2f} MiB = {arena / bound:4.2f}× bound, runs {run / bound:4.2f}×"
