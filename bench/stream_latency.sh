#!/usr/bin/env bash
# Latency of one streaming step at batch 1 (issue 30's targets): rnnc's stream (what an exported
# library runs; bench_stream) against PyTorch stepping the same model (torch_step_latency.py), in
# one run, for character LSTMs of vocabulary 65. Each step timed alone; p50, p99 and p99.9 in us.
# "tree fn" is the same compiled step called as a tree function (what rnnc sample ran before).
# "ort50"/"ort99": onnxruntime (npm onnxruntime-node, through its Node binding; tests/onnx) running
# rnnc's ONNX export of the same model (bench_stream --onnx, bench/onnx_step.mjs), float32 rows only.
# The first rows are the machine's own: a loop of arithmetic of 5, 10 and 20 us timed the same way
# (bench_stream --control), no model, no memory: where its p99 is far above its p50, the machine
# takes the CPU away now and then (a virtual CPU's host), and no step of that length does better.
# Usage: bench/stream_latency.sh [build dir] [steps]
set -euo pipefail
build=${1:-build}
steps=${2:-100000}
top=$(cd "$(dirname "$0")/.." && pwd)
have_torch=0
/usr/bin/python3 -c 'import torch' 2>/dev/null && have_torch=1
export NODE_PATH="$top/tests/onnx/node_modules"
have_ort=0
command -v node > /dev/null && [ -f "$NODE_PATH/onnxruntime-node/package.json" ] && have_ort=1
onnx=$(mktemp /tmp/rnnc-latency-XXXXXX.onnx)
trap 'rm -f "$onnx"' EXIT
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "one step at batch 1, vocabulary 65; $(nproc) cores, $cpu (family $(grep -m1 'cpu family' /proc/cpuinfo | awk '{print $4}') model $(grep -m1 '^model' /proc/cpuinfo | awk '{print $3}'))"
printf '%-10s %-5s %-7s | %8s %8s %8s %8s | %8s | %8s %8s %8s | %8s %8s\n' model mode threads "p50" "p99" "p99.9" mean "tree fn" "torch50" "torch99" "ratio50" "ort50" "ort99"
for us in 5 10 20; do
  read -r p50 p99 p999 mean _ <<< "$("$build/bench/bench_stream" --control "$us" --steps "$steps")"
  printf '%-10s %-5s %-7s | %8s %8s %8s %8s | %8s | %8s %8s %8s | %8s %8s\n' "control" "${us}us" 1 "$p50" "$p99" "$p999" "$mean" - - - - - -
done
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
      ort=()
      [ "$mode" = f32 ] && [ "$have_ort" = 1 ] && ort=(--onnx "$onnx")
      read -r p50 p99 p999 mean f50 _ <<< "$("$build/bench/bench_stream" --layers "$layers" --hidden "$hidden" --steps "$n" --threads "$threads" "${flag[@]}" "${ort[@]}")"
      ratio="-"
      [ "$t50" != "-" ] && ratio=$(awk -v a="$t50" -v b="$p50" 'BEGIN {printf "%.1fx", a / b}')
      o50="-"
      o99="-"
      [ ${#ort[@]} -gt 0 ] && read -r o50 o99 _ <<< "$(node "$top/bench/onnx_step.mjs" "$onnx" "$n" "$threads")"
      printf '%-10s %-5s %-7s | %8s %8s %8s %8s | %8s | %8s %8s %8s | %8s %8s\n' "${layers}x$hidden" "$mode" "$threads" "$p50" "$p99" "$p999" "$mean" "$f50" "$t50" "$t99" "$ratio" "$o50" "$o99"
    done
  done
done
