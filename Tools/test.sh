#!/usr/bin/env bash
# The test command: installs what is missing, checks the committed protobuf-c code matches
# Schemas/, checks Soma-written graphs in TensorFlow (skipped, saying so, when
# tensorflow-cpu cannot be installed), runs the suite under ThreadSanitizer, checks that a
# steady-state run allocates no heap memory, checks the per-CPU builds of the vector loops
# (their symbols, and the same bits from each), trains on 2 ranks under mpirun (skipped,
# saying so, without Open MPI), fuzzes the loaders for half a minute each (libFuzzer +
# AddressSanitizer), then runs the Swift test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
Tools/install-deps.sh
Tools/generate-protos.sh --check
Tools/tf-interop.sh
Tools/tsan.sh
Tools/check-allocations.sh
Tools/check-cpu-dispatch.sh
Tools/test-mpi.sh
Tools/fuzz.sh --time 30
swift test
