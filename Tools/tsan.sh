#!/usr/bin/env bash
# The test suite under ThreadSanitizer (its own build folder, .build-tsan).
set -euo pipefail
cd "$(dirname "$0")/.."
TSAN_OPTIONS="halt_on_error=1 ${TSAN_OPTIONS:-}" swift test --sanitize=thread --scratch-path .build-tsan "$@"
