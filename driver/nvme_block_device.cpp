// make_nvme_block_device / parse_nvme_options: the entry points sim: and vfio: URIs use.
#include "driver/nvme_block_device.hpp"

#include "driver/controller.hpp"
#include "driver/nvme_device.hpp"

#include <convme/error.hpp>

#include <cerrno>
#include <charconv>

namespace convme::driver {

std::unique_ptr<block_device> make_nvme_block_device(std::unique_ptr<pci_device> dev, const nvme_options& options,
                                                     std::error_code& ec, std::string& why) {
    if (!dev) {
        ec = make_error_code(std::errc::invalid_argument);
        why = "nvme: no PCI device given";
        return nullptr;
    }
    const std::string name = dev->name();
    try {
        auto ctrl = std::make_unique<controller>(std::move(dev), options);
        if (int rc = ctrl->bring_up(why); rc != 0) {
            ec = rc == -ENODEV ? make_error_code(errc::device_gone) : errno_code(rc);
            why = "nvme " + name + ": controller bring-up: " + why;
            return nullptr;
        }
        auto blk = std::make_unique<nvme_device>(std::move(ctrl));
        if (int rc = blk->init(why); rc != 0) {
            ec = rc == -ENODEV ? make_error_code(errc::device_gone) : errno_code(rc);
            why = "nvme " + name + ": " + why;
            return nullptr;
        }
        ec.clear();
        return blk;
    } catch (const std::bad_alloc&) {
        ec = make_error_code(std::errc::not_enough_memory);
        why = "nvme " + name + ": out of memory while opening the device";
        return nullptr;
    }
}

namespace {

bool parse_u64(const std::string& text, std::uint64_t& out) {
    if (text.empty()) return false;
    const char* end = text.data() + text.size();
    auto [p, err] = std::from_chars(text.data(), end, out);
    return err == std::errc{} && p == end;
}

bool parse_bounded(const std::map<std::string, std::string>& params, const char* key, std::uint64_t lo,
                   std::uint64_t hi, std::uint64_t& out, std::string& why) {
    auto it = params.find(key);
    if (it == params.end()) return true;
    std::uint64_t v = 0;
    if (!parse_u64(it->second, v) || v < lo || v > hi) {
        why = std::string("parameter ") + key + "=" + it->second + ": expected an integer in [" + std::to_string(lo) +
              ", " + std::to_string(hi) + "]";
        return false;
    }
    out = v;
    return true;
}

}  // namespace

bool parse_nvme_options(const std::map<std::string, std::string>& params, nvme_options& out, std::string& why) {
    nvme_options o = out;
    std::uint64_t v = o.nsid;
    if (!parse_bounded(params, "ns", 1, 0xfffffffeu, v, why)) return false;
    o.nsid = static_cast<std::uint32_t>(v);
    v = o.queue_depth;
    if (!parse_bounded(params, "qd", 2, 65536, v, why)) return false;
    o.queue_depth = static_cast<std::uint32_t>(v);
    v = o.max_io_queues;
    if (!parse_bounded(params, "queues", 1, 65535, v, why)) return false;
    o.max_io_queues = static_cast<std::uint32_t>(v);
    v = o.shadow_doorbells ? 1 : 0;
    if (!parse_bounded(params, "dbbc", 0, 1, v, why)) return false;
    o.shadow_doorbells = v != 0;
    v = static_cast<std::uint64_t>(o.io_timeout.count());
    if (!parse_bounded(params, "timeout_ms", 1, 3600000, v, why)) return false;
    o.io_timeout = std::chrono::milliseconds(v);
    out = o;
    return true;
}

}  // namespace convme::driver
