#!/usr/bin/env bash
# The test suite under ThreadSanitizer (its own build folder, .build-tsan).
set -euo pipefail
cd "$(dirname "$0")/.."
# Synchronization.Mutex waits on raw futexes TSan cannot see, so a contended one reads as a
# race; Soma's `Locked` (a pthread mutex) is the lock to use.
if grep -rnE '\bMutex *[<(]' Sources Tests --include='*.swift'; then
    echo "tsan.sh: use Locked (Sources/Soma/Support/Locked.swift), not Synchronization.Mutex" >&2
    exit 1
fi
TSAN_OPTIONS="halt_on_error=1 ${TSAN_OPTIONS:-}" swift test --sanitize=thread --scratch-path .build-tsan "$@"
