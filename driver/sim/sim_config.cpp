// SPDX-License-Identifier: MIT
// sim: URI parameters -> controller_config.
#include "driver/sim/sim_controller.hpp"
#include "runtime/core/uri_params.hpp"

namespace convme::sim {

bool parse_sim_config(const std::string& target, const std::map<std::string, std::string>& params,
                      controller_config& out, std::string& why) {
    controller_config cfg;
    if (target == "mem") {
        cfg.backing_file.clear();
    } else if (target.rfind("file=", 0) == 0 && target.size() > 5) {
        cfg.backing_file = target.substr(5);
    } else {
        why = "sim: target '" + target + "' must be 'mem' or 'file=/path' (e.g. sim:mem?size=1G)";
        return false;
    }
    device_uri uri{"sim", target, params};
    std::uint64_t size = 0, lba = 0, count = 0, mdts = 0, latency = 0, host_page = 0, mqes = 0;
    std::uint64_t dstrd = 0, max_queues = 0, bad_lba = 0, bad_blocks = 0;
    bool dbbc = true, inline_mode = false, vwc = true;
    if (!backends::param_size(uri, "size", 1ull << 30, size, why) ||
        !backends::param_uint(uri, "lba", 512, 512, 4096, lba, why) ||
        !backends::param_uint(uri, "namespaces", 1, 1, 64, count, why) ||
        !backends::param_uint(uri, "mdts", 5, 0, 20, mdts, why) ||
        !backends::param_uint(uri, "latency_us", 0, 0, 10'000'000, latency, why) ||
        !backends::param_uint(uri, "host_page", 4096, 4096, 65536, host_page, why) ||
        !backends::param_uint(uri, "mqes", 1023, 1, 65535, mqes, why) ||
        !backends::param_uint(uri, "dstrd", 0, 0, 8, dstrd, why) ||
        !backends::param_uint(uri, "max_queues", 64, 1, 1024, max_queues, why) ||
        !backends::param_bool(uri, "dbbc", true, dbbc, why) ||
        !backends::param_bool(uri, "vwc", true, vwc, why) ||
        !backends::param_bool(uri, "inline", false, inline_mode, why) ||
        !backends::param_uint(uri, "bad_lba", 0, 0, std::uint64_t{1} << 48, bad_lba, why) ||
        !backends::param_uint(uri, "bad_blocks", params.count("bad_lba") ? 1 : 0, 0,
                              std::uint64_t{1} << 48, bad_blocks, why))
        return false;
    if (lba != 512 && lba != 4096) {
        why = "sim: parameter lba='" + params.at("lba") + "' must be 512 or 4096";
        return false;
    }
    if (host_page != 4096 && host_page != 65536) {
        why = "sim: parameter host_page='" + params.at("host_page") + "' must be 4096 or 65536";
        return false;
    }
    if (size < lba || size % lba != 0) {
        why = "sim: parameter size='" +
              (params.count("size") ? params.at("size") : std::string("1G")) +
              "' must be a non-zero multiple of the block size " + std::to_string(lba);
        return false;
    }
    cfg.namespaces.assign(count, namespace_config{size, static_cast<std::uint32_t>(lba)});
    cfg.mdts = static_cast<std::uint8_t>(mdts);
    cfg.latency = std::chrono::microseconds(latency);
    cfg.host_page_size = host_page;
    cfg.mqes = static_cast<std::uint32_t>(mqes);
    cfg.dstrd = static_cast<std::uint32_t>(dstrd);
    cfg.max_io_queues = static_cast<std::uint32_t>(max_queues);
    cfg.dbbc = dbbc;
    cfg.volatile_write_cache = vwc;
    cfg.inline_mode = inline_mode;
    cfg.bad_lba = bad_lba;
    cfg.bad_blocks = bad_blocks;
    out = std::move(cfg);
    return true;
}

}  // namespace convme::sim
