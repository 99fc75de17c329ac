// SPDX-License-Identifier: MIT
#include <convme/device.hpp>
#include <cstdio>

#include "runtime/cli/commands.hpp"

namespace convme::cli {

int run_info_command(const std::string& uri) {
    std::error_code ec;
    std::string why;
    auto dev = open_device(uri, ec, why);
    if (!dev) {
        std::fprintf(stderr, "convme info: cannot open %s: %s\n%s\n", uri.c_str(),
                     ec.message().c_str(), why.c_str());
        return 1;
    }
    const device_info& i = dev->info();
    std::printf("name            %s\n", i.name.c_str());
    std::printf("backend         %s\n", i.backend.c_str());
    std::printf("block size      %u bytes\n", i.block_size);
    std::printf("capacity        %llu bytes (%llu blocks, %.1f MiB)\n",
                static_cast<unsigned long long>(i.capacity),
                static_cast<unsigned long long>(i.block_size ? i.capacity / i.block_size : 0),
                static_cast<double>(i.capacity) / (1024.0 * 1024.0));
    std::printf("mem alignment   %u bytes\n", i.mem_alignment);
    if (i.max_transfer)
        std::printf("max transfer    %u bytes\n", i.max_transfer);
    else
        std::printf("max transfer    unlimited\n");
    std::printf("queue depth     %u per core\n", i.queue_depth);
    std::printf("flush           %s\n", i.supports_flush ? "yes" : "no");
    std::printf("write zeroes    %s\n", i.supports_write_zeroes ? "yes" : "no");
    std::printf("trim            %s\n", i.supports_trim ? "yes" : "no");
    return 0;
}

}  // namespace convme::cli
