#!/usr/bin/env bash
# Sequences of different lengths (issue 13): rnnc's bidirectional classifier step (bench_varlen)
# fixed-length, padded and with per-row lengths, beside PyTorch's fixed, padded and packed
# (../shared/bench/torch_varlen_bench.py, when PyTorch is installed), in one run, as one table.
# Usage: bench/varlen.sh [build dir] [threads] [lstm|gru] [H] [T] [B]
set -euo pipefail
build=${1:-build}
threads=${2:-2}
cell=${3:-lstm}
H=${4:-128}
T=${5:-200}
B=${6:-64}
top=$(cd "$(dirname "$0")/.." && pwd)
peer="$top/../shared/bench/torch_varlen_bench.py"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "bidirectional $cell classifier step, H $H, T $T, B $B, lengths uniform in [1, T], $threads threads;" \
     "$(nproc) cores, $cpu (family $(grep -m1 'cpu family' /proc/cpuinfo | awk '{print $4}'))"
field() { sed -n "s/.*\"$2\": \([0-9.]*\).*/\1/p" <<< "$1"; }
ours=$("$build/bench/bench_varlen" --cell "$cell" --hidden "$H" --seq-length "$T" --batch "$B" --threads "$threads")
theirs=""
if [ -f "$peer" ] && /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  theirs=$(RNN_THREADS=$threads /usr/bin/python3 "$peer" "$cell" "$H" "$T" "$B")
fi
printf '%-9s %12s %16s   %-9s %12s %16s\n' rnnc "ms/step" "real steps/s" PyTorch "ms/step" "real steps/s"
for pair in "fixed fixed" "padded padded" "lengths packed"; do
  read -r a b <<< "$pair"
  o=$(grep "\"way\": \"$a\"" <<< "$ours")
  t=$(grep "\"way\": \"$b\"" <<< "$theirs" || true)
  printf '%-9s %12s %16s   %-9s %12s %16s\n' "$a" "$(field "$o" ms_per_step)" "$(field "$o" real_steps_per_s)" \
    "$b" "$(field "$t" ms_per_step)" "$(field "$t" real_steps_per_s)"
done
lp=$(awk -v a="$(field "$(grep '"way": "lengths"' <<< "$ours")" ms_per_step)" \
         -v b="$(field "$(grep '"way": "padded"' <<< "$ours")" ms_per_step)" 'BEGIN {printf "%.3f", a / b}')
echo "rnnc lengths / padded time: $lp (target <= 1.1)"
if [ -n "$theirs" ]; then
  echo "rnnc lengths / PyTorch packed, real steps/s: $(awk -v a="$(field "$(grep '"way": "lengths"' <<< "$ours")" real_steps_per_s)" \
    -v b="$(field "$(grep '"way": "packed"' <<< "$theirs")" real_steps_per_s)" 'BEGIN {printf "%.1fx", a / b}') (target >= 10x)"
fi
