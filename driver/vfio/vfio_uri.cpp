// SPDX-License-Identifier: MIT
#include "driver/vfio/vfio_uri.hpp"

#include "driver/vfio/pci_address.hpp"
#include "driver/vfio/sysfs.hpp"
#include "runtime/core/uri_params.hpp"

namespace convme::driver::vfio {

bool parse_vfio_mode(const std::string& text, vfio_mode& out) {
    if (text == "auto")
        out = vfio_mode::automatic;
    else if (text == "iommu")
        out = vfio_mode::iommu;
    else if (text == "noiommu")
        out = vfio_mode::noiommu;
    else
        return false;
    return true;
}

bool parse_vfio_uri(const device_uri& uri, vfio_uri_options& out, std::string& why) {
    out = {};
    if (uri.scheme != "vfio") {
        why = "scheme '" + uri.scheme + "' is not vfio";
        return false;
    }
    std::string bdf_why;
    if (!normalize_bdf(uri.target, out.open.bdf, bdf_why)) {
        why = "vfio: " + bdf_why;
        return false;
    }
    static constexpr std::string_view vfio_keys[] = {"mode", "root", "irq_affinity"};
    if (!backends::check_known_params(uri, vfio_keys, nvme_option_keys, why)) return false;
    std::string mode;
    if (!backends::param_choice(uri, "mode", {"auto", "iommu", "noiommu"}, "auto", mode, why))
        return false;
    parse_vfio_mode(mode, out.open.mode);
    std::string affinity;
    if (!backends::param_choice(uri, "irq_affinity", {"loop", "off"}, "loop", affinity, why))
        return false;
    out.open.irq_affinity = affinity == "loop";
    if (auto it = uri.params.find("root"); it != uri.params.end()) {
        if (it->second.empty()) {
            why = "vfio: parameter root= is empty";
            return false;
        }
        out.open.sys_root = join_path(it->second, "sys");
        out.open.dev_root = join_path(it->second, "dev");
        out.proc_root = join_path(it->second, "proc");
        out.open.proc_root = out.proc_root;
    }
    // vfio's default completion mode is hybrid (measured against poll in the lab:
    // tests/lab/README.md); parse_nvme_options marks it as a default, so a function without
    // usable interrupts falls back to poll at open instead of failing.
    out.nvme.completion = completion_mode::hybrid;
    return parse_nvme_options(uri, out.nvme, why);
}

}  // namespace convme::driver::vfio
