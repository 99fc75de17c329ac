#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
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
# fio's headers for the convme fio engine (runtime/bindings/fio): Debian has no fio -dev package,
# so the source of the installed fio is unpacked into build/fio-src (a deb-src entry for the
# mirror already in use is added if there is none). Failure only skips the engine.
fio_source() {
  local here; here=$(cd "$(dirname "$0")/.." && pwd)
  if src=$("$here/runtime/bindings/fio/fetch-fio-source.sh" 2>/tmp/convme-fio-source.log); then
    echo "install-deps: fio source for the ioengine in $src"
  else
    echo "install-deps: WARNING: no fio source (the convme fio engine will be skipped):" >&2
    tail -3 /tmp/convme-fio-source.log >&2
  fi
}
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#want[@]} packages present"
  fio_source
  exit 0
fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fio_source
echo "install-deps: done"
