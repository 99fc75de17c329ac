// SPDX-License-Identifier: MIT
#include "report.hpp"

#include <fmt/format.h>
#include <sys/utsname.h>
#include <unistd.h>

namespace convme::bench {
namespace {

double us(std::uint64_t ns) {
    return static_cast<double>(ns) / 1e3;
}

struct lat_summary {
    double min, avg, p50, p99, p999, max;
};
lat_summary summarize(const histogram& h) {
    return {us(h.min()),          h.mean() / 1e3,        us(h.quantile(0.50)),
            us(h.quantile(0.99)), us(h.quantile(0.999)), us(h.max())};
}

std::string human_count(double v) {
    if (v >= 1e6) return fmt::format("{:.2f}M", v / 1e6);
    if (v >= 1e3) return fmt::format("{:.1f}k", v / 1e3);
    return fmt::format("{:.0f}", v);
}

std::string human_bytes(std::uint64_t b) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(b);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    return u == 0 ? fmt::format("{}B", b) : fmt::format("{:.4g}{}", v, units[u]);
}

std::string json_escape(const std::string& s) {
    std::string out;
    out.reserve(s.size() + 2);
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (ch) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20)
                    out += fmt::format("\\u{:04x}", c);
                else
                    out += ch;
        }
    }
    return out;
}

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string out = "\"";
    for (char ch : s) {
        if (ch == '"') out += '"';
        out += ch;
    }
    return out + '"';
}

std::string host_description() {
    utsname u{};
    uname(&u);
    return fmt::format("{} {} ({} CPUs online)", u.sysname, u.release,
                       sysconf(_SC_NPROCESSORS_ONLN));
}

std::string lat_json(const histogram& h) {
    const lat_summary l = summarize(h);
    return fmt::format(
        R"({{"min":{:.3f},"avg":{:.3f},"p50":{:.3f},"p99":{:.3f},"p99_9":{:.3f},"max":{:.3f}}})",
        l.min, l.avg, l.p50, l.p99, l.p999, l.max);
}

std::string op_json(const op_totals& t, double elapsed) {
    const double iops = elapsed > 0 ? static_cast<double>(t.ios) / elapsed : 0;
    const double mbs = elapsed > 0 ? static_cast<double>(t.bytes) / elapsed / 1e6 : 0;
    return fmt::format(R"({{"ios":{},"bytes":{},"iops":{:.1f},"mb_s":{:.3f},"lat_us":{}}})", t.ios,
                       t.bytes, iops, mbs, lat_json(t.lat_ns));
}

void text_op(std::string& out, const char* name, const op_totals& t, double elapsed) {
    if (t.ios == 0) return;
    const double iops = elapsed > 0 ? static_cast<double>(t.ios) / elapsed : 0;
    const double bw = elapsed > 0 ? static_cast<double>(t.bytes) / elapsed : 0;
    const lat_summary l = summarize(t.lat_ns);
    out += fmt::format("  {:<5}: IOPS={}, BW={:.1f}MiB/s ({:.1f}MB/s), ios={} in {:.2f}s\n", name,
                       human_count(iops), bw / (1024 * 1024), bw / 1e6, t.ios, elapsed);
    out += fmt::format(
        "    lat (us): min={:.1f} avg={:.1f} p50={:.1f} p99={:.1f} p99.9={:.1f} max={:.1f}\n",
        l.min, l.avg, l.p50, l.p99, l.p999, l.max);
}

}  // namespace

std::string format_text(const run_results& r) {
    const bench_options& o = r.opts;
    std::string out;
    out +=
        fmt::format("convme-bench: rw={}{} bs={} qd={} cores={} {} range={}\n", rw_mode_name(o.rw),
                    o.rw == rw_mode::randrw ? fmt::format(" mix={}%read", o.mix_read_pct) : "",
                    human_bytes(o.bs), o.qd, o.cores,
                    o.ios ? fmt::format("ios={}", o.ios) : fmt::format("time={}s", o.time_s),
                    human_bytes(r.plan.range));
    out += fmt::format("device: {} (backend {}, block {} B, capacity {}, queue depth {})\n",
                       r.device.name, r.device.backend, r.device.block_size,
                       human_bytes(r.device.capacity), r.device.queue_depth);
    out += fmt::format("host: {}\n", host_description());
    if (r.prefill_bytes)
        out += fmt::format(
            "prefill: {} in {:.2f}s ({:.1f} MB/s)\n", human_bytes(r.prefill_bytes), r.prefill_s,
            r.prefill_s > 0 ? static_cast<double>(r.prefill_bytes) / r.prefill_s / 1e6 : 0.0);
    text_op(out, "read", r.read, r.elapsed_s);
    text_op(out, "write", r.write, r.elapsed_s);
    if (r.read.ios && r.write.ios) {
        const lat_summary l = summarize(r.all_latencies());
        out += fmt::format(
            "  all  : IOPS={}, lat (us): p50={:.1f} p99={:.1f} p99.9={:.1f} max={:.1f}\n",
            human_count(r.iops()), l.p50, l.p99, l.p999, l.max);
    }
    out += fmt::format(
        "  cpu  : {:.2f} us/IO (user {:.2f}s, sys {:.2f}s over {:.2f}s, whole process)\n",
        r.cpu_us_per_io(), r.cpu_user_s, r.cpu_sys_s, r.elapsed_s);
    if (r.cores.size() > 1) {
        for (const core_results& c : r.cores) {
            const std::uint64_t ios = c.read.ios + c.write.ios;
            histogram h;
            h.merge(c.read.lat_ns);
            h.merge(c.write.lat_ns);
            out += fmt::format(
                "  core {}: ios={} IOPS={} p50={:.1f}us p99={:.1f}us thread cpu={:.2f}s\n", c.core,
                ios, human_count(c.elapsed_s > 0 ? static_cast<double>(ios) / c.elapsed_s : 0),
                us(h.quantile(0.5)), us(h.quantile(0.99)), c.thread_cpu_s);
        }
    }
    if (r.verified_bytes)
        out += fmt::format("verify: read back {} and found it intact\n",
                           human_bytes(r.verified_bytes));
    else if (o.verify && r.errors == 0 && r.verify_failures == 0)
        out += "verify: every read matched the pattern\n";
    if (r.errors || r.verify_failures)
        out +=
            fmt::format("ERRORS: {} I/O errors, {} verify failures\n", r.errors, r.verify_failures);
    for (const std::string& p : r.problems) out += fmt::format("  problem: {}\n", p);
    if (r.interrupted) out += "interrupted: results cover the part that ran\n";
    return out;
}

std::string format_json(const run_results& r) {
    const bench_options& o = r.opts;
    std::string cores = "[";
    for (const core_results& c : r.cores) {
        if (cores.size() > 1) cores += ',';
        cores += fmt::format(
            R"({{"core":{},"elapsed_s":{:.6f},"thread_cpu_s":{:.6f},"read":{},"write":{}}})",
            c.core, c.elapsed_s, c.thread_cpu_s, op_json(c.read, c.elapsed_s),
            op_json(c.write, c.elapsed_s));
    }
    cores += ']';
    std::string problems = "[";
    for (const std::string& p : r.problems) {
        if (problems.size() > 1) problems += ',';
        problems += '"' + json_escape(p) + '"';
    }
    problems += ']';
    const histogram all = r.all_latencies();
    return fmt::format(
        R"({{"tool":"convme-bench","label":"{}","host":"{}",)"
        R"("workload":{{"rw":"{}","mix_read_pct":{},"bs":{},"qd":{},"cores":{},"time_s":{},"ios":{},"range":{},"warmup_s":{},"verify":{},"prefill":{},"seed":{}}},)"
        R"("device":{{"uri":"{}","name":"{}","backend":"{}","block_size":{},"capacity":{},"queue_depth":{}}},)"
        R"("prefill_s":{:.6f},"elapsed_s":{:.6f},"ios":{},"bytes":{},"iops":{:.1f},"mb_s":{:.3f},"lat_us":{},)"
        R"("read":{},"write":{},"cpu":{{"user_s":{:.6f},"sys_s":{:.6f},"us_per_io":{:.4f}}},)"
        R"("errors":{},"verify_failures":{},"verified_bytes":{},"interrupted":{},"problems":{},"cores":{}}})"
        "\n",
        json_escape(o.label), json_escape(host_description()), rw_mode_name(o.rw), o.mix_read_pct,
        o.bs, o.qd, o.cores, o.ios ? 0.0 : o.time_s, o.ios, r.plan.range, o.warmup_s, o.verify,
        o.prefill, r.plan.seed, json_escape(o.uri), json_escape(r.device.name),
        json_escape(r.device.backend), r.device.block_size, r.device.capacity, r.device.queue_depth,
        r.prefill_s, r.elapsed_s, r.total_ios(), r.total_bytes(), r.iops(), r.mb_per_s(),
        lat_json(all), op_json(r.read, r.elapsed_s), op_json(r.write, r.elapsed_s), r.cpu_user_s,
        r.cpu_sys_s, r.cpu_us_per_io(), r.errors, r.verify_failures, r.verified_bytes,
        r.interrupted, problems, cores);
}

std::string format_csv(const run_results& r) {
    const bench_options& o = r.opts;
    std::string out =
        "label,scope,uri,backend,rw,mix_read_pct,bs,qd,cores,elapsed_s,ios,iops,mb_s,"
        "lat_min_us,lat_avg_us,lat_p50_us,lat_p99_us,lat_p99_9_us,lat_max_us,cpu_us_per_io,"
        "errors\n";
    auto row = [&](const std::string& scope, const histogram& h, std::uint64_t ios,
                   std::uint64_t bytes, double elapsed, double cpu_us_per_io,
                   std::uint64_t errors) {
        const lat_summary l = summarize(h);
        const double iops = elapsed > 0 ? static_cast<double>(ios) / elapsed : 0;
        const double mbs = elapsed > 0 ? static_cast<double>(bytes) / elapsed / 1e6 : 0;
        out += fmt::format(
            "{},{},{},{},{},{},{},{},{},{:.6f},{},{:.1f},{:.3f},{:.3f},{:.3f},{:.3f},{:.3f},{:.3f},"
            "{:.3f},{:.4f},{}\n",
            csv_field(o.label), scope, csv_field(o.uri), csv_field(r.device.backend),
            rw_mode_name(o.rw), o.mix_read_pct, o.bs, o.qd, o.cores, elapsed, ios, iops, mbs, l.min,
            l.avg, l.p50, l.p99, l.p999, l.max, cpu_us_per_io, errors);
    };
    row("total", r.all_latencies(), r.total_ios(), r.total_bytes(), r.elapsed_s, r.cpu_us_per_io(),
        r.errors + r.verify_failures);
    for (const core_results& c : r.cores) {
        histogram h;
        h.merge(c.read.lat_ns);
        h.merge(c.write.lat_ns);
        const std::uint64_t ios = c.read.ios + c.write.ios;
        row(fmt::format("core{}", c.core), h, ios, c.read.bytes + c.write.bytes, c.elapsed_s,
            ios ? c.thread_cpu_s * 1e6 / static_cast<double>(ios) : 0.0, 0);
    }
    return out;
}

}  // namespace convme::bench
