// SPDX-License-Identifier: MIT
// Error categories: names, a distinct message per convme::errc, decoded NVMe statuses.
#include <gtest/gtest.h>

#include <convme/block_device.hpp>
#include <convme/error.hpp>
#include <set>
#include <string>

namespace {

using convme::errc;

TEST(ErrorCategory, ConvmeMessagesAreDistinct) {
    EXPECT_STREQ(convme::convme_category().name(), "convme");
    std::set<std::string> messages;
    for (int v = static_cast<int>(errc::zero_length); v <= static_cast<int>(errc::bad_uri); ++v) {
        const std::error_code ec = static_cast<errc>(v);
        EXPECT_TRUE(ec);
        const std::string m = ec.message();
        EXPECT_FALSE(m.empty());
        EXPECT_EQ(m.find("unknown"), std::string::npos) << m;
        messages.insert(m);
    }
    EXPECT_EQ(messages.size(), static_cast<std::size_t>(errc::bad_uri));
    EXPECT_NE(std::error_code(errc::misaligned_buffer).message().find("dma_buffer"),
              std::string::npos);
    EXPECT_NE(std::error_code(static_cast<errc>(999)).message().find("999"), std::string::npos);
}

TEST(ErrorCategory, ConvmeMapsToGenericConditions) {
    EXPECT_EQ(std::error_code(errc::misaligned_offset), std::errc::invalid_argument);
    EXPECT_EQ(std::error_code(errc::timeout), std::errc::timed_out);
    EXPECT_EQ(std::error_code(errc::unsupported), std::errc::operation_not_supported);
    EXPECT_EQ(std::error_code(errc::device_gone), std::errc::no_such_device);
}

std::string nvme(std::uint16_t v) {
    return convme::make_nvme_error(v).message();
}

TEST(ErrorCategory, NvmeStatusesDecode) {
    EXPECT_STREQ(convme::nvme_category().name(), "nvme");
    EXPECT_NE(nvme(0x0001).find("Invalid Command Opcode"), std::string::npos);
    EXPECT_NE(nvme(0x0002).find("Invalid Field in Command"), std::string::npos);
    EXPECT_NE(nvme(0x0008).find("Command Aborted due to SQ Deletion"), std::string::npos);
    EXPECT_NE(nvme(0x0080).find("LBA Out of Range"), std::string::npos);
    EXPECT_NE(nvme(0x0081).find("Capacity Exceeded"), std::string::npos);
    EXPECT_NE(nvme(0x0082).find("Namespace Not Ready"), std::string::npos);
    EXPECT_NE(nvme(0x0100).find("Completion Queue Invalid"), std::string::npos);
    EXPECT_NE(nvme(0x0101).find("Invalid Queue Identifier"), std::string::npos);
    EXPECT_NE(nvme(0x0102).find("Invalid Queue Size"), std::string::npos);
    EXPECT_NE(nvme(0x0103).find("Abort Command Limit Exceeded"), std::string::npos);
    EXPECT_NE(nvme(0x0280).find("Write Fault"), std::string::npos);
    EXPECT_NE(nvme(0x0281).find("Unrecovered Read Error"), std::string::npos);
    EXPECT_NE(nvme(0x0281).find("SCT 0x2 SC 0x81"), std::string::npos);
    EXPECT_NE(nvme(0x0455).find("SCT 0x4 SC 0x55"), std::string::npos);
    EXPECT_NE(nvme(0x00ff).find("SCT 0x0 SC 0xff"), std::string::npos);
    EXPECT_NE(nvme(0x0712).find("Vendor Specific"), std::string::npos);
    EXPECT_FALSE(convme::make_nvme_error(0));
    EXPECT_EQ(convme::make_nvme_error(0x0080), std::errc::invalid_argument);
}

TEST(ErrorCategory, IoOpNamesAndErrnoCodes) {
    EXPECT_STREQ(convme::io_op_name(convme::io_op::read), "read");
    EXPECT_STREQ(convme::io_op_name(convme::io_op::write), "write");
    EXPECT_STREQ(convme::io_op_name(convme::io_op::flush), "flush");
    EXPECT_STREQ(convme::io_op_name(convme::io_op::write_zeroes), "write_zeroes");
    EXPECT_STREQ(convme::io_op_name(convme::io_op::trim), "trim");
    EXPECT_EQ(convme::errno_code(-5), std::errc::io_error);
}

}  // namespace

TEST(ErrorCategory, ResultCodeIsTheOneMappingFromInternalResults) {
    using convme::errc;
    using convme::result_code;
    EXPECT_FALSE(result_code(0));
    EXPECT_EQ(result_code(-ENODEV), convme::make_error_code(errc::device_gone));
    EXPECT_EQ(result_code(-ETIMEDOUT), convme::make_error_code(errc::timeout));
    EXPECT_EQ(result_code(-ECANCELED), convme::make_error_code(errc::aborted));
    EXPECT_EQ(result_code(-EIO, 0x0281),
              convme::make_nvme_error(0x0281));  // media: unrecovered read
    EXPECT_EQ(result_code(-EIO), std::error_code(EIO, std::system_category()));
    EXPECT_EQ(result_code(-ENOMEM, 0x0281), std::error_code(ENOMEM, std::system_category()));
}
