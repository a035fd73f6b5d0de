#!/usr/bin/env bash
# Heap allocations per steady-state run of a graph: runs `graphtool bench` twice with
# different run counts under an LD_PRELOAD counter and divides the difference. To see where
# they come from, see Tools/malloc-count/symbolize.py.
#   Tools/count-allocations.sh MODEL.pb [graphtool bench options…]
set -euo pipefail
cd "$(dirname "$0")/.."
shim_dir=$(mktemp -d)
trap 'rm -rf "$shim_dir"' EXIT
shim="$shim_dir/malloc_count.so"
"$(command -v gcc || command -v clang)" -O2 -shared -fPIC Tools/malloc-count/malloc_count.c -o "$shim"
swift build -c release --product graphtool >/dev/null
tool="$(swift build -c release --show-bin-path)/graphtool"
count() { LD_PRELOAD="$shim" "$tool" bench "$@" 2>&1 >/dev/null | sed -n 's/^allocations: //p'; }
a=$(count "$@" --runs 100 --warmup 10)
b=$(count "$@" --runs 1100 --warmup 10)
echo "allocations per run: $(( (b - a) / 1000 )) (over 1,000 extra runs: $a → $b)"
