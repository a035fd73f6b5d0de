#!/usr/bin/env bash
# Soma → TensorFlow: builds graphs in Soma (every NumPy op case, and models with variables),
# saves them as GraphDefs, imports them into TensorFlow and checks TF computes what Soma did;
# then reads Soma's checkpoints, SavedModel and frozen graphs with TF's own readers, and its
# TensorBoard event files with TensorBoard's.
# Needs tensorflow-cpu; when it cannot be installed, says so and exits 0.
set -uo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c "import tensorflow" >/dev/null 2>&1; then
    echo "tf-interop: installing tensorflow-cpu (pip)…" >&2
    if ! python3 -m pip install -q tensorflow-cpu >/dev/null 2>&1 || ! python3 -c "import tensorflow" >/dev/null 2>&1; then
        echo "tf-interop: SKIPPED — tensorflow-cpu could not be installed here, so Soma-written graphs were not checked in TensorFlow"
        exit 0
    fi
fi
set -e
# TensorFlow's CPU kernel for a dilated convolution's input gradient exists only among its
# oneDNN kernels, which TF turns on by default only on CPUs with AVX512_VNNI, AVX512_BF16 or
# AMX; elsewhere (an AVX2 machine) the training model's Conv2DBackpropInput fails in TF itself.
export TF_ENABLE_ONEDNN_OPTS=1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
swift build -c release --product interop-export >/dev/null
"$(swift build -c release --show-bin-path)/interop-export" "$out"
TF_CPP_MIN_LOG_LEVEL=3 python3 Tools/check_tf_import.py "$out" 2> >(grep -v -E "WARNING|deprecat|I0000|oneDNN" >&2)
TF_CPP_MIN_LOG_LEVEL=3 python3 Tools/check_tf_persistence.py "$out" 2> >(grep -v -E "WARNING|deprecat|I0000|oneDNN" >&2)
# TensorBoard's own reader (EventAccumulator) on Soma's event files.
if python3 -c "import tensorboard" >/dev/null 2>&1 || python3 -m pip install -q tensorboard >/dev/null 2>&1; then
    TF_CPP_MIN_LOG_LEVEL=3 python3 Tools/check_tensorboard.py "$out" 2> >(grep -v -E "WARNING|deprecat|I0000|oneDNN" >&2)
else
    echo "tf-interop: tensorboard could not be installed here, so Soma's event files were not read with TensorBoard's reader"
fi
