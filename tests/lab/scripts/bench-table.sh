#!/bin/bash
# bench-table.sh LOG: turn the guest's "BENCH label=... qd=... iops=... median_us=..." lines from a
# lab_bench serial log into a markdown table, with ours/kernel ratios per queue depth.
set -euo pipefail
LOG=$1
tr -d '\r' < "$LOG" | awk '
  /^BENCH / {
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = substr($i, length(kv[1]) + 2) }
    key = v["label"] SUBSEP v["qd"]
    iops[key] = v["iops"]; med[key] = v["median_us"]; p99[key] = v["p99_us"]; cnt[key] = v["count"]
    if (!(v["qd"] in seenqd)) { seenqd[v["qd"]] = 1; qds[++nq] = v["qd"] }
    if (!(v["label"] in seenl)) { seenl[v["label"]] = 1; labels[++nl] = v["label"] }
    n++
  }
  /^=== host:/ { host = substr($0, 5) }
  END {
    if (!n) { print "no BENCH lines in the log" > "/dev/stderr"; exit 1 }
    print "4 KiB random reads, QEMU TCG guest with one vCPU (-smp 1), emulated NVMe (raw sparse file)."
    if (host != "") print "Host " substr(host, 7) " (TCG timings move with host load)."
    print ""
    print "| path | QD | I/Os | IOPS | median latency (us) | p99 latency (us) |"
    print "|---|---:|---:|---:|---:|---:|"
    for (l = 1; l <= nl; l++) for (q = 1; q <= nq; q++) {
      k = labels[l] SUBSEP qds[q]
      if (k in iops) printf "| %s | %s | %s | %s | %s | %s |\n", labels[l], qds[q], cnt[k], iops[k], med[k], p99[k]
    }
    a = "convme-vfio"; b = "kernel-nvme"
    print ""
    print "| QD | IOPS ratio convme-vfio / kernel-nvme | median latency ratio convme-vfio / kernel-nvme |"
    print "|---:|---:|---:|"
    for (q = 1; q <= nq; q++) {
      ka = a SUBSEP qds[q]; kb = b SUBSEP qds[q]
      if ((ka in iops) && (kb in iops) && iops[kb] > 0 && med[kb] > 0)
        printf "| %s | %.2f | %.2f |\n", qds[q], iops[ka] / iops[kb], med[ka] / med[kb]
    }
  }'
