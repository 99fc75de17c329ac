// SPDX-License-Identifier: MIT
// Opening vfio: devices where VFIO cannot work (this host, fake trees): every failure must be a
// clean error naming the step and the fix, never a crash.
#include <gtest/gtest.h>

#include <cerrno>
#include <convme/device.hpp>
#include <convme/error.hpp>

#include "driver/vfio/pci_address.hpp"
#include "driver/vfio/sysfs.hpp"
#include "driver/vfio/vfio_device.hpp"
#include "driver/vfio/vfio_pci_device.hpp"
#include "driver/vfio/vfio_uri.hpp"
#include "fake_system.hpp"
#include "vfio_test_uri.hpp"

namespace convme::test {
namespace {

using driver::vfio::normalize_bdf;
using driver::vfio::open_vfio_device;
using driver::vfio::parse_vfio_uri;
using driver::vfio::vfio_mode;
using driver::vfio::vfio_uri_options;

TEST(PciAddress, NormalizesShortAndUpperCaseForms) {
    std::string out, why;
    ASSERT_TRUE(normalize_bdf("01:00.0", out, why)) << why;
    EXPECT_EQ(out, "0000:01:00.0");
    ASSERT_TRUE(normalize_bdf("0000:AF:1F.7", out, why)) << why;
    EXPECT_EQ(out, "0000:af:1f.7");
    ASSERT_TRUE(normalize_bdf("10000:00:00.0", out, why) == false);
    EXPECT_FALSE(normalize_bdf("0000:01:20.0", out, why));  // device > 31
    EXPECT_FALSE(normalize_bdf("0000:01:00.8", out, why));  // function > 7
    EXPECT_FALSE(normalize_bdf("01:00", out, why));
    EXPECT_FALSE(normalize_bdf("", out, why));
    EXPECT_FALSE(normalize_bdf("/dev/nvme0", out, why));
    EXPECT_NE(why.find("lspci -D"), std::string::npos);
}

TEST(VfioUri, ParsesBdfModeRootAndNvmeOptions) {
    vfio_uri_options o;
    std::string why;
    ASSERT_TRUE(parse_vfio_uri(
        vfio_test_uri("01:00.0", {{"mode", "noiommu"}, {"ns", "2"}, {"qd", "64"}}), o, why))
        << why;
    EXPECT_EQ(o.open.bdf, "0000:01:00.0");
    EXPECT_EQ(o.open.mode, vfio_mode::noiommu);
    EXPECT_EQ(o.open.sys_root, "/sys");
    EXPECT_EQ(o.nvme.nsid, 2u);
    EXPECT_EQ(o.nvme.queue_depth, 64u);

    ASSERT_TRUE(parse_vfio_uri(vfio_test_uri("0000:01:00.0", {{"root", "/tmp/fake"}}), o, why))
        << why;
    EXPECT_EQ(o.open.mode, vfio_mode::automatic);
    EXPECT_EQ(o.open.sys_root, "/tmp/fake/sys");
    EXPECT_EQ(o.open.dev_root, "/tmp/fake/dev");
    EXPECT_EQ(o.proc_root, "/tmp/fake/proc");
}

// vfio's default completion mode is hybrid, marked as a default (the open falls back to poll
// where interrupts cannot be set up); a mode given by name is not a default.
TEST(VfioUri, CompletionDefaultsToHybridMarkedAsDefault) {
    vfio_uri_options o;
    std::string why;
    ASSERT_TRUE(parse_vfio_uri(vfio_test_uri("01:00.0"), o, why)) << why;
    EXPECT_EQ(o.nvme.completion, driver::completion_mode::hybrid);
    EXPECT_TRUE(o.nvme.completion_by_default);
    for (const char* m : {"poll", "interrupt", "hybrid"}) {
        ASSERT_TRUE(parse_vfio_uri(vfio_test_uri("01:00.0", {{"completion", m}}), o, why)) << why;
        EXPECT_STREQ(driver::completion_mode_name(o.nvme.completion), m);
        EXPECT_FALSE(o.nvme.completion_by_default) << m;
    }
}

TEST(VfioUri, RejectsMalformedParts) {
    vfio_uri_options o;
    std::string why;
    EXPECT_FALSE(parse_vfio_uri(vfio_test_uri("nvme0"), o, why));
    EXPECT_NE(why.find("nvme0"), std::string::npos) << why;
    EXPECT_FALSE(parse_vfio_uri(vfio_test_uri("01:00.0", {{"mode", "fast"}}), o, why));
    EXPECT_NE(why.find("mode"), std::string::npos) << why;
    EXPECT_FALSE(parse_vfio_uri(vfio_test_uri("01:00.0", {{"qd", "lots"}}), o, why));
    EXPECT_FALSE(parse_vfio_uri(vfio_test_uri("01:00.0", {{"root", ""}}), o, why));
}

TEST(VfioOpen, BadUriIsBadUri) {
    std::error_code ec;
    std::string why;
    auto dev = open_vfio_device(vfio_test_uri("not-a-bdf"), ec, why);
    EXPECT_EQ(dev, nullptr);
    EXPECT_EQ(ec, make_error_code(errc::bad_uri));
    EXPECT_FALSE(why.empty());
}

TEST(VfioOpen, ThisHostFailsCleanlyWithTheDoctorsMessage) {
    // This machine has no /dev/vfio (and no VFIO-bound NVMe); the lab runs the real path.
    if (driver::vfio::path_exists("/dev/vfio/vfio"))
        GTEST_SKIP() << "host has VFIO; covered by the lab";
    std::error_code ec;
    std::string why;
    auto dev = open_vfio_device(vfio_test_uri("0000:00:00.0"), ec, why);
    EXPECT_EQ(dev, nullptr);
    EXPECT_TRUE(ec);
    EXPECT_NE(why.find("preflight checks failed"), std::string::npos) << why;
    EXPECT_NE(why.find("convme doctor 0000:00:00.0"), std::string::npos) << why;
    EXPECT_NE(why.find("[FATAL ]"), std::string::npos) << why;
    EXPECT_NE(why.find("/dev/vfio/vfio does not exist"), std::string::npos) << why;

    // Through the public entry point too.
    auto dev2 = open_device("vfio:0000:00:00.0", ec, why);
    EXPECT_EQ(dev2, nullptr);
    EXPECT_TRUE(ec);
    EXPECT_NE(why.find("preflight"), std::string::npos) << why;
}

TEST(VfioOpen, MissingDeviceReportsEnodev) {
    fake_system sys;
    sys.make_healthy();
    std::error_code ec;
    std::string why;
    auto dev = open_vfio_device(vfio_test_uri("0000:09:00.0", {{"root", sys.root()}}), ec, why);
    EXPECT_EQ(dev, nullptr);
    EXPECT_EQ(ec, std::error_code(ENODEV, std::system_category()));
    EXPECT_NE(why.find("0000:09:00.0 not found"), std::string::npos) << why;
}

TEST(VfioOpen, BoundToNvmeReportsEbusyWithRebindCommands) {
    fake_system sys;
    sys.make_healthy();
    sys.add_driver("nvme");
    sys.symlink("sys/devices/pci0000:00/0000:01:00.0/driver", "sys/bus/pci/drivers/nvme");
    std::error_code ec;
    std::string why;
    auto dev = open_vfio_device(vfio_test_uri("0000:01:00.0", {{"root", sys.root()}}), ec, why);
    EXPECT_EQ(dev, nullptr);
    EXPECT_EQ(ec, std::error_code(EBUSY, std::system_category()));
    EXPECT_NE(why.find("driver_override"), std::string::npos) << why;
}

TEST(VfioOpen, HealthyFakeTreePassesPreflightThenFailsAtTheFirstIoctl) {
    // Preflight passes on the fake tree; /dev/vfio/vfio there is a plain file, so the container
    // ioctl fails and the error names that step.
    fake_system sys;
    sys.make_healthy();
    std::error_code ec;
    std::string why;
    auto dev = open_vfio_device(vfio_test_uri("0000:01:00.0", {{"root", sys.root()}}), ec, why);
    EXPECT_EQ(dev, nullptr);
    // ENOTTY from a kernel; ENOSYS when the tests run under qemu-user (aarch64 CI stage).
    EXPECT_TRUE(ec == std::error_code(ENOTTY, std::system_category()) ||
                ec == std::error_code(ENOSYS, std::system_category()))
        << ec.message() << ": " << why;
    EXPECT_NE(why.find("VFIO_GET_API_VERSION"), std::string::npos) << why;
    EXPECT_NE(why.find("not the VFIO container device"), std::string::npos) << why;
}

TEST(VfioPciDevice, ModeMismatchesAreExplained) {
    fake_system sys;
    sys.make_healthy();
    sys.add_pci("0000:00:03.0", 0x010802, "vfio-pci", 0, "vfio-noiommu");
    sys.add_dev_node("dev/vfio/noiommu-0");
    driver::vfio::vfio_open_options o;
    o.sys_root = sys.path("sys");
    o.dev_root = sys.path("dev");
    int err = 0;
    std::string why;

    o.bdf = "0000:00:03.0";
    o.mode = vfio_mode::iommu;
    EXPECT_EQ(driver::vfio::vfio_pci_device::open(o, err, why), nullptr);
    EXPECT_EQ(err, -EINVAL);
    EXPECT_NE(why.find("no-IOMMU group"), std::string::npos) << why;

    o.bdf = "0000:01:00.0";
    o.mode = vfio_mode::noiommu;
    EXPECT_EQ(driver::vfio::vfio_pci_device::open(o, err, why), nullptr);
    EXPECT_EQ(err, -EINVAL);
    EXPECT_NE(why.find("behind an IOMMU"), std::string::npos) << why;

    o.bdf = "0000:01:00.0";
    o.mode = vfio_mode::automatic;
    sys.remove("dev/vfio/vfio");
    EXPECT_EQ(driver::vfio::vfio_pci_device::open(o, err, why), nullptr);
    EXPECT_EQ(err, -ENOENT);
    EXPECT_NE(why.find("modprobe vfio-pci"), std::string::npos) << why;
}

TEST(VfioPciDevice, DeviceWithoutGroupGetsBindCommands) {
    fake_system sys;
    sys.add_pci("0000:01:00.0", 0x010802, "nvme", -1);
    driver::vfio::vfio_open_options o;
    o.sys_root = sys.path("sys");
    o.dev_root = sys.path("dev");
    o.bdf = "0000:01:00.0";
    int err = 0;
    std::string why;
    EXPECT_EQ(driver::vfio::vfio_pci_device::open(o, err, why), nullptr);
    EXPECT_EQ(err, -ENODEV);
    EXPECT_NE(why.find("driver_override"), std::string::npos) << why;
}

}  // namespace
}  // namespace convme::test

namespace convme::driver::testing_uri_keys {
namespace {
using driver::vfio::parse_vfio_uri;
using driver::vfio::vfio_uri_options;

device_uri uri_with(std::map<std::string, std::string> params) {
    return test::vfio_test_uri("0000:01:00.0", std::move(params));
}

// Issue 11, bug 8: a mistyped key used to be ignored (vfio:BDF?nsid=2 opened namespace 1).
TEST(VfioUri, RejectsUnknownKeysNamingTheKnownOnes) {
    vfio_uri_options o;
    std::string why;
    EXPECT_FALSE(parse_vfio_uri(uri_with({{"nsid", "2"}}), o, why));
    EXPECT_NE(why.find("unknown parameter 'nsid'"), std::string::npos) << why;
    EXPECT_NE(why.find(" ns"), std::string::npos) << why;  // the key that was meant is listed
    EXPECT_NE(why.find(" mode"), std::string::npos) << why;
    why.clear();
    EXPECT_FALSE(parse_vfio_uri(uri_with({{"queue_depth", "8"}}), o, why));
    EXPECT_NE(why.find("unknown parameter 'queue_depth'"), std::string::npos) << why;
    EXPECT_NE(why.find(" qd"), std::string::npos) << why;
    why.clear();
    EXPECT_TRUE(parse_vfio_uri(uri_with({{"ns", "2"}, {"qd", "8"}}), o, why)) << why;
    EXPECT_EQ(o.nvme.nsid, 2u);
    EXPECT_EQ(o.nvme.queue_depth, 8u);
}

TEST(VfioOpen, UnknownKeyIsABadUriBeforeAnyDeviceAccess) {
    std::error_code ec;
    std::string why;
    auto dev = driver::vfio::open_vfio_device(uri_with({{"nsid", "2"}, {"root", "/nonexistent"}}),
                                              ec, why);
    EXPECT_EQ(dev, nullptr);
    EXPECT_EQ(ec, make_error_code(errc::bad_uri));
    EXPECT_NE(why.find("nsid"), std::string::npos) << why;
}

}  // namespace
}  // namespace convme::driver::testing_uri_keys
