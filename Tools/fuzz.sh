#!/usr/bin/env bash
# Coverage-guided fuzzing of Soma's loaders with libFuzzer and AddressSanitizer.
#
#   Tools/fuzz.sh [--time SECONDS] [--jobs N] [TARGET …]
#
# TARGET: graphdef (load + compile + one run with zeros fed), npy (read + write back),
# checkpoint (a TensorBundle index + data file: open, read every tensor), checkpointstate
# (a `checkpoint` state file), savedmodel (a saved_model.pb: load, run every signature with
# zeros fed), csv (a CSV data set: floats and class labels), summary (a serialized Summary
# fed to MergeSummary and written to an event file, read back); default: all seven. --time is
# per target (default 60); --jobs N > 1 runs N processes in libFuzzer's fork mode. The
# build goes to .build-fuzz (release, -sanitize=fuzzer,address); the corpus grows in
# .build-fuzz/corpus/TARGET between runs, seeded from the test fixtures; a crash, hang
# (30 s), leak or broken promise is written to .build-fuzz/findings/TARGET/ and the script
# fails, printing how to replay it.
# The test command runs it briefly (Tools/test.sh); a long run:
#
#   Tools/fuzz.sh --time 7200 --jobs 2 graphdef
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
jobs=1
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --time) seconds="$2"; shift 2 ;;
        --jobs) jobs="$2"; shift 2 ;;
        graphdef|npy|checkpoint|checkpointstate|savedmodel|csv|summary) targets+=("$1"); shift ;;
        *) echo "usage: Tools/fuzz.sh [--time SECONDS] [--jobs N] [graphdef] [npy] [checkpoint] [checkpointstate] [savedmodel] [csv] [summary]" >&2; exit 2 ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(graphdef npy checkpoint checkpointstate savedmodel csv summary)

scratch=.build-fuzz
swift build -c release --product soma-fuzz --scratch-path "$scratch" \
    --sanitize=fuzzer --sanitize=address -Xswiftc -DSOMA_LIBFUZZER \
    -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table 2>&1 | grep -v "Cannot export local symbol" >&2
fuzzer="$scratch/release/soma-fuzz"

fixtures=Tests/SomaTests/Fixtures
status=0
for target in "${targets[@]}"; do
    corpus="$scratch/corpus/$target" seeds="$scratch/seeds/$target" findings="$scratch/findings/$target"
    mkdir -p "$corpus" "$findings"
    rm -rf "$seeds" && mkdir -p "$seeds"
    case "$target" in
    graphdef)
        cp "$fixtures"/hostile/*.pb "$seeds/"
        for model in "$fixtures"/tf/*/; do cp "$model/model.pb" "$seeds/$(basename "$model").pb"; done ;;
    npy)
        cp "$fixtures"/npy/*.npy "$seeds/"
        for model in "$fixtures"/tf/*/; do
            for f in "$model"*.npy; do [ -e "$f" ] && cp "$f" "$seeds/$(basename "$model")-$(basename "$f")"; done
        done ;;
    checkpoint)
        # One seed per checkpoint: the index length (4 bytes, little-endian), index, data.
        for index in "$fixtures"/checkpoints/*/*.index "$fixtures"/saved_models/*/variables/variables.index; do
            name=$(echo "${index#"$fixtures"/}" | tr / _)
            python3 -c 'import struct,sys; i=open(sys.argv[1],"rb").read(); d=open(sys.argv[2],"rb").read()
open(sys.argv[3],"wb").write(struct.pack("<I",len(i))+i+d)' "$index" "${index%.index}.data-00000-of-00001" "$seeds/$name"
        done ;;
    checkpointstate)
        cp "$fixtures"/checkpoints/tf1_saver/checkpoint "$seeds/tf1_saver" ;;
    savedmodel)
        for model in "$fixtures"/saved_models/*/; do cp "$model/saved_model.pb" "$seeds/$(basename "$model").pb"; done ;;
    csv)
        printf 'label,a,b\n1,0.5,2\n3,-1e3,inf\n' > "$seeds/small.csv"
        printf '7, 1,2,3\r\n2,4,5,6\r\n' > "$seeds/crlf.csv" ;;
    summary)
        # Summary { value { tag: "a" simple_value: 1 } }, and one with a histogram of nothing.
        printf '\x0a\x08\x0a\x01a\x15\x00\x00\x80\x3f' > "$seeds/scalar.pb"
        printf '\x0a\x05\x0a\x01h\x2a\x00' > "$seeds/histogram.pb" ;;
    esac
    parallel=()
    [ "$jobs" -gt 1 ] && parallel=(-fork="$jobs" -ignore_crashes=0)
    log="$scratch/fuzz-$target.log"
    set +e
    SOMA_FUZZ_TARGET="$target" "$fuzzer" "${parallel[@]}" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 \
        -max_len=131072 -print_final_stats=1 -artifact_prefix="$findings/" "$corpus" "$seeds" >"$log" 2>&1
    code=$?
    set -e
    runs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    final=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
    runs=${final:-${runs:-0}}
    echo "fuzz $target: $runs executions in ${seconds} s, corpus $(ls "$corpus" | wc -l) files, exit $code"
    if [ $code -ne 0 ]; then
        status=1
        grep -E "ERROR|SUMMARY|broken promise|Test unit written" "$log" | head -20 >&2 || true
        echo "replay a finding: swift run soma-fuzz $target $findings/<file>   (full log: $log)" >&2
    fi
done
exit $status
