// SPDX-License-Identifier: MIT
// parse_device_uri and parse_size: accepted forms, and the messages for malformed input.
#include <gtest/gtest.h>

#include <convme/device.hpp>
#include <convme/error.hpp>
#include <limits>

using namespace convme;

namespace {

device_uri parse_ok(std::string_view text) {
    device_uri u;
    std::string why;
    EXPECT_TRUE(parse_device_uri(text, u, why)) << text << ": " << why;
    return u;
}

std::string parse_error(std::string_view text) {
    device_uri u;
    std::string why;
    EXPECT_FALSE(parse_device_uri(text, u, why)) << text << " should not parse";
    EXPECT_FALSE(why.empty());
    return why;
}

}  // namespace

TEST(DeviceUri, UringWithParameters) {
    device_uri u = parse_ok("uring:/tmp/x?direct=0&entries=64&create_size=64M");
    EXPECT_EQ(u.scheme, "uring");
    EXPECT_EQ(u.target, "/tmp/x");
    ASSERT_EQ(u.params.size(), 3u);
    EXPECT_EQ(u.params.at("direct"), "0");
    EXPECT_EQ(u.params.at("entries"), "64");
    EXPECT_EQ(u.params.at("create_size"), "64M");
}

TEST(DeviceUri, PathWithoutQueryAndUrlStyleSlashes) {
    EXPECT_EQ(parse_ok("threadpool:/dev/nvme0n1").target, "/dev/nvme0n1");
    EXPECT_TRUE(parse_ok("threadpool:/dev/nvme0n1").params.empty());
    EXPECT_EQ(parse_ok("uring:///var/tmp/f").target, "/var/tmp/f");
    EXPECT_EQ(parse_ok("uring:relative/file").target, "relative/file");
}

TEST(DeviceUri, SimTargets) {
    device_uri mem = parse_ok("sim:mem?size=1G&lba=512");
    EXPECT_EQ(mem.target, "mem");
    EXPECT_EQ(mem.params.at("size"), "1G");
    EXPECT_EQ(parse_ok("sim:file=/tmp/sim.img?size=1G").target, "file=/tmp/sim.img");
    EXPECT_NE(parse_error("sim:disk").find("'mem' or 'file=/path'"), std::string::npos);
    EXPECT_NE(parse_error("sim:file=").find("needs a path"), std::string::npos);
}

TEST(DeviceUri, VfioAddresses) {
    EXPECT_EQ(parse_ok("vfio:0000:01:00.0?ns=1").target, "0000:01:00.0");
    EXPECT_EQ(parse_ok("vfio:01:00.0").target, "0000:01:00.0");  // short form gets the domain
    EXPECT_EQ(parse_ok("vfio:0000:AF:1f.7").target, "0000:af:1f.7");
    for (const char* bad : {"vfio:0000:01:00", "vfio:0000:01:20.0", "vfio:0000:01:00.8",
                            "vfio:00:01:00.0", "vfio:0000:0g:00.0", "vfio:nvme0"}) {
        EXPECT_NE(parse_error(bad).find("PCI address"), std::string::npos) << bad;
    }
}

TEST(DeviceUri, UnknownSchemeListsKnownOnes) {
    std::string why = parse_error("spdk:/dev/x");
    EXPECT_NE(why.find("unknown scheme 'spdk'"), std::string::npos) << why;
    EXPECT_NE(why.find("uring, threadpool, sim, vfio"), std::string::npos) << why;
}

TEST(DeviceUri, MalformedInputs) {
    EXPECT_NE(parse_error("").find("empty"), std::string::npos);
    EXPECT_NE(parse_error("/tmp/file").find("no scheme"), std::string::npos);
    EXPECT_NE(parse_error(":/tmp/file").find("no scheme"), std::string::npos);
    EXPECT_NE(parse_error("uring:").find("missing target"), std::string::npos);
    EXPECT_NE(parse_error("uring:?direct=1").find("missing target"), std::string::npos);
    EXPECT_NE(parse_error("vfio:").find("PCI address like"), std::string::npos);
    EXPECT_NE(parse_error("uring:/x?direct").find("has no '='"), std::string::npos);
    EXPECT_NE(parse_error("uring:/x?direct=1&direct=0").find("given twice"), std::string::npos);
    EXPECT_NE(parse_error("uring:/x?=1").find("empty key"), std::string::npos);
    EXPECT_NE(parse_error("uring:/x?direct=").find("empty value"), std::string::npos);
    EXPECT_NE(parse_error("uring:/x?a=1&&b=2").find("stray '&'"), std::string::npos);
    EXPECT_NE(parse_error("uring:/x?").find("empty query"), std::string::npos);
    EXPECT_NE(parse_error("uring:/x y").find("whitespace"), std::string::npos);
}

TEST(DeviceUri, ParseFailureResetsOutput) {
    device_uri u;
    u.params["stale"] = "1";
    std::string why;
    EXPECT_TRUE(parse_device_uri("sim:mem", u, why));
    EXPECT_TRUE(u.params.empty());
}

TEST(DeviceUri, OpenDeviceReportsBadUri) {
    std::error_code ec;
    std::string why;
    EXPECT_EQ(open_device("nope:/x", ec, why), nullptr);
    EXPECT_EQ(ec, make_error_code(errc::bad_uri));
    EXPECT_NE(why.find("unknown scheme"), std::string::npos);
    try {
        (void)open_device("uring:/x?direct");
        FAIL() << "expected std::system_error";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), make_error_code(errc::bad_uri));
        EXPECT_NE(std::string(e.what()).find("has no '='"), std::string::npos) << e.what();
    }
}

TEST(ParseSize, Suffixes) {
    std::uint64_t v = 0;
    EXPECT_TRUE(parse_size("0", v));
    EXPECT_EQ(v, 0u);
    EXPECT_TRUE(parse_size("4096", v));
    EXPECT_EQ(v, 4096u);
    EXPECT_TRUE(parse_size("4K", v));
    EXPECT_EQ(v, 4096u);
    EXPECT_TRUE(parse_size("4k", v));
    EXPECT_EQ(v, 4096u);
    EXPECT_TRUE(parse_size("64M", v));
    EXPECT_EQ(v, 64ull << 20);
    EXPECT_TRUE(parse_size("1G", v));
    EXPECT_EQ(v, 1ull << 30);
    EXPECT_TRUE(parse_size("2T", v));
    EXPECT_EQ(v, 2ull << 40);
    EXPECT_TRUE(parse_size("8KB", v));
    EXPECT_EQ(v, 8192u);
    EXPECT_TRUE(parse_size("8KiB", v));
    EXPECT_EQ(v, 8192u);
    EXPECT_TRUE(parse_size("512B", v));
    EXPECT_EQ(v, 512u);
    EXPECT_TRUE(parse_size("16777215T", v));
    EXPECT_EQ(v, 16777215ull << 40);
}

TEST(ParseSize, RejectsMalformedAndOverflow) {
    std::uint64_t v = 7;
    for (const char* bad : {"", "K", "-1", "1.5G", "4KK", "4X", "4 K", "4Bi", "4iB", "1GiBx", " 1",
                            "18446744073709551616", "16777216T", "99999999999999999999K"}) {
        EXPECT_FALSE(parse_size(bad, v)) << bad;
    }
    EXPECT_EQ(v, 7u);  // untouched on failure
    EXPECT_TRUE(parse_size("18446744073709551615", v));
    EXPECT_EQ(v, std::numeric_limits<std::uint64_t>::max());
}
