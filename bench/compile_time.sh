#!/usr/bin/env bash
# Cold and disk-cached compile times of the LSTM 256 training step at T=100 and T=1000, with the
# recurrence as one scan (how the library's layers trace it) and unrolled (a C++ loop over steps).
# Usage: bench/compile_time.sh [build dir]
set -euo pipefail
build=${1:-build}
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
for form in scan unrolled; do
  for T in 100 1000; do
    echo "== $form, T=$T, cold (empty kernel cache)"
    RNNC_CACHE_DIR="$cache/$form$T" "$build/bench/compile_time" "$T" "$form"
    echo "== $form, T=$T, second process (kernels from the disk cache)"
    RNNC_CACHE_DIR="$cache/$form$T" "$build/bench/compile_time" "$T" "$form"
  done
done
