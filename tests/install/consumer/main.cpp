// SPDX-License-Identifier: MIT
// A program outside the tree: found through find_package(convme) from an install prefix.
#include <convme/device.hpp>
#include <convme/dma_buffer.hpp>
#include <convme/loop.hpp>
#include <cstdio>
#include <cstring>
convme::task<int> body(convme::block_device& dev) {
    convme::dma_buffer buf(4096);
    std::memcpy(buf.data(), "hello", 5);
    co_await dev.write(0, buf.span()).or_throw();
    std::memset(buf.data(), 0, 5);
    co_await dev.read(0, buf.span()).or_throw();
    co_await dev.drain();
    co_return std::memcmp(buf.data(), "hello", 5);
}
int main() {
    convme::loop loop;
    auto dev = convme::open_device("sim:mem?size=64M");
    int rc = loop.run_until_complete(body(*dev));
    std::printf("%s: %s\n", dev->info().name.c_str(), rc == 0 ? "ok" : "MISMATCH");
    return rc;
}
