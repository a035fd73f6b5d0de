#!/usr/bin/env bash
# Compiler benchmarks: compile time at 1k/10k/100k nodes, and planned peak memory against
# its lower bound on the TF fixtures and the executor workloads. Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product soma-compiler-bench >/dev/null
"$(swift build -c release --show-bin-path)/soma-compiler-bench" Tests/SomaTests/Fixtures/tf
