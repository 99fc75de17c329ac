#!/bin/bash
# bench-table.sh LOG: turn the guest's "BENCH label=... qd=... loops=... iops=..." and
# "BENCH-IDLE label=... cpu_pct=..." lines from a lab_bench serial log into markdown tables: per
# (label, QD, loops) the median over rounds of IOPS, p50/p99 latency and CPU time per I/O, with the
# IOPS spread over rounds as the noise; then the idle rows (CPU of one loop, % of a core).
set -euo pipefail
LOG=$1
tr -d '\r' < "$LOG" | awk '
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
  function parse(   i, kv) {
    delete v
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = substr($i, length(kv[1]) + 2) }
  }
  /^BENCH / {
    parse()
    key = v["qd"] SUBSEP v["loops"] SUBSEP v["label"]
    if (!(key in rounds)) keys[++nk] = key
    rounds[key]++
    iops[key] = iops[key] " " v["iops"]; p50[key] = p50[key] " " v["median_us"]
    p99[key] = p99[key] " " v["p99_us"]; cpu[key] = cpu[key] " " v["cpu_us_per_io"]; cnt[key] = v["count"]
    n++
  }
  /^BENCH-IDLE / {
    parse()
    key = v["label"] SUBSEP v["rate"]
    if (!(key in irounds)) ikeys[++ni] = key
    irounds[key]++
    ipct[key] = ipct[key] " " v["cpu_pct"]; imed[key] = imed[key] " " v["median_us"]
  }
  /^=== host:/ { host = substr($0, 5) }
  END {
    if (!n) { print "no BENCH lines in the log" > "/dev/stderr"; exit 1 }
    print "4 KiB random reads, QEMU TCG guest with two vCPUs, emulated NVMe (raw sparse file), all rows from one boot."
    if (host != "") print "Host " substr(host, 7) " (TCG timings move with host load)."
    print ""
    print "| QD | loops | path | rounds | I/Os per loop | IOPS (median) | IOPS min..max (noise) | p50 us | p99 us | CPU us per I/O |"
    print "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= nk; i++) {
      k = keys[i]; split(k, part, SUBSEP)
      printf "| %s | %s | %s | %d | %s | %.0f | %.0f..%.0f | %.1f | %.1f | %.1f |\n", part[1], part[2], part[3],
             rounds[k], cnt[k], median(iops[k]), minmax(iops[k], 0), minmax(iops[k], 1), median(p50[k]),
             median(p99[k]), median(cpu[k])
    }
    if (ni) {
      print ""
      print "| idle load | path | rounds | CPU % of a core (median) | min..max | p50 us |"
      print "|---|---|---:|---:|---:|---:|"
      for (i = 1; i <= ni; i++) {
        k = ikeys[i]; split(k, part, SUBSEP)
        what = part[1] ~ /inflight/ ? "always 1 in flight (throttled to 10 IOPS)" : part[2] " reads/s"
        printf "| %s | %s | %d | %.1f | %.1f..%.1f | %.0f |\n", what, part[1], irounds[k], median(ipct[k]),
               minmax(ipct[k], 0), minmax(ipct[k], 1), median(imed[k])
      }
    }
  }'
