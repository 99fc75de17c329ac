#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Unpacks the source of the fio Debian ships (its headers build the convme ioengine; Debian has no
# fio -dev package) into DEST (default: build/fio-src under the repository), configured so that
# fio's config-host.h exists. Adds a deb-src entry for the mirror the `deb` entry already uses
# (same URIs, suites and Signed-By) if there is none. Idempotent; prints the source folder.
# Usage: fetch-fio-source.sh [DEST]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=${1:-$here/../../../build/fio-src}
mkdir -p "$dest"; dest=$(cd "$dest" && pwd)
ver=$(dpkg-query -W -f='${Version}' fio 2>/dev/null || true)
[ -n "$ver" ] || { echo "fetch-fio-source: fio is not installed (apt-get install fio)" >&2; exit 1; }
upstream=${ver%%-*}; upstream=${upstream#*:}
src="$dest/fio-$upstream"
if [ -f "$src/ioengines.h" ] && [ -f "$src/config-host.h" ]; then echo "$src"; exit 0; fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
if ! grep -rqs '^Types:.*deb-src\|^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  main=/etc/apt/sources.list.d/debian.sources
  if [ -f "$main" ]; then
    # The first deb822 stanza (the main archive): same URIs, suites, components and Signed-By.
    awk 'BEGIN{RS=""; FS="\n"} NR==1{for(i=1;i<=NF;i++){ if($i ~ /^Types:/) print "Types: deb-src"; else if($i !~ /^#/) print $i }}' \
      "$main" | $SUDO tee /etc/apt/sources.list.d/convme-deb-src.sources >/dev/null
  elif grep -qs '^deb ' /etc/apt/sources.list; then
    grep '^deb ' /etc/apt/sources.list | grep -v security | head -1 | sed 's/^deb /deb-src /' |
      $SUDO tee /etc/apt/sources.list.d/convme-deb-src.list >/dev/null
  else
    echo "fetch-fio-source: no Debian deb entry found to mirror as deb-src" >&2; exit 1
  fi
  echo "fetch-fio-source: added a deb-src entry; apt-get update" >&2
  $SUDO apt-get update -qq >&2
fi
cd "$dest"
if [ ! -f "$src/ioengines.h" ]; then
  # Exactly the installed version, so FIO_IOOPS_VERSION and the structs match the binary.
  apt-get source -qq --download-only "fio=$ver" >&2 || apt-get source -qq --download-only fio >&2
  dpkg-source --no-check -x fio_"${upstream}"*.dsc "$src" >&2
fi
# config-host.h: fio's configure writes it; its CONFIG_* defines change struct layouts, so use
# the options Debian builds with as far as they matter for the headers (defaults are fine).
if [ ! -f "$src/config-host.h" ]; then
  (cd "$src" && ./configure --disable-native >/dev/null 2>&1) || { echo "fetch-fio-source: configure failed" >&2; exit 1; }
fi
echo "$src"
