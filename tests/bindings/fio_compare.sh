#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fio with the convme ioengine, in one fio invocation (groups run one after the other, stonewall):
#   compare   convme on sim: (threaded) | convme on uring:FILE | fio's io_uring on FILE  (randread)
#   verify    convme on sim: with --thread --numjobs=2, rw=randrw, bs past MDTS, verify=crc32c,
#             and convme on uring:FILE with verify=md5
#   overhead  convme on null: (the runtime with no medium) against --ioengine=null
# Checks every job finished without error and verified, that each did I/O, and prints the
# ratios. Usage: fio_compare.sh ENGINE.so [RUNTIME_S] [--report FILE]. Exit 77 when fio or the
# engine is missing.
set -euo pipefail
engine=${1:?engine .so}; runtime=${2:-3}; report=${4:-}
command -v fio >/dev/null || { echo "SKIP: fio is not installed"; exit 77; }
[ -f "$engine" ] || { echo "SKIP: $engine not built (see runtime/bindings/fio/CMakeLists.txt)"; exit 77; }
work=$(mktemp -d /var/tmp/convme-fio.XXXXXX); [ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
file=$work/data.img
truncate -s 256M "$file"
# Preallocate so that the reads hit real extents for both engines.
fallocate -l 256M "$file" 2>/dev/null || dd if=/dev/zero of="$file" bs=1M count=256 status=none
null_uri=${CONVME_FIO_NULL_URI:-null\\:?size=1G}
esc() { printf '%s' "$1" | sed 's/:/\\:/g'; }
cat > "$work/jobs.fio" <<EOF
[global]
thread
group_reporting
bs=4k
size=128M
runtime=$runtime
time_based
ramp_time=0

[convme-sim]
ioengine=external:$engine
filename=sim\:mem?size=256M
rw=randread
iodepth=16
stonewall

[convme-uring]
ioengine=external:$engine
filename=$(esc "uring:$file")?lock=0
rw=randread
iodepth=16
stonewall

[fio-io_uring]
ioengine=io_uring
filename=$file
direct=1
rw=randread
iodepth=16
stonewall

[verify-sim]
ioengine=external:$engine
filename=sim\:mem?size=64M&mdts=2
numjobs=2
offset_increment=32M
size=32M
time_based=0
runtime=0
rw=randwrite
bsrange=4k-256k
iodepth=8
verify=crc32c
do_verify=1
stonewall

[verify-uring]
ioengine=external:$engine
filename=$(esc "uring:$file")?lock=0
size=32M
time_based=0
runtime=0
rw=write
bs=1M
iodepth=4
verify=md5
stonewall

[convme-null]
ioengine=external:$engine
filename=$null_uri
rw=randread
iodepth=16
stonewall

[fio-null]
ioengine=null
size=1G
rw=randread
iodepth=16
stonewall
EOF
(cd "$work" && fio --output-format=json --output="$work/out.json" "$work/jobs.fio") >"$work/fio.log" 2>&1 || {
  cat "$work/fio.log"; echo "FAIL: fio exited non-zero"; exit 1; }
python3 - "$work/out.json" "$report" <<'EOF'
import json, sys
text = open(sys.argv[1]).read()
data = json.loads(text[text.index("{"):])  # fio may print warnings before the JSON
jobs = {j["jobname"]: j for j in data["jobs"]}
bad = 0
def iops(name):
    j = jobs[name]
    return j["read"]["iops"] + j["write"]["iops"]
for name in ["convme-sim", "convme-uring", "fio-io_uring", "verify-sim", "verify-uring", "convme-null", "fio-null"]:
    j = jobs.get(name)
    if j is None:
        print(f"FAIL {name}: missing from fio's output"); bad += 1; continue
    ios = j["read"]["total_ios"] + j["write"]["total_ios"]
    ok = j["error"] == 0 and ios > 0
    lat = j["read"]["clat_ns"]["percentile"].get("50.000000", 0) / 1000 if j["read"]["total_ios"] else 0
    print(f"{'ok  ' if ok else 'FAIL'} {name:14s} err={j['error']} ios={ios} IOPS={iops(name):,.0f} "
          f"read p50={lat:.1f}us cpu usr={j['usr_cpu']:.1f}% sys={j['sys_cpu']:.1f}%")
    bad += not ok
for name in ["verify-sim", "verify-uring"]:
    j = jobs.get(name)
    if j and (j["read"]["total_ios"] == 0):
        print(f"FAIL {name}: no verify reads"); bad += 1
if bad == 0:
    r = iops("convme-uring") / max(iops("fio-io_uring"), 1)
    o = iops("convme-null") / max(iops("fio-null"), 1)
    ns_convme = 1e9 / max(iops("convme-null"), 1); ns_null = 1e9 / max(iops("fio-null"), 1)
    lines = [
        f"convme engine on uring: / fio io_uring, 4k randread QD16: {r:.2f} "
        f"({iops('convme-uring'):,.0f} vs {iops('fio-io_uring'):,.0f} IOPS)",
        f"convme engine on sim: (device thread): {iops('convme-sim'):,.0f} IOPS",
        f"engine overhead: convme on {jobs['convme-null']['job options']['filename']} {iops('convme-null'):,.0f} IOPS "
        f"({ns_convme:.0f} ns/IO) vs fio null {iops('fio-null'):,.0f} IOPS ({ns_null:.0f} ns/IO): "
        f"+{ns_convme - ns_null:.0f} ns per I/O",
    ]
    print("\n".join(lines))
    if sys.argv[2]:
        open(sys.argv[2], "a").write("\n".join(lines) + "\n")
    if not (0.05 < r < 20):
        print("FAIL: convme/io_uring ratio is not plausible"); bad += 1
sys.exit(1 if bad else 0)
EOF
