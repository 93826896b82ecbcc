#!/usr/bin/env bash
# `rnnc import` on the command line: a character model exported with `rnnc export --onnx` and
# imported back samples the text the original samples; PyTorch's export (tests/data) becomes a
# checkpoint rnnc sample reads, given its vocabulary; a missing vocabulary is named.
# Usage: onnx_import.sh RNNC_TOOL SOURCE_DIR CORPUS
set -euo pipefail
rnnc=$1
src=$2
corpus=$3
work=$(mktemp -d /tmp/rnnc-onnx-import-XXXXXX)
trap 'rm -rf "$work"' EXIT
"$rnnc" train --data "$corpus" --cell lstm --layers 2 --hidden 24 --seq-length 16 --batch 8 --steps 300 --lr 0.01 \
  --validate-every 300 --save "$work/run" > "$work/train.log"
"$rnnc" export "$work/run/best.safetensors" --onnx "$work/model.onnx" > /dev/null
"$rnnc" import "$work/model.onnx" --out "$work/imported.safetensors" > "$work/import.log"
grep -q "lstm model: 2 layers of 24" "$work/import.log" || { cat "$work/import.log" >&2; exit 1; }
for prime in "The " "x"; do
  want=$("$rnnc" sample "$work/run/best.safetensors" --greedy -p "$prime" -n 80)
  got=$("$rnnc" sample "$work/imported.safetensors" --greedy -p "$prime" -n 80)
  [ "$got" = "$want" ] || { printf 'imported:\n%s\noriginal:\n%s\n' "$got" "$want" >&2; exit 1; }
done
# PyTorch's export has no vocabulary: the error says so; with one, rnnc sample reads the checkpoint.
if "$rnnc" import "$src/tests/data/torch_char_lstm.onnx" --out "$work/t.safetensors" 2> "$work/err.txt"; then exit 1; fi
grep -q "has no vocabulary; give its 7 characters in id order (--vocab FILE)" "$work/err.txt"
printf 'abcdefg' > "$work/vocab.txt"
"$rnnc" import "$src/tests/data/torch_char_lstm.onnx" --vocab "$work/vocab.txt" --out "$work/t.safetensors" > /dev/null
text=$("$rnnc" sample "$work/t.safetensors" --greedy -p "ab" -n 20)
[ "${#text}" -eq 22 ] || { echo "sampled '$text'" >&2; exit 1; }
echo "onnx import: an exported model imported back samples the same text; PyTorch's export samples"
