#!/usr/bin/env bash
# Quality of the bf16 mode (issue 18): a 2-layer LSTM 256 on tiny Shakespeare (B 32 streams, T 100,
# Adam 2e-3, clip 5) trained for the same wall-clock time in float32 and with --bf16, two seeds,
# runs interleaved (f32, bf16, f32, bf16) so that a shared machine's slow spell falls on both.
# Prints each run's validation loss at the end of its budget, its steps and chars/s.
# Usage: bench/bf16_quality.sh TEXT [build dir] [seconds] [threads]
set -euo pipefail
text=${1:?usage: bench/bf16_quality.sh TEXT [build dir] [seconds] [threads]}
build=${2:-build}
seconds=${3:-100}
threads=${4:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "bf16 quality: LSTM 2x256, B 32, T 100, Adam 2e-3, clip 5, ${seconds} s each, $threads threads; $cpu (family $(grep -m1 'cpu family' /proc/cpuinfo | awk '{print $4}'))"
printf '%-6s %-5s %10s %8s %10s\n' mode seed val_loss steps chars/s
for seed in 1 2; do
  for mode in f32 bf16; do
    flag=(--no-bf16); [ "$mode" = bf16 ] && flag=(--bf16)
    summary=$("$build/tools/rnnc" train --data "$text" --layers 2 --hidden 256 --batch 32 --seq-length 100 \
      --optimizer adam --lr 2e-3 --clip 5 --time "$seconds" --validate-every 100 --seed "$seed" \
      --threads "$threads" --save "$tmp/$mode$seed" "${flag[@]}" | grep '^summary:' | cut -d' ' -f2-)
    /usr/bin/python3 -c "import json, sys; s = json.loads(sys.argv[1]); print('%-6s %-5s %10.4f %8d %10.0f' % ('$mode', '$seed', s['val_loss'], s['steps'], s['chars_per_s']))" "$summary"
  done
done
