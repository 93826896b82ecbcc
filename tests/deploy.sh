#!/usr/bin/env bash
# A character model from `rnnc train` leaves rnnc: `rnnc export` writes its C library, and the
# C program of examples/deploy, copied to a clean folder, is built against it with CMake (shared
# and static) and prints what `rnnc sample` prints, greedy, with no LLVM linked; exported with int8
# weights, what `rnnc sample --int8` prints.
# Usage: deploy.sh RNNC_TOOL SOURCE_DIR CORPUS
set -euo pipefail
rnnc=$1
src=$2
corpus=$3
work=$(mktemp -d /tmp/rnnc-deploy-XXXXXX)
trap 'rm -rf "$work"' EXIT
"$rnnc" train --data "$corpus" --cell lstm --layers 2 --hidden 32 --seq-length 16 --batch 8 --steps 1000 --lr 0.01 \
  --validate-every 1000 --save "$work/run" > "$work/train.log"
"$rnnc" export "$work/run/best.safetensors" --out "$work/model" --batch 4 > "$work/export.log"
# With --batch, the header declares the batched step (test_export checks what it computes).
grep -q "model_batch_size = 4" "$work/model/model.h" && grep -q "int model_step_many(" "$work/model/model.h" || {
  echo "deploy: model.h has no batched step of 4 streams" >&2
  exit 1
}
mkdir "$work/src"
cp "$src/examples/deploy/CMakeLists.txt" "$src/examples/deploy/generate.c" "$work/src/"
cmake -S "$work/src" -B "$work/build" -Dmodel_DIR="$work/model" -DCMAKE_BUILD_TYPE=Release > "$work/configure.log"
cmake --build "$work/build" -j2 > "$work/build.log"

# Greedy text from a few primes (a small model soon repeats itself; the primes lead it apart).
for prime in "The " "In a" "x" "compile("; do
  want=$("$rnnc" sample "$work/run/best.safetensors" --greedy -p "$prime" -n 200)
  for program in generate generate_static; do
    got=$("$work/build/$program" -p "$prime" -n 200 -t 0)
    if [ "$got" != "$want" ]; then
      printf '%s printed:\n%s\nrnnc sample printed:\n%s\n' "$program" "$got" "$want" >&2
      exit 1
    fi
    printf '%s' "$got" >> "$work/all.txt"
  done
done
[ "$(fold -w1 < "$work/all.txt" | sort -u | wc -l)" -ge 8 ]  # a model that says something
for program in generate generate_static; do
  if ldd "$work/build/$program" | grep -i llvm; then
    echo "$program links LLVM" >&2
    exit 1
  fi
  if nm -C "$work/build/$program" 2>/dev/null | grep -qi "llvm::"; then
    echo "$program holds LLVM's code" >&2
    exit 1
  fi
done
# Exported with int8 weights, the same program prints what rnnc sample --int8 prints.
"$rnnc" export "$work/run/best.safetensors" --out "$work/model8" --int8 > "$work/export8.log"
grep -q '"int8"' "$work/model8/model.c"
cmake -S "$work/src" -B "$work/build8" -Dmodel_DIR="$work/model8" -DCMAKE_BUILD_TYPE=Release > "$work/configure8.log"
cmake --build "$work/build8" -j2 --target generate > "$work/build8.log"
want=$("$rnnc" sample "$work/run/best.safetensors" --greedy --int8 -p "In a" -n 200)
got=$("$work/build8/generate" -p "In a" -n 200 -t 0)
[ "$got" = "$want" ] || { printf 'int8: generate printed:\n%s\nrnnc sample --int8 printed:\n%s\n' "$got" "$want" >&2; exit 1; }
# Sampled at a temperature, it is still text of the model's vocabulary, of the length asked for.
"$work/build/generate" -p "The " -n 100 -t 0.8 -s 3 > "$work/sampled.txt"
[ "$(head -c 4 "$work/sampled.txt")" = "The " ]
# A character outside the vocabulary is an error with a message, not a crash.
if "$work/build/generate" -p "€" -n 5 2> "$work/err.txt"; then exit 1; fi
grep -q "not in the model's vocabulary" "$work/err.txt"
echo "deploy: shared and static programs print what rnnc sample prints; no LLVM linked"
