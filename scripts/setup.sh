#!/usr/bin/env bash
# Installs rnnc's build dependencies from Debian 12 packages. Idempotent: when every package is
# already installed it touches neither the network nor the package lists.
set -euo pipefail
pkgs=(build-essential cmake llvm-19-dev libeigen3-dev libfmt-dev catch2 libbenchmark-dev
      libcli11-dev nlohmann-json3-dev libdnnl-dev pkg-config libopenmpi-dev openmpi-bin openssh-client)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all dependencies present"
  exit 0
fi
echo "setup: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
