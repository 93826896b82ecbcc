#!/usr/bin/env bash
# The issue-14 table: a char-LSTM training step (one-hot input, V 65) per recomputation schedule,
# one process per row (peak RSS is the process's). Usage: bench/memory.sh BUILD_DIR [THREADS]
set -euo pipefail
build=${1:-build}
threads=${2:-2}
run() { "$build/bench/bench_memory" --threads "$threads" "$@" || echo "{\"args\": \"$*\", \"error\": \"see above\"}"; }
echo "# $(lscpu | sed -n 's/^Model name:\s*//p'), family $(lscpu | sed -n 's/^CPU family:\s*//p'), $(date -u +%F)"
for T in 100 1000; do
  run --seq-length "$T" --schedule all
  run --seq-length "$T" --schedule sqrt
  run --seq-length "$T" --schedule budget --share 0.1
  run --seq-length "$T" --schedule budget --share 0.02
  run --seq-length "$T" --schedule revolve --slots 20
  run --seq-length "$T" --schedule revolve --slots 8
done
# T = 10,000: store-all takes ~17 GB here; one timed step each.
run --seq-length 10000 --schedule all --steps 1
run --seq-length 10000 --schedule sqrt --steps 1
run --seq-length 10000 --schedule budget --share 0.1 --steps 1
run --seq-length 10000 --schedule budget --share 0.02 --steps 1
# LSTM 1024, B 64, T 10,000: store-all planned only (more than this machine); a 2 GB budget run.
run --hidden 1024 --batch 64 --seq-length 10000 --schedule all --plan-only
run --hidden 1024 --batch 64 --seq-length 10000 --schedule budget --budget-mb 2000 --steps 1
