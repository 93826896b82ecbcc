#!/usr/bin/env bash
# A character model from `rnnc train` leaves rnnc as ONNX: `rnnc export --onnx` writes it, and
# examples/deploy/generate_onnx.cjs, run by onnxruntime (Node.js), prints greedy text that `rnnc
# sample --greedy` prints too. Exits 77 (skipped) without Node or onnxruntime-node in tests/onnx.
# Usage: onnx_deploy.sh RNNC_TOOL SOURCE_DIR CORPUS
set -euo pipefail
rnnc=$1
src=$2
corpus=$3
modules="$src/tests/onnx/node_modules"
if ! command -v node > /dev/null || [ ! -f "$modules/onnxruntime-node/package.json" ]; then
  echo "SKIPPED: onnxruntime-node is not installed in tests/onnx (scripts/setup.sh installs it from npm)"
  exit 77
fi
work=$(mktemp -d /tmp/rnnc-onnx-deploy-XXXXXX)
trap 'rm -rf "$work"' EXIT
"$rnnc" train --data "$corpus" --cell gru --layers 2 --hidden 32 --seq-length 16 --batch 8 --steps 600 --lr 0.01 \
  --validate-every 600 --save "$work/run" > "$work/train.log"
"$rnnc" export "$work/run/best.safetensors" --onnx "$work/model.onnx" > "$work/export.log"
grep -q "T any, B any; .*2 GRU" "$work/export.log" || { cat "$work/export.log" >&2; exit 1; }
for prime in "The " "compile("; do
  want=$("$rnnc" sample "$work/run/best.safetensors" --greedy -p "$prime" -n 100)
  got=$(NODE_PATH="$modules" node "$src/examples/deploy/generate_onnx.cjs" "$work/model.onnx" -p "$prime" -n 100 -t 0)
  if [ "$got" != "$want" ]; then
    printf 'onnxruntime printed:\n%s\nrnnc sample printed:\n%s\n' "$got" "$want" >&2
    exit 1
  fi
done
# Int8 weights (per row, DequantizeLinear): a smaller file that onnxruntime runs to text.
"$rnnc" export "$work/run/best.safetensors" --onnx "$work/int8.onnx" --int8 > "$work/export8.log"
grep -q "weights int8" "$work/export8.log" || { cat "$work/export8.log" >&2; exit 1; }
[ $(($(stat -c %s "$work/int8.onnx") * 10)) -lt $(($(stat -c %s "$work/model.onnx") * 6)) ] || { ls -l "$work" >&2; exit 1; }
text=$(NODE_PATH="$modules" node "$src/examples/deploy/generate_onnx.cjs" "$work/int8.onnx" -p "The " -n 100 -t 0)
[ "${#text}" -eq 104 ] && [ "${text:0:4}" = "The " ] || { printf 'int8 model printed: %s\n' "$text" >&2; exit 1; }
# A model for chunks is refused by the one-character program, with the reason.
"$rnnc" export "$work/run/best.safetensors" --onnx "$work/chunk.onnx" --seq-length 8 --batch 2 > /dev/null
if NODE_PATH="$modules" node "$src/examples/deploy/generate_onnx.cjs" "$work/chunk.onnx" -n 5 2> "$work/err.txt"; then
  exit 1
fi
grep -q "one character of one stream" "$work/err.txt"
echo "onnx deploy: onnxruntime prints what rnnc sample prints"
