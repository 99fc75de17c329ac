// SPDX-License-Identifier: MIT
// /dev/vfio/vfio and the group node: present and read/write for the user who will run convme.
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "driver/vfio/doctor/doctor_context.hpp"

namespace convme::driver::doctor_detail {
namespace {

std::string user_name(std::uint32_t uid) {
    if (const passwd* p = ::getpwuid(uid)) return p->pw_name;
    return "uid " + std::to_string(uid);
}

std::string group_name(std::uint32_t gid) {
    if (const group* g = ::getgrgid(gid)) return g->gr_name;
    return "gid " + std::to_string(gid);
}

bool can_read_write(const context& c, const struct stat& st) {
    if (c.uid == 0) return true;
    const mode_t m = st.st_mode;
    if (st.st_uid == c.uid) return (m & S_IRUSR) && (m & S_IWUSR);
    const bool in_group = st.st_gid == c.gid ||
                          std::find(c.groups.begin(), c.groups.end(), st.st_gid) != c.groups.end();
    if (in_group) return (m & S_IRGRP) && (m & S_IWGRP);
    return (m & S_IROTH) && (m & S_IWOTH);
}

void check_node(context& c, const std::string& path, const std::string& role,
                const std::string& missing_fix) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
        c.add(finding::fatal, path + " does not exist", role, missing_fix, ENOENT);
        return;
    }
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    const std::string owner = user_name(st.st_uid) + ":" + group_name(st.st_gid) + " mode " + mode;
    if (can_read_write(c, st)) {
        c.add(finding::ok, path + " is accessible (" + owner + ")");
        return;
    }
    const std::string me = user_name(c.uid);
    c.add(finding::fatal, path + " is not read/write for " + me + " (" + owner + ")",
          role + "; VFIO needs read/write access to it",
          "run as root, or give the user access:\n"
          "chown " +
              me + " " + path +
              "\n"
              "permanent: a udev rule in /etc/udev/rules.d/99-vfio.rules:\n"
              "SUBSYSTEM==\"vfio\", OWNER=\"" +
              me +
              "\", MODE=\"0660\"\n"
              "then: udevadm control --reload && udevadm trigger",
          EACCES);
}

}  // namespace

void check_dev_nodes(context& c) {
    check_node(c, c.dev_path("vfio/vfio"),
               "it is the VFIO container device: every VFIO user starts by opening it",
               "modprobe vfio-pci (loads vfio and creates /dev/vfio/vfio)");
    if (c.bdf.empty() || c.dev.iommu_group < 0 || c.dev.driver != "vfio-pci") return;
    const std::string g = std::to_string(c.dev.iommu_group);
    const std::string node = c.dev_path(c.dev.noiommu_group() ? "vfio/noiommu-" + g : "vfio/" + g);
    check_node(
        c, node, "it is the VFIO group device of " + c.bdf + ": the device is opened through it",
        "rebind the device to vfio-pci (the node appears when vfio-pci binds a group member)");
}

}  // namespace convme::driver::doctor_detail
