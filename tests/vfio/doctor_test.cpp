// SPDX-License-Identifier: MIT
// The preflight doctor against fake sysfs/dev/proc trees.
#include "driver/vfio/doctor/doctor.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>

#include "fake_system.hpp"

namespace convme::test {
namespace {

using driver::finding;
using driver::run_doctor;

std::string dump(const std::vector<finding>& fs) {
    return driver::format_findings(fs);
}

TEST(Doctor, HealthyIntelSetupPasses) {
    fake_system sys;
    sys.make_healthy();
    auto fs = run_doctor(sys.options("0000:01:00.0"));
    EXPECT_FALSE(driver::has_fatal(fs)) << dump(fs);
    EXPECT_EQ(count_level(fs, finding::warning), 0) << dump(fs);
    EXPECT_NE(find_finding(fs, finding::ok, "intel-iommu"), nullptr) << dump(fs);
    EXPECT_NE(find_finding(fs, finding::ok, "bound to vfio-pci"), nullptr) << dump(fs);
    EXPECT_NE(find_finding(fs, finding::ok, "IOMMU group 12"), nullptr) << dump(fs);
    EXPECT_NE(find_finding(fs, finding::ok, "interrupt remapping"), nullptr) << dump(fs);
    EXPECT_NE(find_finding(fs, finding::ok, "/dev/vfio/12 is accessible"), nullptr) << dump(fs);
    EXPECT_NE(find_finding(fs, finding::ok, "hugepages"), nullptr) << dump(fs);
}

TEST(Doctor, ShortBdfIsAccepted) {
    fake_system sys;
    sys.make_healthy();
    auto fs = run_doctor(sys.options("01:00.0"));
    EXPECT_FALSE(driver::has_fatal(fs)) << dump(fs);
    EXPECT_NE(find_finding(fs, finding::ok, "0000:01:00.0 is an NVMe controller"), nullptr)
        << dump(fs);
}

TEST(Doctor, DeviceStillBoundToNvmeIsFatalWithRebindCommands) {
    fake_system sys;
    sys.make_healthy();
    sys.remove("dev/vfio/12");
    sys.add_driver("nvme");
    sys.symlink("sys/devices/pci0000:00/0000:01:00.0/driver", "sys/bus/pci/drivers/nvme");
    auto fs = run_doctor(sys.options("0000:01:00.0"));
    ASSERT_TRUE(driver::has_fatal(fs));
    const finding* f = find_finding(fs, finding::fatal, "bound to nvme");
    ASSERT_NE(f, nullptr) << dump(fs);
    EXPECT_EQ(f->code, EBUSY);
    EXPECT_NE(f->fix.find("driver_override"), std::string::npos) << f->fix;
    EXPECT_NE(f->fix.find("echo vfio-pci > /sys/bus/pci/devices/0000:01:00.0/driver_override"),
              std::string::npos)
        << f->fix;
    EXPECT_NE(f->fix.find("echo 0000:01:00.0 > /sys/bus/pci/devices/0000:01:00.0/driver/unbind"),
              std::string::npos)
        << f->fix;
    EXPECT_NE(f->fix.find("drivers_probe"), std::string::npos);
    // And the way back to the kernel driver.
    EXPECT_NE(f->fix.find("/sys/bus/pci/drivers/vfio-pci/unbind"), std::string::npos) << f->fix;
    EXPECT_NE(f->why.find("unmount"), std::string::npos) << f->why;
}

TEST(Doctor, WrongBdfIsNotFoundAndListsNvmeControllers) {
    fake_system sys;
    sys.make_healthy();
    auto fs = run_doctor(sys.options("0000:05:00.0"));
    const finding* f = find_finding(fs, finding::fatal, "not found");
    ASSERT_NE(f, nullptr) << dump(fs);
    EXPECT_EQ(f->code, ENODEV);
    EXPECT_NE(f->what.find("0000:05:00.0"), std::string::npos);
    EXPECT_NE(f->fix.find("0000:01:00.0"), std::string::npos) << f->fix;
}

TEST(Doctor, MalformedBdfIsFatal) {
    fake_system sys;
    sys.make_healthy();
    auto fs = run_doctor(sys.options("nvme0"));
    const finding* f = find_finding(fs, finding::fatal, "malformed");
    ASSERT_NE(f, nullptr) << dump(fs);
    EXPECT_EQ(f->code, EINVAL);
}

TEST(Doctor, NonNvmeClassIsFatal) {
    fake_system sys;
    sys.make_healthy();
    sys.add_pci("0000:02:00.0", 0x020000, "vfio-pci", 13);  // an Ethernet controller
    sys.add_dev_node("dev/vfio/13");
    auto fs = run_doctor(sys.options("0000:02:00.0"));
    const finding* f = find_finding(fs, finding::fatal, "not an NVMe controller");
    ASSERT_NE(f, nullptr) << dump(fs);
    EXPECT_NE(f->what.find("0x020000"), std::string::npos) << f->what;
}

TEST(Doctor, NonViableGroupNamesTheOtherMemberAndItsDriver) {
    fake_system sys;
    sys.make_healthy();
    sys.add_pci("0000:01:00.1", 0x020000, "e1000e", 12);  // shares group 12
    sys.add_pci("0000:01:00.2", 0x0c0330, "", 12);        // unbound: harmless
    auto fs = run_doctor(sys.options("0000:01:00.0"));
    const finding* f = find_finding(fs, finding::fatal, "not viable");
    ASSERT_NE(f, nullptr) << dump(fs);
    EXPECT_EQ(f->code, EBUSY);
    EXPECT_NE(f->what.find("0000:01:00.1 bound to e1000e"), std::string::npos) << f->what;
    EXPECT_EQ(f->what.find("0000:01:00.2"), std::string::npos) << f->what;
    EXPECT_NE(f->why.find("0000:01:00.2 (no driver)"), std::string::npos) << f->why;
    EXPECT_NE(f->fix.find("echo 0000:01:00.1 > /sys/bus/pci/devices/0000:01:00.1/driver/unbind"),
              std::string::npos)
        << f->fix;
    EXPECT_NE(f->fix.find("/sys/bus/pci/devices/0000:01:00.1/driver_override"), std::string::npos)
        << f->fix;
}

TEST(Doctor, NoIommuAndNoNoiommuSupportIsFatal) {
    fake_system sys;
    sys.mkdir("sys/module/vfio");  // vfio loaded, but without enable_unsafe_noiommu_mode
    sys.mkdir("sys/module/vfio_pci");
    sys.add_pci("0000:01:00.0", 0x010802, "nvme", -1);
    sys.add_dev_node("dev/vfio/vfio");
    auto fs = run_doctor(sys.options("0000:01:00.0"));
    const finding* f = find_finding(fs, finding::fatal, "no IOMMU");
    ASSERT_NE(f, nullptr) << dump(fs);
    EXPECT_NE(f->what.find("CONFIG_VFIO_NOIOMMU"), std::string::npos) << f->what;
    EXPECT_NE(f->fix.find("rebuild vfio.ko"), std::string::npos) << f->fix;
    EXPECT_NE(f->fix.find("uring"), std::string::npos) << f->fix;
}

TEST(Doctor, NoIommuWithNoiommuDisabledSaysHowToEnable) {
    fake_system sys;
    sys.set_module_param("vfio", "enable_unsafe_noiommu_mode", "N");
    sys.mkdir("sys/module/vfio_pci");
    sys.add_dev_node("dev/vfio/vfio");
    auto fs = run_doctor(sys.options());
    const finding* f = find_finding(fs, finding::fatal, "no-IOMMU mode is disabled");
    ASSERT_NE(f, nullptr) << dump(fs);
    EXPECT_NE(f->fix.find("enable_unsafe_noiommu_mode"), std::string::npos);
}

TEST(Doctor, NoiommuGroupWorksForRootOnlyAndWarnsAboutSafety) {
    fake_system sys;
    sys.set_module_param("vfio", "enable_unsafe_noiommu_mode", "Y");
    sys.mkdir("sys/module/vfio_pci");
    sys.add_pci("0000:00:03.0", 0x010802, "vfio-pci", 0, "vfio-noiommu");
    sys.add_dev_node("dev/vfio/vfio");
    sys.add_dev_node("dev/vfio/noiommu-0");
    sys.set_hugepages(64, 64);
    sys.write("proc/sys/vm/compact_unevictable_allowed", "0\n");

    auto fs = run_doctor(sys.options("0000:00:03.0"));
    EXPECT_FALSE(driver::has_fatal(fs)) << dump(fs);
    EXPECT_NE(find_finding(fs, finding::warning, "no-IOMMU mode is enabled"), nullptr) << dump(fs);
    EXPECT_NE(find_finding(fs, finding::ok, "/dev/vfio/noiommu-0 is accessible"), nullptr)
        << dump(fs);
    EXPECT_NE(find_finding(fs, finding::ok, "vm.compact_unevictable_allowed=0"), nullptr)
        << dump(fs);

    auto opts = sys.options("0000:00:03.0");
    opts.uid = 1000;
    opts.gid = 1000;
    fs = run_doctor(opts);
    const finding* f = find_finding(fs, finding::fatal, "needs root");
    ASSERT_NE(f, nullptr) << dump(fs);
    EXPECT_EQ(f->code, EPERM);

    opts = sys.options("0000:00:03.0");
    opts.mode = "iommu";
    fs = run_doctor(opts);
    EXPECT_NE(find_finding(fs, finding::fatal, "mode=iommu"), nullptr) << dump(fs);
}

// Issue 11, bug 5: what no-IOMMU DMA needs so that memory never moves under the device.
TEST(Doctor, NoiommuRefusesWithoutHugepagesOrWithCompactionOfLockedPages) {
    fake_system sys;
    sys.set_module_param("vfio", "enable_unsafe_noiommu_mode", "Y");
    sys.mkdir("sys/module/vfio_pci");
    sys.add_pci("0000:00:03.0", 0x010802, "vfio-pci", 0, "vfio-noiommu");
    sys.add_dev_node("dev/vfio/vfio");
    sys.add_dev_node("dev/vfio/noiommu-0");
    sys.set_hugepages(0, 0);
    sys.write("proc/sys/vm/compact_unevictable_allowed", "1\n");

    auto fs = run_doctor(sys.options("0000:00:03.0"));
    EXPECT_TRUE(driver::has_fatal(fs)) << dump(fs);
    const finding* huge = find_finding(fs, finding::fatal, "hugepages: none reserved");
    ASSERT_NE(huge, nullptr) << dump(fs);
    EXPECT_NE(huge->why.find("hugetlbfs"), std::string::npos) << huge->why;
    EXPECT_NE(huge->fix.find("nr_hugepages"), std::string::npos) << huge->fix;
    const finding* compact = find_finding(fs, finding::fatal, "vm.compact_unevictable_allowed=1");
    ASSERT_NE(compact, nullptr) << dump(fs);
    EXPECT_NE(compact->why.find("migrates mlocked pages"), std::string::npos) << compact->why;
    EXPECT_NE(compact->fix.find("sysctl -w vm.compact_unevictable_allowed=0"), std::string::npos)
        << compact->fix;

    // The same machine used through an IOMMU needs neither.
    fake_system iommu;
    iommu.make_healthy();
    iommu.set_hugepages(0, 0);
    iommu.write("proc/sys/vm/compact_unevictable_allowed", "1\n");
    fs = run_doctor(iommu.options("0000:01:00.0"));
    EXPECT_FALSE(driver::has_fatal(fs)) << dump(fs);
    EXPECT_EQ(find_finding(fs, finding::fatal, "compact_unevictable"), nullptr) << dump(fs);
}

TEST(Doctor, Tx2LikeKnownBadPlatformIsRefusedUnlessNoiommu) {
    fake_system sys;
    sys.set_kernel("4.4.38-tegra");
    // 4.4 has no /sys/class/iommu entries; the SMMU shows up as a platform driver.
    sys.mkdir("sys/bus/platform/drivers/arm-smmu/12000000.iommu");
    sys.mkdir("sys/module/vfio");
    sys.mkdir("sys/module/vfio_pci");
    sys.add_pci("0000:01:00.0", 0x010802, "vfio-pci", 7);
    sys.add_dev_node("dev/vfio/vfio");
    sys.add_dev_node("dev/vfio/7");
    auto fs = run_doctor(sys.options("0000:01:00.0"));
    const finding* f = find_finding(fs, finding::fatal, "Tegra");
    ASSERT_NE(f, nullptr) << dump(fs);
    EXPECT_EQ(f->code, ENOTSUP);
    EXPECT_NE(f->what.find("4.4.38-tegra"), std::string::npos);
    EXPECT_NE(f->why.find("oops"), std::string::npos) << f->why;
    EXPECT_NE(f->fix.find("noiommu"), std::string::npos) << f->fix;
    EXPECT_NE(f->fix.find("uring"), std::string::npos) << f->fix;

    // The same kernel on a board without an SMMU is not flagged.
    sys.remove("sys/bus/platform/drivers/arm-smmu");
    fs = run_doctor(sys.options("0000:01:00.0"));
    EXPECT_EQ(find_finding(fs, finding::fatal, "Tegra"), nullptr) << dump(fs);
}

TEST(Doctor, Tx2WithNoiommuModeIsOnlyAWarning) {
    fake_system sys;
    sys.set_kernel("4.4.38-tegra");
    sys.mkdir("sys/bus/platform/drivers/arm-smmu/12000000.iommu");
    auto opts = sys.options();
    opts.mode = "noiommu";
    auto fs = run_doctor(opts);
    EXPECT_EQ(find_finding(fs, finding::fatal, "Tegra"), nullptr) << dump(fs);
    EXPECT_NE(find_finding(fs, finding::warning, "Tegra"), nullptr) << dump(fs);
}

TEST(Doctor, MemlockTooLowForNonRoot) {
    fake_system sys;
    sys.make_healthy();
    sys.set_memlock("65536");
    auto opts = sys.options("0000:01:00.0");
    opts.uid = 1000;
    opts.gid = 1000;
    ::chmod(sys.path("dev/vfio/vfio").c_str(), 0666);
    ::chmod(sys.path("dev/vfio/12").c_str(), 0666);
    auto fs = run_doctor(opts);
    const finding* f = find_finding(fs, finding::fatal, "RLIMIT_MEMLOCK is 64 KiB");
    ASSERT_NE(f, nullptr) << dump(fs);
    EXPECT_EQ(f->code, ENOMEM);
    EXPECT_NE(f->fix.find("ulimit -l"), std::string::npos);
    EXPECT_NE(f->fix.find("/etc/security/limits.conf"), std::string::npos);
    EXPECT_NE(f->fix.find("LimitMEMLOCK"), std::string::npos);

    sys.set_memlock("8388608");  // Debian default 8 MiB: works but tight
    fs = run_doctor(opts);
    EXPECT_NE(find_finding(fs, finding::warning, "RLIMIT_MEMLOCK is 8 MiB"), nullptr) << dump(fs);
    EXPECT_FALSE(driver::has_fatal(fs)) << dump(fs);

    // Root is not limited by it.
    fs = run_doctor(sys.options("0000:01:00.0"));
    EXPECT_NE(find_finding(fs, finding::ok, "RLIMIT_MEMLOCK"), nullptr) << dump(fs);
}

TEST(Doctor, GroupNodeWithoutPermissionNamesOwnerAndUdevFix) {
    fake_system sys;
    sys.make_healthy();
    ::chmod(sys.path("dev/vfio/12").c_str(), 0600);
    struct stat st;
    ASSERT_EQ(::stat(sys.path("dev/vfio/12").c_str(), &st), 0);
    auto opts = sys.options("0000:01:00.0");
    opts.uid = st.st_uid + 4242;  // somebody who is neither owner nor in the group
    opts.gid = st.st_gid + 4242;
    auto fs = run_doctor(opts);
    const finding* f = find_finding(fs, finding::fatal, "/dev/vfio/12 is not read/write");
    ASSERT_NE(f, nullptr) << dump(fs);
    EXPECT_EQ(f->code, EACCES);
    EXPECT_NE(f->what.find("mode 0600"), std::string::npos) << f->what;
    EXPECT_NE(f->fix.find("SUBSYSTEM==\"vfio\""), std::string::npos) << f->fix;
    EXPECT_NE(f->fix.find("chown"), std::string::npos) << f->fix;
    // /dev/vfio/vfio stays world read/write.
    EXPECT_NE(find_finding(fs, finding::ok, "/dev/vfio/vfio is accessible"), nullptr) << dump(fs);
}

TEST(Doctor, IntelWithoutInterruptRemappingIsFatalUnlessUnsafeAllowed) {
    fake_system sys;
    sys.make_healthy();
    sys.add_intel_iommu(false);
    auto fs = run_doctor(sys.options("0000:01:00.0"));
    const finding* f = find_finding(fs, finding::fatal, "interrupt remapping");
    ASSERT_NE(f, nullptr) << dump(fs);
    EXPECT_EQ(f->code, EPERM);
    EXPECT_NE(f->fix.find("allow_unsafe_interrupts=1"), std::string::npos);

    sys.set_module_param("vfio_iommu_type1", "allow_unsafe_interrupts", "Y");
    fs = run_doctor(sys.options("0000:01:00.0"));
    EXPECT_FALSE(driver::has_fatal(fs)) << dump(fs);
    EXPECT_NE(find_finding(fs, finding::warning, "allow_unsafe_interrupts=Y"), nullptr) << dump(fs);
}

// A 256-byte config space with an MSI-X capability of `vectors` entries at 0x40.
std::string config_with_msix(unsigned vectors) {
    std::string cfg(256, '\0');
    cfg[0x06] = 0x10;  // capability list
    cfg[0x34] = 0x40;
    cfg[0x40] = 0x11;
    cfg[0x42] = static_cast<char>((vectors - 1) & 0xff);
    cfg[0x43] = static_cast<char>(((vectors - 1) >> 8) & 0x7);
    return cfg;
}

TEST(Doctor, CompletionModesFollowMsixAndMsiIsolation) {
    fake_system sys;
    sys.make_healthy();
    sys.write("sys/bus/pci/devices/0000:01:00.0/config", config_with_msix(65));
    auto fs = run_doctor(sys.options("0000:01:00.0"));
    const finding* f = find_finding(fs, finding::ok, "completion modes: poll, interrupt, hybrid");
    ASSERT_NE(f, nullptr) << dump(fs);
    EXPECT_NE(f->what.find("65 MSI-X vectors: up to 64 interrupt-driven I/O queues"),
              std::string::npos)
        << f->what;

    sys.add_intel_iommu(false);  // no interrupt remapping: VFIO refuses, so no mode at all
    fs = run_doctor(sys.options("0000:01:00.0"));
    EXPECT_NE(
        find_finding(fs, finding::info, "completion modes: none until MSI isolation is fixed"),
        nullptr)
        << dump(fs);
    sys.set_module_param("vfio_iommu_type1", "allow_unsafe_interrupts", "Y");
    fs = run_doctor(sys.options("0000:01:00.0"));
    EXPECT_NE(find_finding(fs, finding::warning, "interrupts not isolated"), nullptr) << dump(fs);

    sys.write("sys/bus/pci/devices/0000:01:00.0/config", std::string(256, '\0'));
    fs = run_doctor(sys.options("0000:01:00.0"));
    EXPECT_NE(find_finding(fs, finding::info, "completion modes: poll only (no MSI-X capability)"),
              nullptr)
        << dump(fs);
}

TEST(Doctor, ArmSmmuWithGicv2IsFatalAndWithItsIsFine) {
    fake_system sys;
    sys.mkdir("sys/class/iommu/smmu3.0x0000000009050000");
    sys.mkdir("sys/module/vfio_pci");
    sys.add_pci("0000:00:01.0", 0x010802, "vfio-pci", 2);
    sys.add_dev_node("dev/vfio/vfio");
    sys.add_dev_node("dev/vfio/2");
    sys.write("proc/device-tree/intc@8000000/compatible", std::string("arm,cortex-a15-gic\0", 19));
    sys.write("proc/device-tree/intc@8000000/v2m@8020000/compatible",
              std::string("arm,gic-v2m-frame\0", 18));
    auto fs = run_doctor(sys.options("0000:00:01.0"));
    const finding* f = find_finding(fs, finding::fatal, "GICv2");
    ASSERT_NE(f, nullptr) << dump(fs);
    EXPECT_NE(f->why.find("No interrupt remapping support"), std::string::npos);
    EXPECT_NE(f->fix.find("gic-version=3"), std::string::npos);
    EXPECT_NE(f->fix.find("allow_unsafe_interrupts=1"), std::string::npos);
    EXPECT_NE(find_finding(fs, finding::ok, "arm-smmu-v3"), nullptr) << dump(fs);

    sys.remove("proc/device-tree/intc@8000000");
    sys.write("proc/device-tree/intc@8000000/compatible", std::string("arm,gic-v3\0", 11));
    sys.write("proc/device-tree/intc@8000000/its@8080000/compatible",
              std::string("arm,gic-v3-its\0", 15));
    fs = run_doctor(sys.options("0000:00:01.0"));
    EXPECT_FALSE(driver::has_fatal(fs)) << dump(fs);
    EXPECT_NE(find_finding(fs, finding::ok, "ITS"), nullptr) << dump(fs);
}

TEST(Doctor, VfioNotLoadedIsFatal) {
    fake_system sys;
    sys.add_intel_iommu(true);
    sys.add_pci("0000:01:00.0", 0x010802, "nvme", 12);
    auto fs = run_doctor(sys.options("0000:01:00.0"));
    EXPECT_NE(find_finding(fs, finding::fatal, "vfio-pci driver is not loaded"), nullptr)
        << dump(fs);
    EXPECT_NE(find_finding(fs, finding::fatal, "/dev/vfio/vfio does not exist"), nullptr)
        << dump(fs);
}

TEST(Doctor, UnknownModeIsRejected) {
    fake_system sys;
    auto opts = sys.options();
    opts.mode = "fast";
    auto fs = run_doctor(opts);
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(fs[0].level, finding::fatal);
}

TEST(Doctor, FormatAlignsAndIndentsFixLines) {
    fake_system sys;
    sys.make_healthy();
    sys.add_driver("nvme");
    sys.symlink("sys/devices/pci0000:00/0000:01:00.0/driver", "sys/bus/pci/drivers/nvme");
    auto fs = run_doctor(sys.options("0000:01:00.0"));
    const std::string text = driver::format_findings(fs);
    EXPECT_NE(text.find("[FATAL ] 0000:01:00.0 is bound to nvme"), std::string::npos) << text;
    EXPECT_NE(text.find("[  ok  ] IOMMU: intel-iommu"), std::string::npos) << text;
    EXPECT_NE(text.find("\n         fix: modprobe vfio-pci\n              echo 0000:01:00.0"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("VFIO is NOT usable"), std::string::npos);
    const std::string problems = driver::format_findings(fs, true);
    EXPECT_EQ(problems.find("[  ok  ]"), std::string::npos) << problems;
}

TEST(Doctor, RealSystemRunDoesNotCrash) {
    // Whatever this host has, the doctor must produce findings and not throw.
    driver::doctor_options opts;
    opts.bdf = "0000:00:00.0";
    auto fs = run_doctor(opts);
    EXPECT_FALSE(fs.empty());
    EXPECT_FALSE(driver::format_findings(fs).empty());
}

}  // namespace
}  // namespace convme::test
