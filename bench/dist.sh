#!/usr/bin/env bash
# Data-parallel training (issue 15): `rnnc train` on 1 rank and under `mpirun -np 2`, one thread per
# rank, the same global batch, for a few configurations. Prints chars/s, ms per step, the bytes of
# gradients each rank averages per step and the share of the run spent in the allreduce.
# Usage: bench/dist.sh [build dir] [steps]
set -euo pipefail
build=${1:-build}
steps=${2:-40}
rnnc="$build/tools/rnnc"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "rnnc train, 1 thread per rank, $steps steps; $(nproc) cores, $cpu (family $(grep -m1 'cpu family' /proc/cpuinfo | awk '{print $4}'))"
printf '%-26s %5s %12s %10s %14s %10s\n' config ranks "chars/s" "ms/step" "MB/step" "in MPI"
field() { sed -n "s/.*\"$2\":\([0-9.e+-]*\).*/\1/p" <<< "$1" | tail -1; }
for config in "lstm 2 256 32 100" "gru 1 256 64 100" "lstm 3 700 12 100"; do
  read -r cell layers hidden batch T <<< "$config"
  for ranks in 1 2; do
    launch=()
    [ "$ranks" -gt 1 ] && launch=(mpirun --allow-run-as-root --oversubscribe -np "$ranks")
    out=$(RNNC_THREADS=1 "${launch[@]}" "$rnnc" train --cell "$cell" --layers "$layers" --hidden "$hidden" \
          --batch "$batch" --seq-length "$T" --steps "$steps" --threads 1 --val-frac 0 --save "$tmp/cv" 2>&1)
    summary=$(grep '^summary' <<< "$out" | tail -1)
    cps=$(field "$summary" chars_per_s)
    mb="-"; mpi="-"
    if [ "$ranks" -gt 1 ]; then
      mb=$(sed -n 's/.*; \([0-9.]*\) MB of gradients.*/\1/p' <<< "$out")
      mpi=$(sed -n 's/.*(\([0-9.]*%\) of the run).*/\1/p' <<< "$out")
    fi
    printf '%-26s %5s %12.0f %10.1f %14s %10s\n' "$cell ${layers}x$hidden B$batch T$T" "$ranks" "$cps" \
      "$(awk -v c="$cps" -v b="$batch" -v t="$T" 'BEGIN {print 1e3 * b * t / c}')" "$mb" "$mpi"
  done
done
