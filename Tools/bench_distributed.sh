#!/usr/bin/env bash
# Data-parallel scaling on this machine: training samples per second (MLP and CNN on the
# digits, batch 64 per rank) on 1 and 2 ranks, and allreduce time and bus bandwidth for
# 1 KB … 64 MB — Soma's deterministic collective beside Open MPI's own MPI_Allreduce, in
# the same job.
#   Tools/bench_distributed.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v mpirun >/dev/null || { echo "bench_distributed: needs Open MPI (Tools/install-deps.sh)" >&2; exit 1; }
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
swift build -c release --product soma-distributed-check >/dev/null
check="$(swift build -c release --show-bin-path)/soma-distributed-check"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for n in 1 2; do
    mpirun -np "$n" --oversubscribe --mca btl self,vader,tcp "$check" bench --json > "$out/$n.json"
done
python3 - "$out" <<'PY'
import json, sys
one, two = (json.load(open(f"{sys.argv[1]}/{n}.json"))["results"] for n in (1, 2))
train1 = {r["kind"]: r["samples_per_second"] for r in one if r["kind"].startswith("train")}
print("| workload | 1 rank samples/s | 2 ranks samples/s | speed-up |\n| --- | --- | --- | --- |")
for r in two:
    if r["kind"].startswith("train"):
        k = r["kind"]
        print(f"| {k[6:]} | {train1[k]:,.0f} | {r['samples_per_second']:,.0f} | {r['samples_per_second'] / train1[k]:.2f}× |")
print("\n| bytes | Soma allreduce µs | MPI_Allreduce µs | Soma / MPI | Soma bus GB/s | MPI bus GB/s |\n| --- | --- | --- | --- | --- | --- |")
rows = {}
for r in two:
    if not r["kind"].startswith("train"):
        rows.setdefault(r["bytes"], {})[r["kind"]] = r
for size, kinds in sorted(rows.items()):
    s, m = kinds["soma_allreduce"], kinds["MPI_Allreduce"]
    print(f"| {size:,} | {s['us']:.1f} | {m['us']:.1f} | {s['us'] / m['us']:.2f} | {s['busbw_GBps']:.2f} | {m['busbw_GBps']:.2f} |")
PY
