#!/bin/bash
# SPDX-License-Identifier: MIT
# setup-aarch64-deps.sh: install what `cmake --preset aarch64` needs on a Debian 12 amd64 host:
# the cross compiler, qemu-user for running the unit tests, and the arm64 multiarch -dev packages.
#
# Checked on Debian 12: liburing-dev, libfmt-dev, libgtest-dev and libgmock-dev are all
# "Multi-Arch: same", so their :arm64 builds co-install with the :amd64 ones (apt upgrades the amd64
# twins of shared dependencies such as linux-libc-dev to the same version; nothing is removed).
# libcli11-dev, libasio-dev and googletest are "Architecture: all" headers/sources and serve both.
# Idempotent: does nothing when everything is already present. Needs root.
set -euo pipefail

PKGS=(g++-aarch64-linux-gnu qemu-user-static
      liburing-dev:arm64 libfmt-dev:arm64 libgtest-dev:arm64 libgmock-dev:arm64
      libcli11-dev libasio-dev)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-aarch64-deps: everything already installed"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "setup-aarch64-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "setup-aarch64-deps: adding the arm64 foreign architecture"
  dpkg --add-architecture arm64
fi
apt-get update
echo "setup-aarch64-deps: installing ${missing[*]}"
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
