#!/usr/bin/env bash
# Checks the per-CPU builds of the vector loops (release): SomaSIMDBaseline, SomaSIMDAVX2 and
# SomaSIMDAVX512 compile one source with different instruction sets, and Soma picks one at
# run time. Fails unless
#   1. each module's object file defines no global code but its own (names carrying the
#      module's name): a shared specialisation compiled for AVX-512 could otherwise be
#      merged by the linker into a baseline caller;
#   2. no module calls SomaSIMD's compiled functions: every vector function is inlined, so
#      the loops really run with the module's instructions;
#   3. the TF activations fixture (sixteen activation and elementwise graphs) gives the same
#      bytes with SOMA_CPU=baseline, avx2 and avx512 (levels this CPU lacks fall back to the
#      best it has, which the output says).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product graphtool >/dev/null
bin=$(swift build -c release --show-bin-path)
failed=0
for module in SomaSIMDBaseline SomaSIMDAVX2 SomaSIMDAVX512; do
    objects=("$bin/$module.build/"*.o)
    [ -e "${objects[0]}" ] || { echo "$module: not built on this architecture"; continue; }
    mangled="${#module}$module"
    # Code (T, W) only: data such as Swift's reflection marker or the `got.` indirection to
    # SomaSIMD's protocol descriptor is the same bytes in every module.
    foreign=$(nm --defined-only -g "${objects[@]}" | awk 'NF == 3 && ($2 == "T" || $2 == "W") { print $3 }' \
        | grep -v -e "$mangled" || true)
    # Functions only: descriptors (Mp, Mn) are data.
    calls=$(nm -u "${objects[@]}" | awk '{ print $2 }' | grep -e '^\$s8SomaSIMD' | grep -v -e 'Mp$' -e 'Mn$' || true)
    if [ -n "$foreign" ]; then echo "$module defines symbols of other modules:" >&2; echo "$foreign" | swift demangle >&2; failed=1; fi
    if [ -n "$calls" ]; then echo "$module calls SomaSIMD instead of inlining it:" >&2; echo "$calls" | swift demangle >&2; failed=1; fi
    [ -z "$foreign$calls" ] && echo "$module: only its own symbols, every vector function inlined"
done

F=Tests/SomaTests/Fixtures/tf/activations
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fetch_names=$(python3 -c "import json; print(' '.join(f['name'].split(':')[0] for f in json.load(open('$F/manifest.json'))['fetches']))")
for level in baseline avx2 avx512; do
    mkdir "$out/$level"
    args=()
    for name in $fetch_names; do args+=(--fetch "$name=$out/$level/$name.npy"); done
    SOMA_CPU=$level "$bin/graphtool" run "$F/model.pb" --input "x=$F/x.npy" "${args[@]}" >/dev/null
    used=$(SOMA_CPU=$level "$bin/graphtool" bench "$F/model.pb" --input "x=$F/x.npy" --runs 1 --warmup 0 --json \
        | python3 -c "import json, sys; print(json.load(sys.stdin)['vector_instructions'])")
    echo "SOMA_CPU=$level: ran with $used"
done
for level in avx2 avx512; do
    if ! diff -r "$out/baseline" "$out/$level" >/dev/null; then
        echo "check-cpu-dispatch: the $level loops give other bytes than the baseline ones" >&2
        failed=1
    fi
done
[ $failed = 0 ] && echo "check-cpu-dispatch: $(echo "$fetch_names" | wc -w) outputs bitwise equal across the builds"
exit $failed
