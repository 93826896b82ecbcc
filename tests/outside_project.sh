#!/usr/bin/env bash
# Installs this build into a temporary prefix, then configures, builds and runs a project of a
# user's own (tests/outside) against it with find_package(rnnc), and checks rnnc.pc.
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
