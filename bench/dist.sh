#!/usr/bin/env bash
# Data-parallel training (issue 15): `rnnc train` on 1 rank and under `mpirun -np 2`, one thread per
# rank, the same global batch, for a few configurations; 2 ranks twice: averaging each bucket while
# the backward pass runs (the default) and after it (--no-overlap). Prints chars/s, ms per step, the
# bytes of gradients each rank averages per step, the share of the run spent in MPI, and the share
# of the bytes whose averaging had finished when the backward pass ended.
# Usage: bench/dist.sh [build dir] [steps]
set -euo pipefail
build=${1:-build}
steps=${2:-40}
rnnc="$build/tools/rnnc"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "rnnc train, 1 thread per rank, $steps steps; $(nproc) cores, $cpu (family $(grep -m1 'cpu family' /proc/cpuinfo | awk '{print $4}'))"
printf '%-26s %-14s %12s %10s %10s %8s %12s\n' config ranks "chars/s" "ms/step" "MB/step" "in MPI" "overlapped"
field() { sed -n "s/.*\"$2\":\([0-9.e+-]*\).*/\1/p" <<< "$1" | tail -1; }
for config in "lstm 2 256 32 100" "gru 1 256 64 100" "lstm 3 700 12 100"; do
  read -r cell layers hidden batch T <<< "$config"
  for run in "1" "2" "2 --no-overlap"; do
    read -r ranks flag <<< "$run"
    launch=()
    [ "$ranks" -gt 1 ] && launch=(mpirun --allow-run-as-root --oversubscribe -np "$ranks")
    out=$(RNNC_THREADS=1 "${launch[@]}" "$rnnc" train --cell "$cell" --layers "$layers" --hidden "$hidden" \
          --batch "$batch" --seq-length "$T" --steps "$steps" --threads 1 --val-frac 0 --save "$tmp/cv" $flag 2>&1)
    summary=$(grep '^summary' <<< "$out" | tail -1)
    cps=$(field "$summary" chars_per_s)
    mb="-"; mpi="-"; early="-"
    if [ "$ranks" -gt 1 ]; then
      mb=$(sed -n 's/.*; \([0-9.]*\) MB of gradients.*/\1/p' <<< "$out")
      mpi=$(sed -n 's/.*(\([0-9.]*%\) of the run).*/\1/p' <<< "$out")
      early=$(sed -n 's/.*backward pass: \([0-9.]*%\) of the bytes.*/\1/p' <<< "$out")
      [ -z "$early" ] && early="off"
    fi
    printf '%-26s %-14s %12.0f %10.1f %10s %8s %12s\n' "$cell ${layers}x$hidden B$batch T$T" "$run" "$cps" \
      "$(awk -v c="$cps" -v b="$batch" -v t="$T" 'BEGIN {print 1e3 * b * t / c}')" "$mb" "$mpi" "$early"
  done
done
