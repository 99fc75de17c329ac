// SPDX-License-Identifier: MIT
// irq_affinity=loop: finding a vfio-pci vector's host IRQ (/proc/interrupts, msi_irqs/), the
// pinned-loop decision and the smp_affinity_list write, over a fake /proc and /sys.
#include "driver/vfio/irq_affinity.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <map>
#include <sstream>

#include "driver/vfio/vfio_uri.hpp"
#include "fake_system.hpp"
#include "vfio_test_uri.hpp"

namespace convme {
namespace {

using namespace driver::vfio;

// What a 2-vCPU guest shows with convme's loop running completion=interrupt on 0000:00:04.0
// (vectors 1 and 2 bound) next to the kernel's own nvme driver on 0000:00:05.0.
constexpr const char* interrupts_text =
    "           CPU0       CPU1       \n"
    "  0:         35          0   IO-APIC   2-edge      timer\n"
    " 24:          0       1751   PCI-MSI 65537-edge      vfio-msix[1](0000:00:04.0)\n"
    " 25:          3          0   PCI-MSI 65538-edge      vfio-msix[2](0000:00:04.0)\n"
    " 26:        120          0   PCI-MSI 81920-edge      nvme0q0\n"
    " 27:          0          0   PCI-MSI 65547-edge      vfio-msix[11](0000:00:04.0)\n"
    " 28:          0          0   PCI-MSI 98305-edge      vfio-msix[1](0000:00:06.0), other\n"
    "NMI:          0          0   Non-maskable interrupts\n"
    "LOC:       9000       8000   Local timer interrupts\n";

TEST(IrqAffinity, FindsTheVectorsLineInProcInterrupts) {
    EXPECT_EQ(find_vfio_msix_irq(interrupts_text, "0000:00:04.0", 1), 24u);
    EXPECT_EQ(find_vfio_msix_irq(interrupts_text, "0000:00:04.0", 2), 25u);
    EXPECT_EQ(find_vfio_msix_irq(interrupts_text, "0000:00:04.0", 11), 27u);  // not vector 1's
    EXPECT_EQ(find_vfio_msix_irq(interrupts_text, "0000:00:06.0", 1), 28u);   // shared line
    EXPECT_FALSE(find_vfio_msix_irq(interrupts_text, "0000:00:04.0", 3));     // not bound
    EXPECT_FALSE(find_vfio_msix_irq(interrupts_text, "0000:00:05.0", 0));     // kernel's nvme
    EXPECT_FALSE(find_vfio_msix_irq("", "0000:00:04.0", 1));
    EXPECT_FALSE(find_vfio_msix_irq("garbage without colon\nx: vfio-msix[1](0000:00:04.0)\n",
                                    "0000:00:04.0", 1));
}

TEST(IrqAffinity, MsiIrqsAreOrderedNumerically) {
    test::fake_system fs;
    fs.mkdir("sys/bus/pci/devices/0000:00:04.0/msi_irqs");
    for (const char* irq : {"100", "24", "25", "9", "not-a-number"})
        fs.write(std::string("sys/bus/pci/devices/0000:00:04.0/msi_irqs/") + irq, "msix\n");
    EXPECT_EQ(list_msi_irqs(fs.path("sys"), "0000:00:04.0"),
              (std::vector<unsigned>{9, 24, 25, 100}));
    EXPECT_TRUE(list_msi_irqs(fs.path("sys"), "0000:00:09.0").empty());
}

TEST(IrqAffinity, HostIrqPrefersProcInterruptsThenMsiIrqs) {
    test::fake_system fs;
    fs.write("proc/interrupts", interrupts_text);
    fs.mkdir("sys/bus/pci/devices/0000:00:04.0/msi_irqs");
    for (const char* irq : {"40", "41", "42", "43"})
        fs.write(std::string("sys/bus/pci/devices/0000:00:04.0/msi_irqs/") + irq, "msix\n");
    std::string why;
    EXPECT_EQ(host_irq_of_vector(fs.path("proc"), fs.path("sys"), "0000:00:04.0", 2, why), 25u);
    // Vector 3 is not in /proc/interrupts: position 3 of msi_irqs/.
    EXPECT_EQ(host_irq_of_vector(fs.path("proc"), fs.path("sys"), "0000:00:04.0", 3, why), 43u);
    EXPECT_FALSE(host_irq_of_vector(fs.path("proc"), fs.path("sys"), "0000:00:04.0", 4, why));
    EXPECT_NE(why.find("vfio-msix[4](0000:00:04.0)"), std::string::npos) << why;
    EXPECT_NE(why.find("4 entries"), std::string::npos) << why;
}

TEST(IrqAffinity, OnlyAPinnedLoopIsSteered) {
    std::string why;
    EXPECT_EQ(single_cpu({3}, why), 3u);
    EXPECT_FALSE(single_cpu({0, 1}, why));
    EXPECT_NE(why.find("2 CPUs (not pinned"), std::string::npos) << why;
    EXPECT_FALSE(single_cpu({}, why));
    EXPECT_NE(why.find("unknown"), std::string::npos) << why;
    EXPECT_FALSE(calling_thread_cpus().empty());
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

TEST(IrqAffinity, SteersThePinnedLoopsVector) {
    test::fake_system fs;
    fs.write("proc/interrupts", interrupts_text);
    fs.write("proc/irq/24/smp_affinity_list", "0-1\n");
    unsigned cpu = 99;
    std::string why;
    ASSERT_EQ(steer_vector(fs.path("proc"), fs.path("sys"), "0000:00:04.0", 1, {1}, cpu, why), 0)
        << why;
    EXPECT_EQ(cpu, 1u);
    EXPECT_EQ(read_file(fs.path("proc/irq/24/smp_affinity_list")), "1\n");
}

TEST(IrqAffinity, FailuresSayWhyAndTouchNothing) {
    test::fake_system fs;
    fs.write("proc/interrupts", interrupts_text);
    fs.write("proc/irq/24/smp_affinity_list", "0-1\n");
    unsigned cpu = 99;
    std::string why;
    // Unpinned loop: nothing written.
    EXPECT_EQ(steer_vector(fs.path("proc"), fs.path("sys"), "0000:00:04.0", 1, {0, 1}, cpu, why),
              -EINVAL);
    EXPECT_EQ(read_file(fs.path("proc/irq/24/smp_affinity_list")), "0-1\n");
    // Unknown vector.
    EXPECT_EQ(steer_vector(fs.path("proc"), fs.path("sys"), "0000:00:04.0", 7, {0}, cpu, why),
              -ENOENT);
    // IRQ directory missing (the write fails with ENOENT and names the path).
    EXPECT_EQ(steer_vector(fs.path("proc"), fs.path("sys"), "0000:00:04.0", 2, {0}, cpu, why),
              -ENOENT);
    EXPECT_NE(why.find("irq/25/smp_affinity_list"), std::string::npos) << why;
    EXPECT_EQ(cpu, 99u);
}

TEST(IrqAffinity, WithoutPermissionItSaysRoot) {
    if (::geteuid() == 0) GTEST_SKIP() << "root may write a read-only file";
    test::fake_system fs;
    fs.write("proc/irq/24/smp_affinity_list", "0-1\n");
    ASSERT_EQ(::chmod(fs.path("proc/irq/24/smp_affinity_list").c_str(), 0444), 0);
    std::string why;
    EXPECT_EQ(write_irq_affinity(fs.path("proc"), 24, 0, why), -EACCES);
    EXPECT_NE(why.find("needs root"), std::string::npos) << why;
}

device_uri vfio_uri(std::map<std::string, std::string> params) {
    return test::vfio_test_uri("0000:01:00.0", std::move(params));
}

TEST(IrqAffinity, UriParameter) {
    vfio_uri_options o;
    std::string why;
    ASSERT_TRUE(parse_vfio_uri(vfio_uri({}), o, why)) << why;
    EXPECT_TRUE(o.open.irq_affinity);
    ASSERT_TRUE(parse_vfio_uri(vfio_uri({{"irq_affinity", "off"}}), o, why)) << why;
    EXPECT_FALSE(o.open.irq_affinity);
    ASSERT_TRUE(parse_vfio_uri(vfio_uri({{"irq_affinity", "loop"}, {"root", "/tmp/r"}}), o, why))
        << why;
    EXPECT_TRUE(o.open.irq_affinity);
    EXPECT_EQ(o.open.proc_root, "/tmp/r/proc");
    EXPECT_FALSE(parse_vfio_uri(vfio_uri({{"irq_affinity", "all"}}), o, why));
    EXPECT_NE(why.find("irq_affinity"), std::string::npos) << why;
}

}  // namespace
}  // namespace convme
