#!/usr/bin/env bash
# Installs every Debian 12 package convme needs to build, test and benchmark. Idempotent: skips
# apt entirely when everything is present. Usage: tests/install-deps.sh [--lab] [--aarch64]
set -euo pipefail
want=(build-essential cmake ninja-build pkg-config git clang clang-format libclang-rt-14-dev
      liburing-dev libasio-dev libfmt-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
      valgrind fio redis-server redis-tools gnuplot-nox python3 util-linux)
for arg in "$@"; do
  case "$arg" in
    --lab) want+=(qemu-system-x86 qemu-system-arm busybox-static cpio kmod xz-utils zstd bc
                  gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross
                  qemu-user-static flex bison libelf-dev libssl-dev dwarves) ;;
    --aarch64) want+=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static) ;;
    *) echo "install-deps: unknown option $arg" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && { echo "install-deps: all ${#want[@]} packages present"; exit 0; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
