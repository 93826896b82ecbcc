#!/usr/bin/env bash
# Cold and disk-cached compile times of the LSTM 256 training step at T=100 and T=1000.
# Usage: bench/compile_time.sh [build dir]
set -euo pipefail
build=${1:-build}
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
for T in 100 1000; do
  echo "== T=$T, cold (empty kernel cache)"
  RNNC_CACHE_DIR="$cache/$T" "$build/bench/compile_time" "$T"
  echo "== T=$T, second process (kernels from the disk cache)"
  RNNC_CACHE_DIR="$cache/$T" "$build/bench/compile_time" "$T"
done
