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
#     TensorLists, run as fused cells), over 8 steps and over 64: neither the loops' setup
#     (lists, their shapes, the state buffers, kept by each step from run to run) nor their
#     steps allocate, nor a batch of 32 whose blocks of rows run along the sequence;
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
for steps in 8 64; do
    check "Keras LSTM + GRU loops, $steps steps" "$A/keras_recurrent.pb" --input "x=$A/keras_recurrent_x$steps.npy" --fetch out
done
check "Keras LSTM + GRU loops, a batch of 32 (blocks of rows along the sequence)" "$A/keras_recurrent_b32.pb" \
    --input "x=$A/keras_recurrent_b32_x8.npy" --fetch out
for optimiser in GradientDescent Momentum Adam RMSProp Adagrad; do
    check "training step ($optimiser)" "Tests/SomaTests/Fixtures/resource_training/$optimiser.pb" --init init --target train
done
exit $failed
