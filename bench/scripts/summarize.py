#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Summarize a compare.sh results directory.

Reads OUT/raw/block__<engine>__<rw>__qd<N>__r<rep>.json (convme-bench or fio JSON),
OUT/raw/path__<engine>__c<cores>__qd<N>__r<rep>.json (the software-path runs: null engines) and
OUT/raw/kv__<server>__r<rep>.csv (redis-benchmark --csv), writes:
  block.csv / kv.csv                 one row per run
  block_summary.csv / kv_summary.csv medians over repetitions, with ratios
  path.csv / path_summary.csv        the software-path runs and their medians
  plot_block.dat / plot_kv.dat       gnuplot tables for plot.sh
  results.md                         the markdown report (machine, tables, notes)
"""
import csv
import json
import os
import statistics
import sys

ENGINE_ORDER = ["sim", "sim-inline", "uring", "threadpool", "fio"]
ENGINE_TITLE = {
    "sim": "convme sim (RAM)",
    "sim-inline": "convme sim inline",
    "uring": "convme uring",
    "threadpool": "convme threadpool",
    "fio": "fio io_uring",
}
SERVER_ORDER = ["convme-kv", "redis-mem", "redis-aof"]
SERVER_TITLE = {
    "convme-kv": "convme-kv",
    "redis-mem": "redis (no persistence)",
    "redis-aof": "redis (AOF, fsync always)",
}
BASELINE_ENGINE = "uring"


def parse_convme(d):
    return {
        "iops": d["iops"],
        "mb_s": d["mb_s"],
        "p50_us": d["lat_us"]["p50"],
        "p99_us": d["lat_us"]["p99"],
        "p999_us": d["lat_us"]["p99_9"],
        "cpu_us_per_io": d["cpu"]["us_per_io"],
        "errors": d["errors"] + d["verify_failures"],
    }


def parse_fio(d, rw):
    job = d["jobs"][0]
    side = job["read"] if "read" in rw else job["write"]
    pct = side.get("lat_ns", {}).get("percentile") or side.get("clat_ns", {}).get("percentile", {})

    def p(key):
        for k, v in pct.items():
            if abs(float(k) - key) < 1e-6:
                return v / 1000.0
        return float("nan")

    ios = side.get("total_ios", 0)
    runtime_s = job.get("job_runtime", side.get("runtime", 0)) / 1000.0
    cpu_s = (job.get("usr_cpu", 0) + job.get("sys_cpu", 0)) / 100.0 * runtime_s
    return {
        "iops": side["iops"],
        "mb_s": side["bw_bytes"] / 1e6,
        "p50_us": p(50),
        "p99_us": p(99),
        "p999_us": p(99.9),
        "cpu_us_per_io": cpu_s * 1e6 / ios if ios else float("nan"),
        "errors": job.get("error", 0),
    }


def load_block(raw):
    rows = []
    for name in sorted(os.listdir(raw)):
        if not (name.startswith("block__") and name.endswith(".json")):
            continue
        engine, rw, qd, rep = name[len("block__"):-len(".json")].split("__")
        try:
            with open(os.path.join(raw, name)) as f:
                d = json.load(f)
            m = parse_convme(d) if d.get("tool") == "convme-bench" else parse_fio(d, rw)
        except (ValueError, KeyError, IndexError) as e:
            print(f"summarize: skipping {name}: {e}", file=sys.stderr)
            continue
        rows.append({"engine": engine, "rw": rw, "qd": int(qd[2:]), "rep": int(rep[1:]), **m})
    return rows


PATH_ORDER = ["null", "sim-inline", "fio-null"]
PATH_TITLE = {
    "null": "convme null:",
    "sim-inline": "convme sim:mem?inline=1",
    "fio-null": "fio --ioengine=null",
}


def parse_fio_jobs(d):
    """All jobs of a fio run added up (one job per core, no group_reporting)."""
    iops = ios = cpu_s = 0.0
    for job in d["jobs"]:
        side = job["read"]
        iops += side["iops"]
        ios += side.get("total_ios", 0)
        cpu_s += (job.get("usr_cpu", 0) + job.get("sys_cpu", 0)) / 100.0 * job.get("job_runtime", 0) / 1000.0
    return {"iops": iops, "cpu_ns_per_io": cpu_s * 1e9 / ios if ios else float("nan")}


def load_path(raw):
    rows = []
    for name in sorted(os.listdir(raw)):
        if not (name.startswith("path__") and name.endswith(".json")):
            continue
        engine, cores, qd, rep = name[len("path__"):-len(".json")].split("__")
        try:
            with open(os.path.join(raw, name)) as f:
                d = json.load(f)
            if d.get("tool") == "convme-bench":
                m = {"iops": d["iops"], "cpu_ns_per_io": d["cpu"]["us_per_io"] * 1000.0}
            else:
                m = parse_fio_jobs(d)
        except (ValueError, KeyError, IndexError) as e:
            print(f"summarize: skipping {name}: {e}", file=sys.stderr)
            continue
        rows.append({"engine": engine, "cores": int(cores[1:]), "qd": int(qd[2:]), "rep": int(rep[1:]), **m})
    return rows


def summarize_path(rows):
    groups = {}
    for r in rows:
        groups.setdefault((r["cores"], r["qd"], r["engine"]), []).append(r)
    out = []
    for (cores, qd, engine), rs in groups.items():
        out.append({
            "cores": cores, "qd": qd, "engine": engine, "runs": len(rs),
            "iops": med([r["iops"] for r in rs]),
            "cpu_ns_per_io": med([r["cpu_ns_per_io"] for r in rs]),
            "iops_spread_pct": spread_pct([r["iops"] for r in rs]),
        })
    by = {(s["cores"], s["qd"], s["engine"]): s for s in out}
    for s in out:
        f = by.get((s["cores"], s["qd"], "fio-null"))
        s["iops_vs_fio"] = s["iops"] / f["iops"] if f and f["iops"] else float("nan")
        s["cpu_vs_fio"] = s["cpu_ns_per_io"] / f["cpu_ns_per_io"] if f and f["cpu_ns_per_io"] else float("nan")
        one = by.get((1, s["qd"], s["engine"]))
        s["scaling"] = s["iops"] / one["iops"] if s["cores"] > 1 and one and one["iops"] else float("nan")
    out.sort(key=lambda s: (s["cores"], s["qd"], order(s["engine"], PATH_ORDER)))
    return out


def load_kv(raw):
    rows = []
    for name in sorted(os.listdir(raw)):
        if not (name.startswith("kv__") and name.endswith(".csv")):
            continue
        server, rep = name[len("kv__"):-len(".csv")].split("__")
        with open(os.path.join(raw, name)) as f:
            for r in csv.DictReader(f):
                try:
                    rows.append({
                        "server": server, "test": r["test"], "rep": int(rep[1:]),
                        "rps": float(r["rps"]),
                        "p50_ms": float(r.get("p50_latency_ms", "nan")),
                        "p99_ms": float(r.get("p99_latency_ms", "nan")),
                    })
                except (KeyError, ValueError) as e:
                    print(f"summarize: skipping a row of {name}: {e}", file=sys.stderr)
    return rows


def med(values):
    values = [v for v in values if v == v]  # drop NaN
    return statistics.median(values) if values else float("nan")


def spread_pct(values):
    values = [v for v in values if v == v]
    if len(values) < 2:
        return float("nan")
    m = statistics.median(values)
    return (max(values) - min(values)) / m * 100 if m else float("nan")


def order(key, known):
    return (known.index(key) if key in known else len(known), key)


def summarize_block(rows):
    groups = {}
    for r in rows:
        groups.setdefault((r["rw"], r["qd"], r["engine"]), []).append(r)
    out = []
    for (rw, qd, engine), rs in groups.items():
        out.append({
            "rw": rw, "qd": qd, "engine": engine, "runs": len(rs),
            **{k: med([r[k] for r in rs]) for k in
               ("iops", "mb_s", "p50_us", "p99_us", "p999_us", "cpu_us_per_io")},
            "iops_spread_pct": spread_pct([r["iops"] for r in rs]),
            "errors": sum(r["errors"] for r in rs),
        })
    base = {(s["rw"], s["qd"]): s for s in out if s["engine"] == BASELINE_ENGINE}
    for s in out:
        b = base.get((s["rw"], s["qd"]))
        s["iops_vs_uring"] = s["iops"] / b["iops"] if b and b["iops"] else float("nan")
        s["p99_vs_uring"] = s["p99_us"] / b["p99_us"] if b and b["p99_us"] else float("nan")
    out.sort(key=lambda s: (order(s["rw"], ["randread", "randwrite"]), s["qd"],
                            order(s["engine"], ENGINE_ORDER)))
    return out


def summarize_kv(rows):
    groups = {}
    for r in rows:
        groups.setdefault((r["test"], r["server"]), []).append(r)
    out = []
    for (test, server), rs in groups.items():
        out.append({
            "test": test, "server": server, "runs": len(rs),
            "rps": med([r["rps"] for r in rs]),
            "p50_ms": med([r["p50_ms"] for r in rs]),
            "p99_ms": med([r["p99_ms"] for r in rs]),
            "rps_spread_pct": spread_pct([r["rps"] for r in rs]),
        })
    by = {(s["test"], s["server"]): s for s in out}
    for s in out:
        for ref in ("redis-mem", "redis-aof"):
            b = by.get((s["test"], ref))
            s[f"vs_{ref}"] = s["rps"] / b["rps"] if b and b["rps"] else float("nan")
    out.sort(key=lambda s: (order(s["test"], ["SET", "GET"]), order(s["server"], SERVER_ORDER)))
    return out


def write_csv(path, rows):
    if not rows:
        if os.path.exists(path):
            os.remove(path)
        return
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)


def fmt(v, digits=1):
    if v != v:
        return "–"
    if abs(v) >= 1e6:
        return f"{v / 1e6:.2f}M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:.1f}k"
    return f"{v:.{digits}f}"


def ratio(v):
    if v != v:
        return "–"
    return f"{v:.2f}×" if v >= 0.1 else f"{v:.2g}×"


def write_plot_tables(out_dir, block, kv):
    engines = sorted({s["engine"] for s in block}, key=lambda e: order(e, ENGINE_ORDER))
    with open(os.path.join(out_dir, "plot_block.dat"), "w") as f:
        f.write("case " + " ".join(f'"{ENGINE_TITLE.get(e, e)}"' for e in engines) + "\n")
        cases = []
        for s in block:
            if (s["rw"], s["qd"]) not in cases:
                cases.append((s["rw"], s["qd"]))
        by = {(s["rw"], s["qd"], s["engine"]): s for s in block}
        for rw, qd in cases:
            vals = []
            for e in engines:
                s = by.get((rw, qd, e))
                vals.append(f"{s['iops']:.1f}" if s and s["iops"] == s["iops"] else "?")
            f.write(f'"{rw} QD{qd}" ' + " ".join(vals) + "\n")
    servers = sorted({s["server"] for s in kv}, key=lambda e: order(e, SERVER_ORDER))
    with open(os.path.join(out_dir, "plot_kv.dat"), "w") as f:
        f.write("test " + " ".join(f'"{SERVER_TITLE.get(s, s)}"' for s in servers) + "\n")
        tests = []
        for s in kv:
            if s["test"] not in tests:
                tests.append(s["test"])
        by = {(s["test"], s["server"]): s for s in kv}
        for t in tests:
            vals = []
            for sv in servers:
                s = by.get((t, sv))
                vals.append(f"{s['rps']:.1f}" if s else "?")
            f.write(f'"{t}" ' + " ".join(vals) + "\n")


def write_markdown(out_dir, block, kv, path=()):
    lines = ["# convme comparative benchmark", ""]
    mpath = os.path.join(out_dir, "machine.txt")
    if os.path.exists(mpath):
        with open(mpath) as f:
            lines += ["```"] + [l.rstrip() for l in f] + ["```", ""]
    lines += [
        "Produced by `bench/scripts/compare.sh`; the columns are explained in `bench/README.md`.",
        "Shared, noisy 2-CPU virtual machine: treat differences under ~10 % as noise. The sim rows",
        "model an NVMe device in RAM; they are not hardware numbers.",
        "",
    ]
    if block:
        runs = max(s["runs"] for s in block)
        lines += [
            f"## Block I/O: 4 KiB, one core, medians of {runs} run(s)",
            "",
            "| workload | QD | engine | IOPS | MB/s | p50 µs | p99 µs | p99.9 µs | CPU µs/IO "
            "| IOPS vs uring | p99 vs uring | spread |",
            "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for s in block:
            lines.append(
                f"| {s['rw']} | {s['qd']} | {ENGINE_TITLE.get(s['engine'], s['engine'])} | "
                f"{fmt(s['iops'], 0)} | {fmt(s['mb_s'])} | {fmt(s['p50_us'])} | {fmt(s['p99_us'])} | "
                f"{fmt(s['p999_us'])} | {fmt(s['cpu_us_per_io'], 2)} | {ratio(s['iops_vs_uring'])} | "
                f"{ratio(s['p99_vs_uring'])} | {pct(s['iops_spread_pct'])} |")
        lines.append("")
    if path:
        runs = max(s["runs"] for s in path)
        lines += [
            f"## Software path: 4 KiB randread with no medium, medians of {runs} run(s)",
            "",
            "convme's `null:` backend (request, validation, submit, poller, ready queue, coroutine) and",
            "the simulated NVMe controller stepped inline (the whole NVMe driver plus the device model),",
            "against fio's null engine (`--ioengine=null --thread`, one job per core). CPU ns/IO is",
            "process CPU time (user + sys) over the I/O count: the figure to compare on a shared",
            "machine, where IOPS also depend on how much CPU the neighbours leave. Per-CPU IOPS =",
            "10⁹ / CPU ns/IO. Scaling: IOPS on that many cores / IOPS on one core, same engine and QD.",
            "",
            "| engine | cores | QD | IOPS | CPU ns/IO | per-CPU IOPS | IOPS vs fio null "
            "| CPU/IO vs fio null | scaling | spread |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for s in path:
            per_cpu = 1e9 / s["cpu_ns_per_io"] if s["cpu_ns_per_io"] == s["cpu_ns_per_io"] and s["cpu_ns_per_io"] else float("nan")
            lines.append(
                f"| {PATH_TITLE.get(s['engine'], s['engine'])} | {s['cores']} | {s['qd']} | {fmt(s['iops'], 0)} | "
                f"{fmt(s['cpu_ns_per_io'], 0)} | {fmt(per_cpu, 0)} | {ratio(s['iops_vs_fio'])} | "
                f"{ratio(s['cpu_vs_fio'])} | {ratio(s['scaling'])} | {pct(s['iops_spread_pct'])} |")
        lines.append("")
    if kv:
        runs = max(s["runs"] for s in kv)
        lines += [
            f"## KV: redis-benchmark SET/GET, medians of {runs} run(s)",
            "",
            "| test | server | requests/s | p50 ms | p99 ms | vs redis (no persistence) "
            "| vs redis (AOF always) | spread |",
            "|---|---|--:|--:|--:|--:|--:|--:|",
        ]
        for s in kv:
            lines.append(
                f"| {s['test']} | {SERVER_TITLE.get(s['server'], s['server'])} | {fmt(s['rps'], 0)} | "
                f"{s['p50_ms']:.3f} | {s['p99_ms']:.3f} | {ratio(s['vs_redis-mem'])} | "
                f"{ratio(s['vs_redis-aof'])} | {pct(s['rps_spread_pct'])} |")
        lines.append("")
    if os.path.exists(os.path.join(out_dir, "results.png")):
        lines += ["![IOPS and requests per second](results.png)", ""]
    npath = os.path.join(out_dir, "notes.txt")
    if os.path.exists(npath) and os.path.getsize(npath):
        lines += ["## Notes from this run", ""]
        with open(npath) as f:
            lines += [f"- {l.strip()}" for l in f if l.strip()]
        lines.append("")
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write("\n".join(lines))


def pct(v):
    return "–" if v != v else f"{v:.0f} %"


def main():
    if len(sys.argv) != 2:
        print("usage: summarize.py RESULTS_DIR", file=sys.stderr)
        return 2
    out_dir = sys.argv[1]
    raw = os.path.join(out_dir, "raw")
    block_rows = load_block(raw) if os.path.isdir(raw) else []
    kv_rows = load_kv(raw) if os.path.isdir(raw) else []
    path_rows = load_path(raw) if os.path.isdir(raw) else []
    path = summarize_path(path_rows)
    block = summarize_block(block_rows)
    kv = summarize_kv(kv_rows)
    write_csv(os.path.join(out_dir, "block.csv"), block_rows)
    write_csv(os.path.join(out_dir, "kv.csv"), kv_rows)
    write_csv(os.path.join(out_dir, "block_summary.csv"), block)
    write_csv(os.path.join(out_dir, "kv_summary.csv"), kv)
    write_csv(os.path.join(out_dir, "path.csv"), path_rows)
    write_csv(os.path.join(out_dir, "path_summary.csv"), path)
    write_plot_tables(out_dir, block, kv)
    write_markdown(out_dir, block, kv, path)
    print(f"summarize: {len(block_rows)} block runs, {len(path_rows)} path runs, {len(kv_rows)} KV rows -> {out_dir}/results.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
