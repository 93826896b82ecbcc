#!/usr/bin/env bash
# Latency of one streaming step at batch 1 (issue 30's targets): rnnc's stream (what an exported
# library runs; bench_stream) against PyTorch stepping the same model (torch_step_latency.py), in
# one run, for character LSTMs of vocabulary 65. Each step timed alone; p50, p99 and p99.9 in us.
# "tree fn" is the same compiled step called as a tree function (what rnnc sample ran before).
# Usage: bench/stream_latency.sh [build dir] [steps]
set -euo pipefail
build=${1:-build}
steps=${2:-100000}
top=$(cd "$(dirname "$0")/.." && pwd)
have_torch=0
/usr/bin/python3 -c 'import torch' 2>/dev/null && have_torch=1
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "one step at batch 1, vocabulary 65; $(nproc) cores, $cpu (family $(grep -m1 'cpu family' /proc/cpuinfo | awk '{print $4}') model $(grep -m1 '^model' /proc/cpuinfo | awk '{print $3}'))"
printf '%-10s %-5s %-7s | %8s %8s %8s %8s | %8s | %8s %8s %8s\n' model mode threads "p50" "p99" "p99.9" mean "tree fn" "torch50" "torch99" "ratio50"
for config in "2 256" "3 256" "3 700"; do
  read -r layers hidden <<< "$config"
  n=$steps
  [ "$hidden" -gt 256 ] && n=$((steps / 5))
  for threads in 1 2; do
    theirs="- - - -"
    [ "$have_torch" = 1 ] && theirs=$(/usr/bin/python3 "$top/bench/torch_step_latency.py" 65 "$hidden" "$layers" "$n" "$threads")
    read -r t50 t99 _ _ <<< "$theirs"
    for mode in f32 bf16 int8; do
      flag=(); [ "$mode" != f32 ] && flag=(--"$mode")
      read -r p50 p99 p999 mean f50 _ <<< "$("$build/bench/bench_stream" --layers "$layers" --hidden "$hidden" --steps "$n" --threads "$threads" "${flag[@]}")"
      ratio="-"
      [ "$t50" != "-" ] && ratio=$(awk -v a="$t50" -v b="$p50" 'BEGIN {printf "%.1fx", a / b}')
      printf '%-10s %-5s %-7s | %8s %8s %8s %8s | %8s | %8s %8s %8s\n' "${layers}x$hidden" "$mode" "$threads" "$p50" "$p99" "$p999" "$mean" "$f50" "$t50" "$t99" "$ratio"
    done
  done
done
