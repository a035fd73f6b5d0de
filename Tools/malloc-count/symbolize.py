#!/usr/bin/env python3
"""Turns the backtraces malloc_count.c prints (MALLOC_TRACE_AFTER) into one line per
allocation: the binary's innermost seven frames, demangled, innermost first.

    gcc -O2 -shared -fPIC Tools/malloc-count/malloc_count.c -o /tmp/mc.so
    LD_PRELOAD=/tmp/mc.so MALLOC_TRACE_AFTER=20000 MALLOC_TRACE_COUNT=20 \\
        .build/release/graphtool bench model.pb --input x=x.npy --runs 1100 2>trace.txt >/dev/null
    python3 Tools/malloc-count/symbolize.py trace.txt .build/release/graphtool

Pick MALLOC_TRACE_AFTER past the warm-up (Tools/count-allocations.sh prints the totals).
Needs addr2line (binutils) and `swift demangle`.
"""
import os
import re
import subprocess
import sys

trace, binary = sys.argv[1], sys.argv[2]
module = os.path.basename(binary) + "(+0x"
allocations, current = [], None
for line in open(trace):
    if line.startswith("--- allocation"):
        current = []
        allocations.append(current)
    elif current is not None and module in line:
        current.append(re.search(r"\+(0x[0-9a-f]+)", line).group(1))
addresses = sorted({a for frames in allocations for a in frames[:7]})
functions = subprocess.run(["addr2line", "-f", "-e", binary] + addresses, capture_output=True, text=True).stdout.splitlines()[0::2]
demangled = subprocess.run(["swift", "demangle", "--simplified"], input="\n".join(functions), capture_output=True,
                           text=True).stdout.splitlines()
names = {a: re.sub(r"\(.*", "", d)[:70] for a, d in zip(addresses, demangled)}
for frames in allocations:
    print(" <- ".join(names[a] for a in frames[:7]))
