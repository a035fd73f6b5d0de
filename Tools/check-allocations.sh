#!/usr/bin/env bash
# Fails unless a steady-state run allocates nothing on the heap, counted by
# Tools/count-allocations.sh (`graphtool bench`, on one thread and on two — kernels split
# across the pool's threads, steps run in parallel):
#   - inference: the TF activations fixture — sixteen activation and elementwise graphs, a
#     callable writing into preallocated outputs — and a Winograd convolution and an attention block;
#   - training: a step of a Winograd convolution and a dense layer, and of an unrolled RNN
#     whose weight gradient is one fused sum of 48 inputs (Tools/make_allocation_fixtures.py);
#   - training: a step of a convolution with a fused batch norm in training (FusedBatchNormV3,
#     its gradient, the moving averages updated);
#   - a Keras LSTM returning sequences and a GRU keeping the last output (while loops over
#     TensorLists, run as fused cells): a loop's setup allocates, its steps must not — a run of
#     64 steps allocates no more than one of 8 (more than 8 apart: something allocates per step);
#   - training: one step of each TF1 resource-variable training graph (GradientDescent,
#     Momentum, Adam, RMSProp, Adagrad: gradients, ResourceApply*, the global step).
set -euo pipefail
cd "$(dirname "$0")/.."
failed=0
check() {  # check LABEL MODEL [bench options…]
    local label=$1; shift
    local line threads
    for threads in 1 2; do
        line=$(Tools/count-allocations.sh "$@" --threads "$threads" | tail -1)
        echo "$label, $threads thread(s): $line"
        case "$line" in
            "allocations per run: 0 "*) ;;
            *) echo "check-allocations: a steady-state run of $label on $threads thread(s) allocates" >&2; failed=1 ;;
        esac
    done
}
F=Tests/SomaTests/Fixtures/tf/activations
fetches=$(python3 -c "import json; print(' '.join('--fetch ' + f['name'].split(':')[0] for f in json.load(open('$F/manifest.json'))['fetches']))")
# shellcheck disable=SC2086
check "inference (activations)" "$F/model.pb" --input "x=$F/x.npy" $fetches
# Scratch-holding paths (Tools/make_allocation_fixtures.py): Winograd tiles with the filter
# transformed in the plan and per run, products with a transposed operand copied, a product
# written transposed (_SomaFusedBatchMatMul).
A=Tests/SomaTests/Fixtures/allocations
check "inference (Winograd, attention)" "$A/inference.pb" --input "x=$A/inference_x.npy" --fetch out
check "training step (Winograd, dY·Wᵀ)" "$A/training.pb" --input "x=$A/training_x.npy" --input "y=$A/training_y.npy" \
    --init init --target train
check "training step (unrolled RNN, a 48-input fused sum)" "$A/recurrent.pb" --input "x=$A/recurrent_x.npy" --init init --target train
check "training step (FusedBatchNormV3, its gradient)" "$A/normalization.pb" --input "x=$A/normalization_x.npy" \
    --init init --target train
per_run() { Tools/count-allocations.sh "$@" | tail -1 | sed -n 's/^allocations per run: \([0-9]*\) .*/\1/p'; }
for threads in 1 2; do
    short=$(per_run "$A/keras_recurrent.pb" --input "x=$A/keras_recurrent_x8.npy" --fetch out --threads "$threads")
    long=$(per_run "$A/keras_recurrent.pb" --input "x=$A/keras_recurrent_x64.npy" --fetch out --threads "$threads")
    echo "Keras LSTM + GRU loops, $threads thread(s): $short allocations per run of 8 steps, $long of 64"
    if [ -z "$short" ] || [ -z "$long" ] || [ "$long" -gt $((short + 8)) ]; then
        echo "check-allocations: the recurrent loops' steps allocate on $threads thread(s)" >&2
        failed=1
    fi
done
for optimiser in GradientDescent Momentum Adam RMSProp Adagrad; do
    check "training step ($optimiser)" "Tests/SomaTests/Fixtures/resource_training/$optimiser.pb" --init init --target train
done
exit $failed
