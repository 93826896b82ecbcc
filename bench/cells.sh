#!/usr/bin/env bash
# The modern cells' training speed (issue 33), rnnc (bench_cells) beside PyTorch
# (torch_cells_bench.py: each cell stepped in a loop, the minGRU paper's parallel form, nn.LSTM) in
# one run: 2-layer character models, one-hot vocabulary 65, forward and backward per step.
# Usage: bench/cells.sh [build dir] [hidden] [T] [threads]   (batches 8 and 64)
set -euo pipefail
build=${1:-build}
hidden=${2:-256}
T=${3:-1000}
threads=${4:-2}
top=$(cd "$(dirname "$0")/.." && pwd)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "H $hidden, T $T, $threads threads; $(nproc) cores, $cpu (family $(grep -m1 'cpu family' /proc/cpuinfo | awk '{print $4}') model $(grep -m1 '^model' /proc/cpuinfo | awk '{print $3}'))"
have_torch=0
/usr/bin/python3 -c 'import torch' 2>/dev/null && have_torch=1
for B in 8 64; do
  ours=$("$build/bench/bench_cells" --hidden "$hidden" --batch "$B" --seq-length "$T" --threads "$threads" --steps 3)
  theirs=""
  [ "$have_torch" = 1 ] && theirs=$(/usr/bin/python3 "$top/bench/torch_cells_bench.py" "$hidden" "$B" "$T" 2 "$threads")
  printf '\nB %s\n%-8s %12s | %-16s %12s %8s\n' "$B" cell "rnnc chars/s" "PyTorch" "chars/s" "ratio"
  while read -r name rate; do
    printf '%-8s %12s |\n' "$name" "$rate"
    while read -r tname trate; do
      [ "${tname%%_*}" = "$name" ] || continue
      printf '%-8s %12s | %-16s %12s %7.1fx\n' "" "" "$tname" "$trate" "$(awk -v a="$rate" -v b="$trate" 'BEGIN {print a / b}')"
    done <<< "$theirs"
  done <<< "$ours"
done
