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
    """The release graphtool, built here — or the executable `SOMA_GRAPHTOOL` names (a saved build, for A/B runs)."""
    if os.environ.get("SOMA_GRAPHTOOL"):
        return os.environ["SOMA_GRAPHTOOL"]
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


def tf_step_peak_bytes(session, fetches, feeds):
    """TF's peak of live bytes in one run of `fetches`: a fully traced run records every
    allocation and free its kernels made (`RunMetadata.step_stats`), and their running sum,
    frees first within a microsecond, peaks here — what the run allocated beside the graph's
    constants, variables and the fed values, the fetched outputs included: Soma's arena leaves
    those out (they live in the caller's tensors), so beside an inference graph's arena TF's
    figure compares with the arena plus the outputs; a training step fetches nothing. None where
    TF recorded nothing. (ONNX Runtime reports no such records: its peak is not measured.)"""
    import tensorflow as tf
    tf1 = tf.compat.v1
    metadata = tf1.RunMetadata()
    session.run(fetches, feeds, options=tf1.RunOptions(trace_level=tf1.RunOptions.FULL_TRACE), run_metadata=metadata)
    records = sorted((r.alloc_micros, r.alloc_bytes) for device in metadata.step_stats.dev_stats for node in device.node_stats
                     for memory in node.memory for r in memory.allocation_records)
    if not records:
        return None
    live = peak = 0
    for _, size in records:
        live += size
        peak = max(peak, live)
    return peak


def soma_report(report, tf_peak=None):
    """From a `graphtool bench --json` report: the compiled plan's arena, the arena the runs
    took (the parallel layout's where steps ran in parallel) and their ratios to the peak of
    live bytes (the lower bound), the vector instruction set Soma's loops ran with, how many of
    the contention monitor's decisions during the timed runs found other processes competing
    and how many timed runs went on one thread — a dict for the results and a phrase for a
    table; with `tf_peak` (``tf_step_peak_bytes``), TF's peak beside them."""
    arena, bound = report.get("arena_bytes"), report.get("lower_bound_bytes")
    run = report.get("run_arena_bytes", arena)
    fields = {k: report[k] for k in ("vector_instructions", "contention_decisions", "contended_decisions", "runs_alone")
              if k in report}
    contended = report.get("contended_decisions", 0)
    alone = (f", contended {contended}/{report['contention_decisions']}, alone {report.get('runs_alone', 0)}/{report['runs']}"
             if contended else "")
    tf_text = ""
    if tf_peak is not None:
        fields["tf_peak_bytes"] = tf_peak
        tf_text = f", TF peak {tf_peak / 2**20:.2f} MiB"
    if arena is None:
        return fields, "arena n/a" + tf_text + alone
    fields |= {"arena_bytes": arena, "run_arena_bytes": run, "lower_bound_bytes": bound}
    if bound == 0:  # nothing lives between steps: inputs and fetched outputs only
        return fields, "arena   0 (no intermediates)" + tf_text + alone
    return fields, f"arena {arena / 2**20:6.2f} MiB = {arena / bound:4.2f}× bound, runs {run / bound:4.2f}×" + tf_text + alone
