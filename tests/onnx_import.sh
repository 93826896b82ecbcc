#!/usr/bin/env bash
# `rnnc import` on the command line: a character model exported with `rnnc export --onnx` and
# imported back samples the text the original samples; PyTorch's export (tests/data) becomes a
# checkpoint rnnc sample reads, given its vocabulary, and rnnc train --init trains on; a missing
# vocabulary, a size that disagrees, a character the model lacks are named.
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
# ... and trains on with rnnc train --init (char-rnn's -init_from) on a text of its characters.
awk 'BEGIN { for (i = 0; i < 400; ++i) printf "abcdefg gfedcba "; print "" }' | tr -d ' \n' > "$work/abc.txt"
"$rnnc" train --init "$work/t.safetensors" --data "$work/abc.txt" --batch 4 --seq-length 16 --steps 60 --lr 0.01 \
  --dropout 0 --validate-every 60 --save "$work/tuned" > "$work/tune.log"
grep -q "lstm model: 2 layers of 6 lstm units, embedding 5.*; weights from $work/t.safetensors" "$work/tune.log" ||
  { cat "$work/tune.log" >&2; exit 1; }
# It learns the text: the loss falls by more than 0.3 nats/char in 60 steps (1.99 -> 0.91 here).
first=$(awk -F, 'NR == 2 { print $3 }' "$work/tuned/loss.csv")  # step,seconds,train_loss,val_loss
last=$(grep -o '"train_loss":[0-9.]*' "$work/tune.log" | cut -d: -f2)
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 0.3) }' ||
  { echo "first loss $first, last $last" >&2; exit 1; }
text=$("$rnnc" sample "$work/tuned/last.safetensors" --greedy -p "abc" -n 12)
[ "${#text}" -eq 15 ] || { echo "sampled '$text'" >&2; exit 1; }
# The checkpoint decides the model: a size that disagrees, a character it lacks, and --resume are named.
if "$rnnc" train --init "$work/t.safetensors" --data "$work/abc.txt" --hidden 32 --steps 1 --save "$work/x" \
  2> "$work/err.txt"; then exit 1; fi
grep -q -- "--init: '$work/t.safetensors' holds a 2-layer lstm of 6 units (embedding 5); --hidden 32 disagrees" \
  "$work/err.txt" || { cat "$work/err.txt" >&2; exit 1; }
printf 'abcxyz' > "$work/xyz.txt"
if "$rnnc" train --init "$work/t.safetensors" --data "$work/xyz.txt" --steps 1 --save "$work/x" 2> "$work/err.txt"; then
  exit 1
fi
grep -q "does not fit the model: .*the character 'x' (U+0078) is not in the model's vocabulary of 7" "$work/err.txt" ||
  { cat "$work/err.txt" >&2; exit 1; }
if "$rnnc" train --init "$work/t.safetensors" --resume "$work/tuned/last.safetensors" --data "$work/abc.txt" \
  --steps 1 2> "$work/err.txt"; then exit 1; fi
grep -q -- "--init and --resume: one or the other" "$work/err.txt"
echo "onnx import: an exported model imported back samples the same text; PyTorch's export samples and trains on"
