// SPDX-License-Identifier: MIT
// make_nvme_block_device / parse_nvme_options: the entry points sim: and vfio: URIs use.
#include "driver/nvme/nvme_block_device.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <convme/error.hpp>
#include <convme/nvme.hpp>
#include <cstring>

#include "driver/nvme/controller.hpp"
#include "driver/nvme/nvme_device.hpp"
#include "runtime/core/uri_params.hpp"

namespace convme::driver {

namespace {
// "" when vector 1 (the first I/O queue's) can be routed to an eventfd, else why not. Routing it
// is what the first interrupt-driven queue does; VFIO enables MSI-X here (the vector is unrouted
// again at once, MSI-X stays enabled for the queues).
std::string interrupts_unusable(pci_device& dev) {
    if (dev.irq_vectors() < 2) return dev.irq_unavailable();
    const int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0) return std::string("eventfd: ") + std::strerror(errno);
    std::string why;
    if (dev.bind_irq_eventfd(1, efd) != 0)
        why = dev.last_error();
    else
        (void)dev.bind_irq_eventfd(1, -1);
    ::close(efd);
    return why;
}
}  // namespace

std::unique_ptr<block_device> make_nvme_block_device(std::unique_ptr<pci_device> dev,
                                                     const nvme_options& asked, std::error_code& ec,
                                                     std::string& why) {
    if (!dev) {
        ec = make_error_code(std::errc::invalid_argument);
        why = "nvme: no PCI device given";
        return nullptr;
    }
    const std::string name = dev->name();
    try {
        nvme_options options = asked;
        if (options.completion != completion_mode::poll && options.completion_by_default) {
            if (std::string no = interrupts_unusable(*dev); !no.empty()) {
                options.completion_fallback =
                    std::string(completion_mode_name(options.completion)) +
                    ", the default, needs MSI-X interrupts: " + no;
                options.completion = completion_mode::poll;
            }
        }
        auto ctrl = std::make_unique<controller>(std::move(dev), options);
        if (int rc = ctrl->bring_up(why); rc != 0) {
            ec = result_code(rc);
            why = "nvme " + name + ": controller bring-up: " + why;
            return nullptr;
        }
        auto blk = std::make_unique<nvme_device>(std::move(ctrl));
        if (int rc = blk->init(why); rc != 0) {
            ec = result_code(rc);
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

std::string nvme_irq_affinity(block_device& dev) {
    controller* c = nvme_controller_of(dev);
    if (!c || c->options().completion == completion_mode::poll) return {};
    return c->dev().irq_affinity_note();
}

const char* completion_mode_name(completion_mode m) noexcept {
    switch (m) {
        case completion_mode::interrupt:
            return "interrupt";
        case completion_mode::hybrid:
            return "hybrid";
        case completion_mode::poll:
            break;
    }
    return "poll";
}

namespace {
// spin_us=auto (an adaptive window, spin_window.hpp) or a fixed window in microseconds.
bool parse_spin_us(const device_uri& uri, nvme_options& o, std::string& why) {
    if (const auto it = uri.params.find("spin_us");
        it != uri.params.end() && it->second == "auto") {
        o.hybrid_spin_auto = true;
        return true;
    }
    std::uint64_t spin;
    if (!backends::param_uint(uri, "spin_us", static_cast<std::uint64_t>(o.hybrid_spin.count()), 0,
                              1'000'000, spin, why)) {
        why += " (or spin_us=auto)";
        return false;
    }
    if (uri.params.count("spin_us") != 0) o.hybrid_spin_auto = false;
    o.hybrid_spin = std::chrono::microseconds(spin);
    return true;
}
}  // namespace

bool parse_nvme_options(const device_uri& uri, nvme_options& out, std::string& why) {
    using backends::param_bool;
    using backends::param_uint;
    nvme_options o = out;
    std::uint64_t ns, qd, queues, timeout, spin_max, thr, thr_us;
    std::string mode, mask;
    if (!backends::param_choice(uri, "completion", {"poll", "interrupt", "hybrid"},
                                completion_mode_name(o.completion), mode, why) ||
        !backends::param_choice(uri, "irq_mask", {"awake", "off"},
                                o.irq_mask_awake ? "awake" : "off", mask, why) ||
        !parse_spin_us(uri, o, why) ||
        !param_uint(uri, "spin_max_us", static_cast<std::uint64_t>(o.hybrid_spin_max.count()), 50,
                    1'000'000, spin_max, why) ||
        !param_uint(uri, "irq_coalesce", o.coalesce_threshold, 0, 256, thr, why) ||
        !param_uint(uri, "irq_coalesce_us", o.coalesce_time_us, 0, 25500, thr_us, why))
        return false;
    o.completion = mode == "interrupt" ? completion_mode::interrupt
                   : mode == "hybrid"  ? completion_mode::hybrid
                                       : completion_mode::poll;
    o.completion_by_default = uri.params.count("completion") == 0;
    o.irq_mask_awake = mask == "awake";
    o.hybrid_spin_max = std::chrono::microseconds(spin_max);
    o.coalesce_threshold = static_cast<std::uint32_t>(thr);
    o.coalesce_time_us = static_cast<std::uint32_t>(thr_us);
    if (!param_uint(uri, "ns", o.nsid, 1, 0xfffffffeu, ns, why) ||
        !param_uint(uri, "qd", o.queue_depth, 2, 65536, qd, why) ||
        !param_uint(uri, "queues", o.max_io_queues, 1, 65535, queues, why) ||
        !param_bool(uri, "dbbc", o.shadow_doorbells, o.shadow_doorbells, why) ||
        !param_uint(uri, "timeout_ms", static_cast<std::uint64_t>(o.io_timeout.count()), 1, 3600000,
                    timeout, why))
        return false;
    o.nsid = static_cast<std::uint32_t>(ns);
    o.queue_depth = static_cast<std::uint32_t>(qd);
    o.max_io_queues = static_cast<std::uint32_t>(queues);
    o.io_timeout = std::chrono::milliseconds(timeout);
    out = o;
    return true;
}

}  // namespace convme::driver
