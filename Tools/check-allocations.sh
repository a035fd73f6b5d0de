#!/usr/bin/env bash
# Fails unless a steady-state run allocates nothing on the heap: `graphtool bench` (a
# callable writing into preallocated outputs, one thread) on the TF activations fixture —
# sixteen activation and elementwise graphs — counted by Tools/count-allocations.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
F=Tests/SomaTests/Fixtures/tf/activations
fetches=$(python3 -c "import json; print(' '.join('--fetch ' + f['name'].split(':')[0] for f in json.load(open('$F/manifest.json'))['fetches']))")
# shellcheck disable=SC2086
line=$(Tools/count-allocations.sh "$F/model.pb" --input "x=$F/x.npy" $fetches --threads 1 | tail -1)
echo "$line"
case "$line" in
    "allocations per run: 0 "*) ;;
    *) echo "check-allocations: a steady-state run allocates" >&2; exit 1 ;;
esac
