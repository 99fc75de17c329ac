// open_device("sim:...") : controller model -> simulated PCI function -> the real NVMe driver.
#include "driver/nvme_block_device.hpp"
#include "runtime/backends/factories.hpp"
#include "runtime/backends/uri_params.hpp"
#include "runtime/sim/sim_controller.hpp"

#include <exception>
#include <system_error>

namespace convme::backends {
namespace {
// Keys read by the sim model; every other key goes to the driver (parse_nvme_options), except
// dbbc, which both read (advertise Doorbell Buffer Config / use it).
constexpr std::string_view sim_keys[] = {"size", "lba", "namespaces", "mdts", "latency_us", "host_page",
                                         "mqes", "dstrd", "max_queues", "vwc", "inline"};
bool is_sim_key(const std::string& k) {
    for (std::string_view s : sim_keys)
        if (k == s) return true;
    return false;
}
}  // namespace

std::unique_ptr<block_device> make_sim_device(const device_uri& uri, std::error_code& ec, std::string& why) {
    // parse_nvme_options ignores keys it does not know, so typos are caught here.
    if (!check_known_params(uri, {"size", "lba", "namespaces", "mdts", "latency_us", "host_page", "mqes",
                                  "dstrd", "max_queues", "vwc", "inline", "ns", "qd", "queues", "dbbc",
                                  "timeout_ms"},
                            why)) {
        ec = make_error_code(errc::bad_uri);
        return nullptr;
    }
    sim::controller_config cfg;
    if (!sim::parse_sim_config(uri.target, uri.params, cfg, why)) {
        ec = make_error_code(errc::bad_uri);
        return nullptr;
    }
    std::map<std::string, std::string> driver_params;
    for (const auto& [k, v] : uri.params)
        if (!is_sim_key(k)) driver_params.emplace(k, v);
    driver::nvme_options opts;
    if (!driver::parse_nvme_options(driver_params, opts, why)) {
        ec = make_error_code(errc::bad_uri);
        if (why.rfind("sim:", 0) != 0) why = "sim: " + why;
        return nullptr;
    }
    std::shared_ptr<sim::controller> ctrl;
    try {
        ctrl = std::make_shared<sim::controller>(std::move(cfg));
    } catch (const std::system_error& e) {
        ec = e.code();
        why = e.what();
        return nullptr;
    } catch (const std::exception& e) {
        ec = make_error_code(errc::bad_uri);
        why = e.what();
        return nullptr;
    }
    return driver::make_nvme_block_device(sim::make_pci_device(std::move(ctrl)), opts, ec, why);
}

}  // namespace convme::backends
