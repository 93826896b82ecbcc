#!/usr/bin/env bash
# Generation speed (issue 18): `rnnc sample` against PyTorch stepping the same model one character
# at a time (bench/torch_sample_bench.py), for a 2-layer LSTM 256 and a 3-layer LSTM 700 on rnnc's
# docs (one training step makes the checkpoint; speed does not depend on the weights). rnnc's
# figure is per character from two lengths, so process start and compilation cancel out.
# Usage: bench/sample_speed.sh [build dir] [threads]
set -euo pipefail
build=${1:-build}
threads=${2:-2}
top=$(cd "$(dirname "$0")/.." && pwd)
rnnc="$build/tools/rnnc"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
have_torch=0
/usr/bin/python3 -c 'import torch' 2>/dev/null && have_torch=1

seconds() { local t0 t1; t0=$(date +%s.%N); "$@" > /dev/null; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}'; }

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "rnnc sample vs PyTorch, one character at a time, $threads threads; $(nproc) cores, $cpu (family $(grep -m1 'cpu family' /proc/cpuinfo | awk '{print $4}'))"
printf '%-18s %14s %14s %16s %10s\n' model "rnnc chars/s" "us/char" "PyTorch chars/s" "ratio"
for config in "2 256" "3 700"; do
  read -r layers hidden <<< "$config"
  RNNC_THREADS=$threads "$rnnc" train --layers "$layers" --hidden "$hidden" --steps 1 --batch 4 --seq-length 20 \
    --save "$tmp/cv$layers" --threads "$threads" > /dev/null
  ckpt="$tmp/cv$layers/last.safetensors"
  [ -f "$ckpt" ] || ckpt="$tmp/cv$layers/best.safetensors"
  short=$(RNNC_THREADS=$threads seconds "$rnnc" sample "$ckpt" -n 100)
  long=$(RNNC_THREADS=$threads seconds "$rnnc" sample "$ckpt" -n 2100)
  per=$(awk -v s="$short" -v l="$long" 'BEGIN {print (l - s) / 2000}')
  theirs="-"; ratio="-"
  if [ "$have_torch" = 1 ]; then
    vocab=$(/usr/bin/python3 -c "import json, struct; f = open('$ckpt', 'rb'); n = struct.unpack('<Q', f.read(8))[0]; print(json.loads(f.read(n))['head.bias']['shape'][0])")
    theirs=$(/usr/bin/python3 "$top/bench/torch_sample_bench.py" "$vocab" "$hidden" "$layers" 500 "$threads")
    ratio=$(awk -v p="$per" -v t="$theirs" 'BEGIN {printf "%.2fx", 1 / p / t}')
  fi
  printf '%-18s %14.0f %14.1f %16s %10s\n' "LSTM ${layers}x$hidden" "$(awk -v p="$per" 'BEGIN {print 1 / p}')" \
    "$(awk -v p="$per" 'BEGIN {print p * 1e6}')" "$theirs" "$ratio"
done
