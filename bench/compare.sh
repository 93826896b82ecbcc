#!/usr/bin/env bash
# One run, one table: rnnc against PyTorch (python3-torch) and oneDNN's RNN primitives (libdnnl-dev)
# on the seed configurations. Peers that are not installed are skipped with a message; to install
# them: apt-get install python3-torch libopenblas0-pthread libdnnl-dev.
# Usage: bench/compare.sh [build dir] [threads]   (the peers live in ../shared/bench)
set -euo pipefail
build=${1:-build}
threads=${2:-2}
top=$(cd "$(dirname "$0")/.." && pwd)
peers=${RNNC_PEERS:-$top/../shared/bench}
args=(--threads "$threads")
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
