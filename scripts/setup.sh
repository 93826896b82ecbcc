#!/usr/bin/env bash
# Installs rnnc's build dependencies from Debian 12 packages. Idempotent: when every package is
# already installed it touches neither the network nor the package lists.
set -euo pipefail
pkgs=(build-essential cmake llvm-19-dev libeigen3-dev libfmt-dev catch2 libbenchmark-dev
      libcli11-dev nlohmann-json3-dev libdnnl-dev libonnx-dev libprotobuf-dev pkg-config libopenmpi-dev openmpi-bin openssh-client)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all Debian packages present"
else
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# onnxruntime for Node.js (tests/onnx, pinned by its package-lock.json), which the ONNX tests run
# exported models with. --ignore-scripts: its install script would fetch GPU binaries from outside
# npm; the CPU library is in the package. Without Node or the npm registry those tests say they
# were skipped.
onnx_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/onnx"
if [ -f "$onnx_dir/node_modules/onnxruntime-node/package.json" ]; then
  :
elif command -v npm > /dev/null; then
  (cd "$onnx_dir" && timeout 120 npm ci --ignore-scripts --no-audit --no-fund --fetch-retries=1 --fetch-timeout=20000 > /dev/null 2>&1) &&
    echo "setup: onnxruntime-node installed in tests/onnx" ||
    echo "setup: onnxruntime-node could not be installed (no npm registry?); the ONNX runtime tests will be skipped"
else
  echo "setup: no npm; the ONNX runtime tests will be skipped"
fi
