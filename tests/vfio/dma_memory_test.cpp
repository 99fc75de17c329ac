// Locked DMA memory and the pagemap lookup, on the real host.
#include "driver/vfio/dma_memory.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace convme::driver::vfio {
namespace {

TEST(DmaMemory, AllocatesZeroedLockedPages) {
    page_block b;
    std::string why;
    int rc = allocate_locked(10000, false, false, b, why);
    if (rc == -ENOMEM) GTEST_SKIP() << why;
    ASSERT_EQ(rc, 0) << why;
    EXPECT_EQ(b.length % base_page_size(), 0u);
    EXPECT_GE(b.length, 10000u);
    EXPECT_FALSE(b.huge);
    auto* p = static_cast<unsigned char*>(b.addr);
    for (std::size_t i = 0; i < b.length; i += 997) EXPECT_EQ(p[i], 0);
    std::memset(p, 0xa5, b.length);
    release_locked(b);
    EXPECT_EQ(b.addr, nullptr);
}

TEST(DmaMemory, RequiredHugepageFailsWithReservationAdvice) {
    const std::size_t huge = default_hugepage_size();
    if (huge == 0) GTEST_SKIP() << "no hugepage support";
    if (free_hugepages(huge) > 0) GTEST_SKIP() << "hugepages are reserved here";
    page_block b;
    std::string why;
    EXPECT_EQ(allocate_locked(huge, true, true, b, why), -ENOMEM);
    EXPECT_NE(why.find("nr_hugepages"), std::string::npos) << why;
    // Preferred (not required) hugepages fall back to ordinary pages.
    ASSERT_EQ(allocate_locked(huge, true, false, b, why), 0) << why;
    EXPECT_FALSE(b.huge);
    release_locked(b);
}

TEST(DmaMemory, ZeroSizeIsRejected) {
    page_block b;
    std::string why;
    EXPECT_EQ(allocate_locked(0, false, false, b, why), -EINVAL);
}

TEST(DmaMemory, PagemapGivesPhysicalAddressOrExplainsWhyNot) {
    page_block b;
    std::string why;
    ASSERT_EQ(allocate_locked(4096, false, false, b, why), 0) << why;
    std::uint64_t phys = 0;
    int rc = virt_to_phys(static_cast<char*>(b.addr) + 123, phys, why);
    if (rc == -EPERM) {
        EXPECT_NE(why.find("CAP_SYS_ADMIN"), std::string::npos) << why;
    } else if (rc == 0) {
        EXPECT_EQ(phys % base_page_size(), 123u);
        EXPECT_NE(phys, 123u);
    } else {
        ADD_FAILURE() << "virt_to_phys: " << rc << " " << why;
    }
    release_locked(b);
}

TEST(DmaMemory, LowMemlockLimitIsReportedBeforeLocking) {
    // In a child: drop to an unprivileged uid (root bypasses RLIMIT_MEMLOCK), set a 64 KiB limit
    // and ask for 1 MiB. Exit codes: 0 = refused with the explanation, 77 = cannot drop root.
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        rlimit rl{64 * 1024, 64 * 1024};
        if (::setrlimit(RLIMIT_MEMLOCK, &rl) != 0) ::_exit(10);
        if (::geteuid() == 0 && ::setresuid(65534, 65534, 65534) != 0) ::_exit(77);
        page_block b;
        std::string why;
        int rc = allocate_locked(1 << 20, false, false, b, why);
        if (rc != -ENOMEM) ::_exit(11);
        if (why.find("RLIMIT_MEMLOCK is 64 KiB") == std::string::npos) ::_exit(12);
        if (why.find("ulimit -l") == std::string::npos) ::_exit(13);
        ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "cannot switch to an unprivileged uid";
    EXPECT_EQ(WEXITSTATUS(status), 0) << "child failed at step " << WEXITSTATUS(status);
}

TEST(DmaMemory, MemlockAdviceNamesLimitAndFixes) {
    std::string a = memlock_advice(65536, 1 << 20);
    EXPECT_NE(a.find("64 KiB"), std::string::npos) << a;
    EXPECT_NE(a.find("ulimit -l"), std::string::npos);
    EXPECT_NE(a.find("limits.conf"), std::string::npos);
    EXPECT_NE(a.find("LimitMEMLOCK"), std::string::npos);
}

}  // namespace
}  // namespace convme::driver::vfio
