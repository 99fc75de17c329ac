#include "driver/vfio/vfio_uri.hpp"

#include "driver/vfio/pci_address.hpp"
#include "driver/vfio/sysfs.hpp"

namespace convme::driver::vfio {

bool parse_vfio_mode(const std::string& text, vfio_mode& out) {
    if (text == "auto") out = vfio_mode::automatic;
    else if (text == "iommu") out = vfio_mode::iommu;
    else if (text == "noiommu") out = vfio_mode::noiommu;
    else return false;
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
        why = "vfio URI target: " + bdf_why;
        return false;
    }
    auto params = uri.params;
    if (auto it = params.find("mode"); it != params.end()) {
        if (!parse_vfio_mode(it->second, out.open.mode)) {
            why = "vfio URI parameter mode='" + it->second + "': expected auto, iommu or noiommu";
            return false;
        }
        params.erase(it);
    }
    if (auto it = params.find("root"); it != params.end()) {
        if (it->second.empty()) {
            why = "vfio URI parameter root= is empty";
            return false;
        }
        out.open.sys_root = join_path(it->second, "sys");
        out.open.dev_root = join_path(it->second, "dev");
        out.proc_root = join_path(it->second, "proc");
        params.erase(it);
    }
    std::string nvme_why;
    if (!parse_nvme_options(params, out.nvme, nvme_why)) {
        why = "vfio URI: " + nvme_why;
        return false;
    }
    return true;
}

}  // namespace convme::driver::vfio
