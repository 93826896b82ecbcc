#!/usr/bin/env bash
# Generation speed (issue 18): `rnnc sample` against PyTorch stepping the same model one character
# at a time (bench/torch_sample_bench.py), for a 2-layer LSTM 256 and a 3-layer LSTM 700 on rnnc's
# docs (one training step makes the checkpoint; speed does not depend on the weights). rnnc's
# figure is per character (see per_char), in float32 and with --bf16.
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
# Seconds per character: the fastest of three runs at each of two lengths, their difference over
# the 2000 characters between (process start and compilation cancel out; this is a shared VM, and a
# neighbour's burst only ever slows a run). A first run fills the kernel cache.
per_char() {
  local short=1e9 long=1e9 t
  RNNC_THREADS=$threads "$rnnc" sample "$@" -n 1 > /dev/null
  for _ in 1 2 3; do
    t=$(RNNC_THREADS=$threads seconds "$rnnc" sample "$@" -n 100)
    short=$(awk -v a="$t" -v b="$short" 'BEGIN {print (a < b ? a : b)}')
    t=$(RNNC_THREADS=$threads seconds "$rnnc" sample "$@" -n 2100)
    long=$(awk -v a="$t" -v b="$long" 'BEGIN {print (a < b ? a : b)}')
  done
  awk -v s="$short" -v l="$long" 'BEGIN {print (l - s) / 2000}'
}

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "rnnc sample vs PyTorch, one character at a time, $threads threads; $(nproc) cores, $cpu (family $(grep -m1 'cpu family' /proc/cpuinfo | awk '{print $4}'))"
printf '%-18s %-6s %14s %14s %16s %10s\n' model rnnc "rnnc chars/s" "us/char" "PyTorch chars/s" "ratio"
for config in "2 256" "3 700"; do
  read -r layers hidden <<< "$config"
  RNNC_THREADS=$threads "$rnnc" train --layers "$layers" --hidden "$hidden" --steps 1 --batch 4 --seq-length 20 \
    --save "$tmp/cv$layers" --threads "$threads" > /dev/null
  ckpt="$tmp/cv$layers/last.safetensors"
  [ -f "$ckpt" ] || ckpt="$tmp/cv$layers/best.safetensors"
  theirs="-"
  if [ "$have_torch" = 1 ]; then
    vocab=$(/usr/bin/python3 -c "import json, struct; f = open('$ckpt', 'rb'); n = struct.unpack('<Q', f.read(8))[0]; print(json.loads(f.read(n))['head.bias']['shape'][0])")
    theirs=$(/usr/bin/python3 "$top/bench/torch_sample_bench.py" "$vocab" "$hidden" "$layers" 500 "$threads")
  fi
  # float32, then --bf16 (the weights converted once to bfloat16; float32 where the CPU lacks avx512_bf16)
  for mode in f32 bf16; do
    flag=(); [ "$mode" = bf16 ] && flag=(--bf16)
    per=$(per_char "$ckpt" "${flag[@]}")
    ratio="-"
    [ "$theirs" != "-" ] && ratio=$(awk -v p="$per" -v t="$theirs" 'BEGIN {printf "%.2fx", 1 / p / t}')
    printf '%-18s %-6s %14.0f %14.1f %16s %10s\n' "LSTM ${layers}x$hidden" "$mode" "$(awk -v p="$per" 'BEGIN {print 1 / p}')" \
      "$(awk -v p="$per" 'BEGIN {print p * 1e6}')" "$theirs" "$ratio"
  done
done
