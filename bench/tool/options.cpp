// SPDX-License-Identifier: MIT
#include "options.hpp"

#include <CLI/CLI.hpp>
#include <convme/device.hpp>
#include <map>

namespace convme::bench {

const char* rw_mode_name(rw_mode m) noexcept {
    switch (m) {
        case rw_mode::randread:
            return "randread";
        case rw_mode::randwrite:
            return "randwrite";
        case rw_mode::read:
            return "read";
        case rw_mode::write:
            return "write";
        case rw_mode::randrw:
            return "randrw";
    }
    return "?";
}

namespace {

// CLI11 validator + converter for sizes with K/M/G/T suffixes (powers of 1024).
std::string check_size(const std::string& text) {
    std::uint64_t v = 0;
    if (!convme::parse_size(text, v)) return "not a size (examples: 4096, 4K, 128K, 1M, 2G)";
    return {};
}

}  // namespace

std::optional<int> parse_options(int argc, char** argv, bench_options& out) {
    CLI::App app{"convme-bench: fio-like block I/O benchmark for any convme device URI"};
    app.footer(
        "Examples:\n"
        "  convme-bench --uri 'sim:mem?size=1G' --rw randread --bs 4K --qd 32 --time 5\n"
        "  convme-bench --uri 'uring:/tmp/f?create_size=1G' --rw randwrite --qd 32 --cores 2\n"
        "  convme-bench --uri 'threadpool:/tmp/f' --rw randrw --mix 70 --ios 100000 --output json");

    std::string bs_text = "4K", size_text = "0", rw_text = "randread", out_text = "text";
    const std::map<std::string, rw_mode> rw_names{{"randread", rw_mode::randread},
                                                  {"randwrite", rw_mode::randwrite},
                                                  {"read", rw_mode::read},
                                                  {"write", rw_mode::write},
                                                  {"randrw", rw_mode::randrw}};
    const std::map<std::string, output_format> out_names{
        {"text", output_format::text}, {"json", output_format::json}, {"csv", output_format::csv}};

    app.add_option("--uri,-u", out.uri,
                   "device URI (sim:mem?size=1G, uring:/path, threadpool:/path, vfio:BDF)")
        ->required();
    app.add_option("--rw", rw_text, "workload: randread|randwrite|read|write|randrw")
        ->check(CLI::IsMember(rw_names, CLI::ignore_case));
    app.add_option("--mix", out.mix_read_pct, "randrw: percentage of reads")
        ->check(CLI::Range(0u, 100u));
    app.add_option("--bs", bs_text, "block size per I/O (4K, 128K, 1M...)")->check(check_size);
    app.add_option("--qd", out.qd, "I/Os in flight per core")->check(CLI::Range(1u, 65536u));
    app.add_option("--cores", out.cores, "event loops (threads), one per CPU")
        ->check(CLI::Range(1u, 1024u));
    auto* time_opt =
        app.add_option("--time", out.time_s, "seconds to measure")->check(CLI::PositiveNumber);
    auto* ios_opt = app.add_option("--ios", out.ios, "total I/Os to measure instead of a duration")
                        ->check(CLI::Range(std::uint64_t{1}, UINT64_MAX));
    time_opt->excludes(ios_opt);
    app.add_option("--size", size_text, "bytes of the device to use, from offset 0 (default: all)")
        ->check(check_size);
    app.add_option("--warmup", out.warmup_s, "seconds of I/O before measuring starts")
        ->check(CLI::NonNegativeNumber);
    app.add_flag("--verify", out.verify,
                 "write a per-offset pattern, check every read and read the range back at the end "
                 "(implies --prefill)");
    app.add_flag("--prefill", out.prefill, "write the whole range once before measuring");
    app.add_flag("--progress", out.progress,
                 "print a progress line every second even if stderr is not a tty");
    app.add_flag("!--no-pin", out.pin, "do not pin loop threads to CPUs");
    app.add_option("--seed", out.seed, "random seed (default: from the clock)");
    app.add_option("--label", out.label, "free text copied into json/csv output");
    app.add_option("--output,-o", out_text, "text|json|csv")
        ->check(CLI::IsMember(out_names, CLI::ignore_case));

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);  // prints help or the error
        return code == 0 ? 0 : 2;
    }
    for (const auto& [name, mode] : rw_names)
        if (CLI::detail::to_lower(rw_text) == name) out.rw = mode;
    for (const auto& [name, format] : out_names)
        if (CLI::detail::to_lower(out_text) == name) out.output = format;
    if (!convme::parse_size(bs_text, out.bs) || out.bs == 0) {
        std::fprintf(stderr, "--bs: must be a positive size\n");
        return 2;
    }
    if (!convme::parse_size(size_text, out.size)) {
        std::fprintf(stderr, "--size: not a size\n");
        return 2;
    }
    if (out.verify) out.prefill = true;
    if (out.rw == rw_mode::randread || out.rw == rw_mode::read) out.mix_read_pct = 100;
    if (out.rw == rw_mode::randwrite || out.rw == rw_mode::write) out.mix_read_pct = 0;
    return std::nullopt;
}

}  // namespace convme::bench
