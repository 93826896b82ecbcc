#!/usr/bin/env bash
# One run, one table: rnnc against PyTorch (python3-torch) and oneDNN's RNN primitives (libdnnl-dev)
# on the seed configurations. Peers that are not installed are skipped with a message; to install
# them: apt-get install python3-torch libopenblas0-pthread libdnnl-dev.
# Usage: bench/compare.sh [build dir] [threads] [bf16]   (the peers live in ../shared/bench)
# With a third argument `bf16`, rnnc runs in its bf16 mode (GEMM operands in bfloat16); the peers stay float32.
set -euo pipefail
build=${1:-build}
threads=${2:-2}
top=$(cd "$(dirname "$0")/.." && pwd)
peers=${RNNC_PEERS:-$top/../shared/bench}
args=(--threads "$threads")
[ "${3:-}" = bf16 ] && args+=(--bf16)
if /usr/bin/python3 -c 'import torch' 2>/dev/null && [ -f "$peers/torch_rnn_bench.py" ]; then
  args+=(--torch "$peers/torch_rnn_bench.py")
fi
if [ -f /usr/include/dnnl.hpp ] && [ -f "$peers/dnnl_rnn_bench.cpp" ]; then
  bin="$build/bench/dnnl_rnn_bench"
  if [ ! -x "$bin" ] || [ "$peers/dnnl_rnn_bench.cpp" -nt "$bin" ]; then
    g++ -O3 -march=native -fopenmp -I/usr/include/eigen3 "$peers/dnnl_rnn_bench.cpp" -o "$bin" -ldnnl
  fi
  args+=(--dnnl "$bin")
fi
"$build/bench/bench_rnn" "${args[@]}"
