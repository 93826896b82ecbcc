#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang-19 and runs each for SECONDS over a copy of
# its corpus; a crash, a sanitizer report or a foreign exception fails the run and leaves the
# input in build-fuzz/. New inputs are not added to the project's corpus; to add them, keep the
# corpus minimal (the inputs that reach new coverage, smallest first):
#   build-fuzz/fuzz_<t> -merge=1 NEW_DIR tests/fuzz/corpus/<t> build-fuzz/corpus/<t>
# then replace tests/fuzz/corpus/<t> with NEW_DIR.
# Usage: scripts/fuzz.sh [SECONDS per target, default 60]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
pkgs=(clang-19 libclang-rt-19-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
cmake -S tests/fuzz -B build-fuzz -DCMAKE_CXX_COMPILER=clang++-19 > /dev/null
cmake --build build-fuzz -j2
for t in checkpoint text graph program kernel_cache; do
  rm -rf "build-fuzz/corpus/$t"
  mkdir -p "build-fuzz/corpus/$t"
  cp tests/fuzz/corpus/$t/* "build-fuzz/corpus/$t/"
  # A fixed seed: a run repeats the same mutations (as far as its time allows), so a red CI run can be
  # replayed with the same command.
  (cd build-fuzz && ./fuzz_$t -seed=1 -max_total_time="$seconds" -print_final_stats=1 "corpus/$t" > "fuzz_$t.log" 2>&1) || {
    tail -40 "build-fuzz/fuzz_$t.log"
    echo "fuzz: $t failed; the input is in build-fuzz/"
    exit 1
  }
  echo "fuzz: $t: $(grep -o 'stat::number_of_executed_units: [0-9]*' "build-fuzz/fuzz_$t.log" | grep -o '[0-9]*$') executions in $seconds s, no crash"
done
