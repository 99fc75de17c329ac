#!/bin/bash
# SPDX-License-Identifier: MIT
# bench-table.sh LOG: turn the guest's "BENCH label=... qd=... [loops=...] iops=... median_us=...
# p99_us=... [cpu_us_per_io=...] [irqs_per_io=... sleeps_per_io=...]" and "BENCH-IDLE label=...
# cpu_pct=..." lines from a lab serial log (lab_bench, lab_fio) into markdown tables. The guest
# runs several rounds; the n-th line of a (QD, loops, label) triple belongs to round n. Reported:
# per triple the median over rounds (and the IOPS min..max as the noise), then for pairs of paths
# the per-round ratios (median, min, max), then the idle rows. BENCH_TITLE replaces the first
# line; BENCH_PAIRS ("a/b c/d") picks the ratio pairs (default: every convme-* label against
# kernel-nvme, hybrid and interrupt against poll, every *-coal, *-spin1s, *-spin100, *-irqloop, *-irqoff and *-maskoff label
# against the same label without the suffix, and *-spin1s and *-spin100 against poll).
set -euo pipefail
LOG=$1
tr -d '\r' < "$LOG" | awk -v title="${BENCH_TITLE:-}" -v pairs="${BENCH_PAIRS:-}" '
  function median(list,   a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function minmax(list, want_max,   a, n, i, m) {
    n = split(list, a, " "); m = a[1] + 0
    for (i = 2; i <= n; i++) if ((want_max && a[i] + 0 > m) || (!want_max && a[i] + 0 < m)) m = a[i] + 0
    return m
  }
  function parse(   i, kv) {
    delete v
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = substr($i, length(kv[1]) + 2) }
    if (!("loops" in v)) v["loops"] = 1
  }
  /^BENCH / {
    parse()
    key = v["qd"] SUBSEP v["loops"] SUBSEP v["label"]
    if (!(key in rounds)) keys[++nk] = key
    r = ++rounds[key]
    if ("cpu_us_per_io" in v) { has_cpu = 1; all_cpu[key] = all_cpu[key] " " v["cpu_us_per_io"]; cpu[key, r] = v["cpu_us_per_io"] }
    if ("irqs_per_io" in v) { has_irq = 1; all_irq[key] = all_irq[key] " " v["irqs_per_io"]; all_slp[key] = all_slp[key] " " v["sleeps_per_io"] }
    iops[key, r] = v["iops"]; p50[key, r] = v["median_us"]
    all_iops[key] = all_iops[key] " " v["iops"]; all_p50[key] = all_p50[key] " " v["median_us"]
    all_p99[key] = all_p99[key] " " v["p99_us"]; cnt[key] = v["count"]
    if (!(v["label"] in seenl)) { seenl[v["label"]] = 1; labels[++nl] = v["label"] }
    cfg = v["qd"] SUBSEP v["loops"]
    if (!(cfg in seencfg)) { seencfg[cfg] = 1; cfgs[++nc] = cfg }
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
  /^=== clocksource:/ { clocksrc = $3 }
  /^BENCH / && ("clock_ns" in v) { clock_all = clock_all " " v["clock_ns"] }
  END {
    if (!n) { print "no BENCH lines in the log" > "/dev/stderr"; exit 1 }
    if (title == "") title = "4 KiB random reads, QEMU TCG guest, emulated NVMe (raw sparse file), all rows from one boot."
    print title
    if (host != "") print "Host " substr(host, 7) " (TCG timings move with host load)."
    if (clocksrc != "") print "Guest clocksource " clocksrc (clock_all != "" ? ", one clock read " median(clock_all) " ns (median)" : "") "."
    print ""
    printf "| QD | loops | path | rounds | I/Os per loop | IOPS (median) | IOPS min..max | p50 us | p99 us |%s%s\n", has_cpu ? " CPU us per I/O |" : "", has_irq ? " interrupts per I/O | sleeps per I/O |" : ""
    printf "|---:|---:|---|---:|---:|---:|---:|---:|---:|%s%s\n", has_cpu ? "---:|" : "", has_irq ? "---:|---:|" : ""
    for (i = 1; i <= nk; i++) {
      k = keys[i]; split(k, part, SUBSEP)
      printf "| %s | %s | %s | %d | %s | %.0f | %.0f..%.0f | %.1f | %.1f |", part[1], part[2], part[3],
             rounds[k], cnt[k], median(all_iops[k]), minmax(all_iops[k], 0), minmax(all_iops[k], 1),
             median(all_p50[k]), median(all_p99[k])
      if (has_cpu) printf " %s |", (k in all_cpu) ? sprintf("%.1f", median(all_cpu[k])) : "-"
      if (has_irq) printf " %s | %s |", (k in all_irq) ? sprintf("%.2f", median(all_irq[k])) : "-", (k in all_slp) ? sprintf("%.2f", median(all_slp[k])) : "-"
      printf "\n"
    }
    # Ratio pairs: given, or every convme-* against kernel-nvme plus hybrid/interrupt against poll.
    np = 0
    if (pairs != "") np = split(pairs, pl, " ")
    else {
      for (l = 1; l <= nl; l++)
        if (labels[l] != "kernel-nvme" && ("kernel-nvme" in seenl)) pl[++np] = labels[l] "/kernel-nvme"
      for (l = 1; l <= nl; l++)
        if (labels[l] ~ /-(coal|spin1s|spin100|irqloop|irqoff|maskoff)$/) {
          base = labels[l]; sub(/-(coal|spin1s|spin100|irqloop|irqoff|maskoff)$/, "", base); if (base in seenl) pl[++np] = labels[l] "/" base
          if (labels[l] ~ /-spin(1s|100)$/ && ("convme-poll" in seenl)) pl[++np] = labels[l] "/convme-poll"
        }
      if ("convme-poll" in seenl) {
        if ("convme-hybrid" in seenl) pl[++np] = "convme-hybrid/convme-poll"
        if ("convme-interrupt" in seenl) pl[++np] = "convme-interrupt/convme-poll"
      }
    }
    if (!np) exit 0
    print ""
    printf "| QD | loops | ratio | IOPS ratio: median [min..max] of rounds | p50 latency ratio: median [min..max] |%s\n", has_cpu ? " CPU per I/O ratio (median) |" : ""
    printf "|---:|---:|---|---:|---:|%s\n", has_cpu ? "---:|" : ""
    for (c = 1; c <= nc; c++) for (p = 1; p <= np; p++) {
      split(pl[p], ab, "/"); split(cfgs[c], cq, SUBSEP)
      ka = cfgs[c] SUBSEP ab[1]; kb = cfgs[c] SUBSEP ab[2]
      if (!(ka in rounds) || !(kb in rounds)) continue
      ri = ""; rl = ""; rc = ""
      nr = rounds[ka] < rounds[kb] ? rounds[ka] : rounds[kb]
      for (r = 1; r <= nr; r++) {
        if (iops[kb, r] > 0) ri = ri " " iops[ka, r] / iops[kb, r]
        if (p50[kb, r] > 0) rl = rl " " p50[ka, r] / p50[kb, r]
        if (((kb, r) in cpu) && ((ka, r) in cpu) && cpu[kb, r] > 0) rc = rc " " cpu[ka, r] / cpu[kb, r]
      }
      if (ri == "" || rl == "") continue
      printf "| %s | %s | %s | %.2f [%.2f..%.2f] | %.2f [%.2f..%.2f] |", cq[1], cq[2], pl[p],
             median(ri), minmax(ri, 0), minmax(ri, 1), median(rl), minmax(rl, 0), minmax(rl, 1)
      if (has_cpu) printf " %s |", rc != "" ? sprintf("%.2f", median(rc)) : "-"
      printf "\n"
    }
    if (ni) {
      print ""
      print "| idle load | path | rounds | CPU % of a core (median) | min..max | read latency p50 us |"
      print "|---|---|---:|---:|---:|---:|"
      for (i = 1; i <= ni; i++) {
        k = ikeys[i]; split(k, part, SUBSEP)
        what = part[1] ~ /inflight/ ? "always 1 read in flight (device throttled to 10 IOPS)" : part[2] " reads/s"
        printf "| %s | %s | %d | %.1f | %.1f..%.1f | %.0f |\n", what, part[1], irounds[k], median(ipct[k]),
               minmax(ipct[k], 0), minmax(ipct[k], 1), median(imed[k])
      }
    }
  }'
