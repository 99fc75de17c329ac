// make_vfio_device: vfio:BDF?... -> preflight doctor -> VFIO pci_device -> NVMe block device.
#include "driver/doctor.hpp"
#include "driver/nvme_block_device.hpp"
#include "driver/vfio/vfio_pci_device.hpp"
#include "driver/vfio/vfio_uri.hpp"
#include "runtime/backends/factories.hpp"

#include <convme/error.hpp>

#include <cerrno>

namespace convme::backends {

std::unique_ptr<block_device> make_vfio_device(const device_uri& uri, std::error_code& ec,
                                               std::string& why) {
    using namespace convme::driver;
    vfio::vfio_uri_options opts;
    if (!vfio::parse_vfio_uri(uri, opts, why)) {
        ec = make_error_code(errc::bad_uri);
        return nullptr;
    }

    // Preflight: refuse with the doctor's explanation rather than a bare ioctl errno.
    doctor_options d;
    d.sys_root = opts.open.sys_root;
    d.dev_root = opts.open.dev_root;
    d.proc_root = opts.proc_root;
    d.bdf = opts.open.bdf;
    d.mode = vfio::vfio_mode_name(opts.open.mode);
    const auto findings = run_doctor(d);
    if (has_fatal(findings)) {
        int code = ENODEV;
        for (const auto& f : findings)
            if (f.level == finding::fatal && f.code != 0) {
                code = f.code;
                break;
            }
        ec = errno_code(-code);
        why = "vfio:" + opts.open.bdf + ": preflight checks failed (run `convme doctor " + opts.open.bdf +
              "` for the full report):\n" + format_findings(findings, /*only_problems=*/true);
        return nullptr;
    }

    int err = 0;
    std::string open_why;
    auto dev = vfio::vfio_pci_device::open(opts.open, err, open_why);
    if (!dev) {
        ec = errno_code(err);
        why = "vfio:" + opts.open.bdf + ": " + open_why;
        return nullptr;
    }
    return make_nvme_block_device(std::move(dev), opts.nvme, ec, why);
}

}  // namespace convme::backends
