// SPDX-License-Identifier: MIT
// sim:... : controller model -> simulated PCI function -> the real NVMe driver.
#include "driver/sim/sim_device.hpp"

#include <exception>
#include <system_error>

#include "driver/nvme/nvme_block_device.hpp"
#include "driver/sim/sim_controller.hpp"
#include "runtime/core/uri_params.hpp"

namespace convme::sim {
namespace {
// Keys read by the sim model; the driver reads nvme_option_keys (dbbc in both: the model
// advertises Doorbell Buffer Config, the driver uses it).
constexpr std::string_view sim_keys[] = {
    "size",  "lba",        "namespaces", "mdts",   "latency_us", "host_page", "mqes",
    "dstrd", "max_queues", "vwc",        "inline", "bad_lba",    "bad_blocks"};
}  // namespace

bool check_sim_target(device_uri& uri, std::string& why) {
    if (uri.target == "mem") return true;
    if (uri.target.rfind("file=", 0) == 0) {
        if (uri.target.size() > 5) return true;
        why = "sim: 'file=' needs a path, e.g. sim:file=/tmp/sim.img";
        return false;
    }
    why = "sim: unknown target '" + uri.target + "' (expected 'mem' or 'file=/path')";
    return false;
}

std::unique_ptr<block_device> open_sim_device(const device_uri& uri, std::error_code& ec,
                                              std::string& why) {
    if (!backends::check_known_params(uri, sim_keys, driver::nvme_option_keys, why)) {
        ec = make_error_code(errc::bad_uri);
        return nullptr;
    }
    controller_config cfg;
    if (!parse_sim_config(uri.target, uri.params, cfg, why)) {
        ec = make_error_code(errc::bad_uri);
        return nullptr;
    }
    driver::nvme_options opts;
    if (!driver::parse_nvme_options(uri, opts, why)) {
        ec = make_error_code(errc::bad_uri);
        return nullptr;
    }
    std::shared_ptr<sim::simulated_controller> ctrl;
    try {
        ctrl = std::make_shared<simulated_controller>(std::move(cfg));
    } catch (const std::system_error& e) {
        ec = e.code();
        why = e.what();
        return nullptr;
    } catch (const std::exception& e) {
        ec = make_error_code(errc::bad_uri);
        why = e.what();
        return nullptr;
    }
    return driver::make_nvme_block_device(make_pci_device(std::move(ctrl)), opts, ec, why);
}

}  // namespace convme::sim
