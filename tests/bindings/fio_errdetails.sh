#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fio with the convme engine against a simulated controller with bad blocks (bad_lba=): fio must
# fail the job with EIO and print the engine's errdetails line for the failed io_u itself: its
# direction, length, offset and target, and the error (not another request's text).
# Usage: fio_errdetails.sh ENGINE.so. Exit 77 when fio or the engine is missing.
set -euo pipefail
engine=${1:?engine .so}
command -v fio >/dev/null || { echo "SKIP: fio is not installed"; exit 77; }
[ -f "$engine" ] || { echo "SKIP: $engine not built (see runtime/bindings/fio/CMakeLists.txt)"; exit 77; }
out=$(mktemp); trap 'rm -f "$out"' EXIT
fail() { echo "FAIL: $*"; sed 's/^/    | /' "$out"; exit 1; }
# Blocks 24-31 (the 4 KiB at offset 12288) are bad; a sequential read of the first 32 KiB meets
# them on its fourth I/O.
uri='sim\:mem?size=1M&bad_lba=24&bad_blocks=8'
run() {  # rw: fio's output in $out, its exit status returned
    fio --name=bad --thread --ioengine="external:$engine" --filename="$uri" --rw="$1" --bs=4k \
        --size=32k --iodepth=1 --output-format=normal > "$out" 2>&1
}
for rw in read write; do
    if run $rw; then fail "$rw: fio succeeded on a device with bad blocks"; fi
    grep -q 'err= *5' "$out" || fail "$rw: fio's job error is not EIO (5)"
    want="convme: $rw of 4096 bytes at offset 12288 on sim:mem?size=1M&bad_lba=24&bad_blocks=8: Input/output error"
    grep -qF "$want" "$out" || fail "$rw: no errdetails line \"$want\""
    echo "ok: $rw: $(grep -F "$want" "$out" | head -1)"
done
