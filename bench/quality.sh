#!/usr/bin/env bash
# Quality per minute (issue 34's headline): `rnnc train` with its defaults on tiny Shakespeare,
# nanoGPT's split (the last 10% held out), for SECONDS of wall-clock on this machine, then the same
# model and recipe in PyTorch (bench/torch_quality.py) for the same seconds, one after the other;
# both curves (validation loss against seconds) drawn by `rnnc plot` into OUT/curves.svg.
# The model and recipe are rnnc train's defaults (tools/rnnc/train.h); PyTorch is given the same.
# Usage: bench/quality.sh [build dir] [seconds] [out dir] [extra rnnc train options...]
set -euo pipefail
build=${1:-build}
seconds=${2:-600}
out=${3:-/tmp/rnnc-quality}
shift 3 2> /dev/null || shift $#
top=$(cd "$(dirname "$0")/.." && pwd)
data=${RNNC_QUALITY_DATA:-$top/../shared/data/tinyshakespeare.txt}
[ -f "$data" ] || { echo "quality.sh: no $data (set RNNC_QUALITY_DATA)"; exit 1; }
mkdir -p "$out"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "quality per minute: $seconds s each, $(nproc) cores, $cpu (family $(grep -m1 'cpu family' /proc/cpuinfo | awk '{print $4}') model $(grep -m1 '^model' /proc/cpuinfo | awk '{print $3}'))"
"$build/tools/rnnc" train --data "$data" --val-frac 0.1 --time "$seconds" --save "$out/rnnc" "$@" | tee "$out/rnnc.log" | grep -v '^step [0-9]*: loss [0-9.]*$' || true
# The recipe rnnc train ran, from its "options:" line.
opt() { sed -n "s/^options: .*--$1 \([^ ]*\).*/\1/p" "$out/rnnc.log"; }
if /usr/bin/python3 -c 'import torch' 2> /dev/null; then
  /usr/bin/python3 "$top/bench/torch_quality.py" --data "$data" --val-frac 0.1 --time "$seconds" \
    --layers "$(opt layers)" --hidden "$(opt hidden)" --dropout "$(opt dropout)" --batch "$(opt batch)" \
    --seq-length "$(opt seq-length)" --lr "$(opt lr)" --anneal "$(opt anneal)" --clip "$(opt clip)" \
    --out "$out/torch.csv" | tee "$out/torch.log" | tail -3
  "$build/tools/rnnc" plot "$out/rnnc/loss.csv" "$out/torch.csv" --label "rnnc train" --label "PyTorch 1.13" \
    --title "tiny Shakespeare, last 10% held out: validation loss in $seconds s on $(nproc) cores" -o "$out/curves.svg"
else
  echo "quality.sh: no PyTorch (apt-get install python3-torch libopenblas0-pthread); rnnc's curve only"
  "$build/tools/rnnc" plot "$out/rnnc/loss.csv" --label "rnnc train" -o "$out/curves.svg"
fi
