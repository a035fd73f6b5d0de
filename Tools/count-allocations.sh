#!/usr/bin/env bash
# Heap allocations per steady-state run of a graph: runs `graphtool bench` twice with
# different run counts under an LD_PRELOAD counter and divides the difference (and once
# more to see that the setup's count repeats). To see where they come from, see
# Tools/malloc-count/symbolize.py.
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
# The difference means something only while loading and compiling allocate the same from
# process to process: a sort whose comparisons allocate, over a dictionary's per-process
# order, once made it vary by ±1,300 and the check fail on a loop that allocated nothing.
again=$(count "$@" --runs 100 --warmup 10)
spread=$(( a > again ? a - again : again - a ))
if (( spread * 4 > 1000 )); then
    echo "the setup's allocations vary from process to process ($a, then $again): no per-run count from a difference"
    exit 0
fi
echo "allocations per run: $(( (b - a) / 1000 )) (over 1,000 extra runs: $a → $b)"
