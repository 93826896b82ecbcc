#!/usr/bin/env bash
# Training throughput on a machine that is not ours alone (issue 16): char_lstm on 1 and 2 threads,
# first on an idle machine, then with BUSY other processes spinning on the cores. Each figure is
# the median chars/s of REPS runs of ITERS steps, runs of the cases interleaved so that drift in
# the machine's speed falls on all of them alike. The bar: with one busy process, 2 threads keep at
# least half their idle throughput and never fall below 1 thread under the same load.
# Usage: bench/under_load.sh [build dir] [busy processes] [reps] [iters]
set -euo pipefail
build=${1:-build}
busy=${2:-1}
reps=${3:-5}
iters=${4:-30}
bin="$build/examples/char_lstm"
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

run() {  # threads -> chars/s
  "$bin" --steps "$iters" --threads "$1" --generate 0 --save "$tmp/w.safetensors" 2>/dev/null |
    sed -n 's/.*"chars_per_s":\([0-9.]*\).*/\1/p'
}
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

measure() {  # label
  for ((r = 0; r < reps; ++r)); do
    for t in 1 2; do echo "$t $(run $t)"; done
  done > "$tmp/$1"
  for t in 1 2; do awk -v t=$t '$1 == t {print $2}' "$tmp/$1" | median > "$tmp/$1.$t"; done
}

measure idle
for ((i = 0; i < busy; ++i)); do (while :; do :; done) & done
sleep 0.5
measure loaded
kill $(jobs -p)

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "char_lstm --steps $iters, median of $reps runs; $(nproc) cores, $cpu (family $(grep -m1 'cpu family' /proc/cpuinfo | awk '{print $4}'))"
printf '%-28s %12s %12s\n' "" "1 thread" "2 threads"
printf '%-28s %12.0f %12.0f\n' "idle, chars/s" "$(cat $tmp/idle.1)" "$(cat $tmp/idle.2)"
printf '%-28s %12.0f %12.0f\n' "$busy busy process(es), chars/s" "$(cat $tmp/loaded.1)" "$(cat $tmp/loaded.2)"
awk -v i2="$(cat $tmp/idle.2)" -v l1="$(cat $tmp/loaded.1)" -v l2="$(cat $tmp/loaded.2)" 'BEGIN {
  printf "2 threads loaded / idle: %.2f (bar: >= 0.50)\n2 threads / 1 thread, loaded: %.2f (bar: >= 1.00)\n", l2 / i2, l2 / l1 }'
