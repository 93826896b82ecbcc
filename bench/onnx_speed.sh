#!/usr/bin/env bash
# rnnc's own inference against onnxruntime running rnnc's ONNX export of the same model (issue 31's
# speed target), in one run: a character LSTM (vocabulary 65, 2 layers of 256), one step at a time,
# the state fed back. rnnc: a stream of the run time's model (what an exported library and rnnc
# sample run; bench_stream); at batch 64 one batched call for 64 streams. onnxruntime: npm
# onnxruntime-node 1.30 (CPU) through its Node binding (tests/onnx/node_modules), the model as
# ONNX's LSTM operators (bench_stream --onnx), session.run per step; the binding's cost per call is
# in its figure. Medians in microseconds per step of all streams.
# Usage: bench/onnx_speed.sh [build dir] [steps]
set -euo pipefail
build=${1:-build}
steps=${2:-20000}
top=$(cd "$(dirname "$0")/.." && pwd)
export NODE_PATH="$top/tests/onnx/node_modules"
[ -f "$NODE_PATH/onnxruntime-node/package.json" ] || { echo "onnxruntime-node is not installed (scripts/setup.sh)"; exit 1; }
work=$(mktemp -d /tmp/rnnc-onnx-speed-XXXXXX)
trap 'rm -rf "$work"' EXIT
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "2-layer LSTM 256, vocabulary 65, one step; $(nproc) cores, $cpu (family $(grep -m1 'cpu family' /proc/cpuinfo | awk '{print $4}') model $(grep -m1 '^model' /proc/cpuinfo | awk '{print $3}'))"
printf '%-6s %-7s | %10s %10s | %12s %12s | %8s\n' batch threads "rnnc p50" "rnnc p99" "ort p50" "ort p99" "ort/rnnc"
for threads in 1 2; do
  read -r p50 p99 _ <<< "$("$build/bench/bench_stream" --layers 2 --hidden 256 --steps "$steps" --threads "$threads" --onnx "$work/b1.onnx")"
  read -r o50 o99 _ <<< "$(node "$top/bench/onnx_step.mjs" "$work/b1.onnx" "$steps" "$threads")"
  printf '%-6s %-7s | %10s %10s | %12s %12s | %7.2fx\n' 1 "$threads" "$p50" "$p99" "$o50" "$o99" "$(awk -v a="$o50" -v b="$p50" 'BEGIN {print a / b}')"
  n=$((steps / 10))
  read -r batched _ forward _ <<< "$("$build/bench/bench_stream" --streams 64 --layers 2 --hidden 256 --steps "$n" --threads "$threads" --onnx "$work/b64.onnx")"
  read -r o50 o99 _ <<< "$(node "$top/bench/onnx_step.mjs" "$work/b64.onnx" "$n" "$threads")"
  printf '%-6s %-7s | %10s %10s | %12s %12s | %7.2fx   (rnnc: 64 streams batched; forward at batch 64: %s)\n' 64 "$threads" "$batched" "-" "$o50" "$o99" "$(awk -v a="$o50" -v b="$batched" 'BEGIN {print a / b}')" "$forward"
done
# What a call costs onnxruntime through Node whatever the model: a 1-unit LSTM of vocabulary 2.
"$build/bench/bench_stream" --layers 1 --hidden 1 --vocab 2 --steps 10 --onnx "$work/tiny.onnx" > /dev/null
read -r f50 f99 _ <<< "$(node "$top/bench/onnx_step.mjs" "$work/tiny.onnx" "$steps" 1)"
echo "onnxruntime's floor per call (a 1-unit LSTM, the Node binding included): p50 $f50 us, p99 $f99 us"
