#!/usr/bin/env bash
# Installs this build into a temporary prefix, then configures, builds and runs a project of a
# user's own (tests/outside) against it with find_package(rnnc), checks rnnc.pc, and exports a
# model with the installed tool.
# Usage: outside_project.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
work=$(mktemp -d /tmp/rnnc-outside-XXXXXX)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
cmake -S "$src/tests/outside" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release > "$work/configure.log"
cmake --build "$work/build" -j2 > "$work/build.log"
"$work/build/app"
PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig:$(find "$work/prefix" -name pkgconfig -type d | tr '\n' ':')" \
  pkg-config --cflags --libs rnnc | grep -q -- "-lrnnc"
"$work/prefix/bin/rnnc" --version
# The installed tool exports a model with the installed run time (the build's may be gone).
printf 'the quick brown fox jumps over the lazy dog. %.0s' {1..40} > "$work/text.txt"
"$work/prefix/bin/rnnc" train --data "$work/text.txt" --hidden 8 --seq-length 8 --batch 4 --steps 3 --save "$work/run" > "$work/train.log"
"$work/prefix/bin/rnnc" export "$work/run/last.safetensors" --out "$work/model" > "$work/export.log"
grep -q "run time from $work/prefix/" "$work/export.log"
[ -f "$work/model/libmodel.so" ]
