// SPDX-License-Identifier: MIT
// run_doctor: gathers identity facts, then runs the checks in dependency order.
#include "driver/vfio/doctor/doctor.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>

#include "driver/vfio/doctor/doctor_context.hpp"
#include "driver/vfio/pci_address.hpp"

namespace convme::driver {

doctor_options doctor_options::under(const std::string& root) {
    doctor_options o;
    o.sys_root = vfio::join_path(root, "sys");
    o.dev_root = vfio::join_path(root, "dev");
    o.proc_root = vfio::join_path(root, "proc");
    return o;
}

bool has_fatal(const std::vector<finding>& findings) noexcept {
    for (const auto& f : findings)
        if (f.level == finding::fatal) return true;
    return false;
}

namespace doctor_detail {

void gather_identity(context& c) {
    const bool real_proc = c.opt.proc_root == "/proc";
    utsname u{};
    const bool have_uname = ::uname(&u) == 0;
    c.kernel_release = vfio::read_attr(c.proc("sys/kernel/osrelease")).value_or("");
    if (c.kernel_release.empty() && real_proc && have_uname) c.kernel_release = u.release;
    // /proc/sys/kernel/arch exists on newer kernels; fall back to uname for the real system.
    c.machine = vfio::read_attr(c.proc("sys/kernel/arch")).value_or("");
    if (c.machine.empty() && real_proc && have_uname) c.machine = u.machine;

    c.uid = c.opt.uid ? *c.opt.uid : static_cast<std::uint32_t>(::geteuid());
    c.gid = c.opt.gid ? *c.opt.gid : static_cast<std::uint32_t>(::getegid());
    if (!c.opt.uid) {
        gid_t list[64];
        int n = ::getgroups(64, list);
        for (int i = 0; i < n; ++i) c.groups.push_back(static_cast<std::uint32_t>(list[i]));
    }
}

}  // namespace doctor_detail

std::vector<finding> run_doctor(const doctor_options& opts) {
    std::vector<finding> out;
    doctor_detail::context c{opts, out};
    if (opts.mode != "auto" && opts.mode != "iommu" && opts.mode != "noiommu") {
        c.add(finding::fatal, "unknown mode '" + opts.mode + "'",
              "mode selects how DMA is isolated", "use mode=auto, mode=iommu or mode=noiommu",
              EINVAL);
        return out;
    }
    if (!opts.bdf.empty()) {
        std::string why;
        if (!vfio::normalize_bdf(opts.bdf, c.bdf, why)) {
            c.add(finding::fatal, "PCI address '" + opts.bdf + "' is malformed", why,
                  "list NVMe controllers with: lspci -D -d ::0108", EINVAL);
            return out;
        }
    }
    doctor_detail::gather_identity(c);
    doctor_detail::check_iommu(c);
    doctor_detail::check_interrupt_remapping(c);
    doctor_detail::check_known_bad_platform(c);
    doctor_detail::check_vfio_modules(c);
    if (!c.bdf.empty()) {
        doctor_detail::check_device(c);
        doctor_detail::check_group(c);
        doctor_detail::check_completion_modes(c);
    }
    doctor_detail::check_dev_nodes(c);
    doctor_detail::check_memlock(c);
    doctor_detail::check_hugepages(c);
    doctor_detail::check_noiommu_pinning(c);
    return out;
}

}  // namespace convme::driver
