#!/bin/bash
# SPDX-License-Identifier: MIT
# bench-table.sh LOG: turn the guest's "BENCH label=... qd=... iops=... median_us=..." lines from a
# lab_bench serial log into markdown tables. The guest runs several rounds, each ours then the
# kernel's; the n-th line of a (label, QD) pair belongs to round n. Reported: per (label, QD) the
# median over rounds, then per QD the ours/kernel ratio of each round, their median, min and max.
set -euo pipefail
LOG=$1
tr -d '\r' < "$LOG" | awk -v title="${BENCH_TITLE:-}" '
  function median(list,   a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function minmax(list, want_max,   a, n, i, m) {
    n = split(list, a, " "); m = a[1] + 0
    for (i = 2; i <= n; i++) if ((want_max && a[i] + 0 > m) || (!want_max && a[i] + 0 < m)) m = a[i] + 0
    return m
  }
  /^BENCH / {
    delete v
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = substr($i, length(kv[1]) + 2) }
    key = v["label"] SUBSEP v["qd"]
    r = ++rounds[key]
    iops[key, r] = v["iops"]; med[key, r] = v["median_us"]
    all_iops[key] = all_iops[key] " " v["iops"]; all_med[key] = all_med[key] " " v["median_us"]
    all_p99[key] = all_p99[key] " " v["p99_us"]; cnt[key] = v["count"]
    if (!(v["qd"] in seenqd)) { seenqd[v["qd"]] = 1; qds[++nq] = v["qd"] }
    if (!(v["label"] in seenl)) { seenl[v["label"]] = 1; labels[++nl] = v["label"] }
    n++
  }
  /^=== host:/ { host = substr($0, 5) }
  END {
    if (!n) { print "no BENCH lines in the log" > "/dev/stderr"; exit 1 }
    if (title == "") title = "4 KiB random reads, QEMU TCG guest with one vCPU (-smp 1), emulated NVMe (raw sparse file)."
    print title
    if (host != "") print "Host " substr(host, 7) " (TCG timings move with host load)."
    print ""
    print "| path | QD | rounds | I/Os per round | IOPS (median) | median latency (us, median) | p99 latency (us, median) |"
    print "|---|---:|---:|---:|---:|---:|---:|"
    for (l = 1; l <= nl; l++) for (q = 1; q <= nq; q++) {
      k = labels[l] SUBSEP qds[q]
      if (k in rounds)
        printf "| %s | %s | %d | %s | %.0f | %.1f | %.1f |\n", labels[l], qds[q], rounds[k], cnt[k],
               median(all_iops[k]), median(all_med[k]), median(all_p99[k])
    }
    a = "convme-vfio"; b = "kernel-nvme"
    print ""
    print "| QD | IOPS ratio convme-vfio / kernel-nvme: median [min..max] of rounds | median latency ratio: median [min..max] |"
    print "|---:|---:|---:|"
    for (q = 1; q <= nq; q++) {
      ka = a SUBSEP qds[q]; kb = b SUBSEP qds[q]
      if (!(ka in rounds) || !(kb in rounds)) continue
      ri = ""; rl = ""
      nr = rounds[ka] < rounds[kb] ? rounds[ka] : rounds[kb]
      for (r = 1; r <= nr; r++) {
        if (iops[kb, r] > 0) ri = ri " " iops[ka, r] / iops[kb, r]
        if (med[kb, r] > 0) rl = rl " " med[ka, r] / med[kb, r]
      }
      if (ri == "" || rl == "") continue
      printf "| %s | %.2f [%.2f..%.2f] | %.2f [%.2f..%.2f] |\n", qds[q],
             median(ri), minmax(ri, 0), minmax(ri, 1), median(rl), minmax(rl, 0), minmax(rl, 1)
    }
  }'
