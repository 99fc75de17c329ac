// SPDX-License-Identifier: MIT
// vfio:BDF?... -> preflight doctor -> VFIO pci_device -> NVMe block device.
#include "driver/vfio/vfio_device.hpp"

#include <cerrno>
#include <convme/error.hpp>

#include "driver/nvme/nvme_block_device.hpp"
#include "driver/vfio/doctor/doctor.hpp"
#include "driver/vfio/pci_address.hpp"
#include "driver/vfio/vfio_pci_device.hpp"
#include "driver/vfio/vfio_uri.hpp"

namespace convme::driver::vfio {

bool check_vfio_target(device_uri& uri, std::string& why) {
    std::string bdf;
    if (!normalize_bdf(uri.target, bdf, why)) {
        why = "vfio: " + why;
        return false;
    }
    uri.target = std::move(bdf);
    return true;
}

std::unique_ptr<block_device> open_vfio_device(const device_uri& uri, std::error_code& ec,
                                               std::string& why) {
    vfio_uri_options opts;
    if (!parse_vfio_uri(uri, opts, why)) {
        ec = make_error_code(errc::bad_uri);
        return nullptr;
    }

    // Preflight: refuse with the doctor's explanation rather than a bare ioctl errno.
    doctor_options d;
    d.sys_root = opts.open.sys_root;
    d.dev_root = opts.open.dev_root;
    d.proc_root = opts.proc_root;
    d.bdf = opts.open.bdf;
    d.mode = vfio_mode_name(opts.open.mode);
    const auto findings = run_doctor(d);
    if (has_fatal(findings)) {
        int code = ENODEV;
        for (const auto& f : findings)
            if (f.level == finding::fatal && f.code != 0) {
                code = f.code;
                break;
            }
        ec = errno_code(-code);
        why = "vfio:" + opts.open.bdf + ": preflight checks failed (run `convme doctor " +
              opts.open.bdf + "` for the full report):\n" +
              format_findings(findings, /*only_problems=*/true);
        return nullptr;
    }

    int err = 0;
    std::string open_why;
    auto dev = vfio_pci_device::open(opts.open, err, open_why);
    if (!dev) {
        ec = errno_code(err);
        why = "vfio:" + opts.open.bdf + ": " + open_why;
        return nullptr;
    }
    return make_nvme_block_device(std::move(dev), opts.nvme, ec, why);
}

}  // namespace convme::driver::vfio
