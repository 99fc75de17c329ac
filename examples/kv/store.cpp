// SPDX-License-Identifier: MIT
// Store layout: format a new device or read an existing superblock, then build the shards.
#include "store.hpp"

#include <algorithm>
#include <cstring>

namespace kv {

namespace {
std::string cat(std::initializer_list<std::string> parts) {
    std::string s;
    for (const auto& p : parts) s += p;
    return s;
}
}  // namespace

convme::task<std::unique_ptr<store>> store::open_layout(convme::block_device& dev, unsigned cores,
                                                        store_options opts, std::string& why) {
    const auto& info = dev.info();
    const std::uint64_t bs = info.block_size;
    const std::size_t align = std::max<std::size_t>(info.mem_alignment, bs);
    const std::uint64_t sb_area = std::max<std::uint64_t>(bs, 4096) / bs * bs;
    auto st = std::make_unique<store>(dev, std::max(1u, cores));

    io_buffer buf(sb_area, align);
    buf.resize(sb_area);
    std::error_code ec = co_await dev.read(0, buf.span());
    if (ec) {
        why = cat({"reading the superblock of ", info.name, " failed: ", ec.message()});
        co_return nullptr;
    }
    superblock sb;
    if (decode_superblock(buf.span(), sb)) {
        if (sb.version != kFormatVersion || sb.block_size != bs || sb.shards == 0 ||
            sb.region_offset + sb.region_size * sb.shards > info.capacity) {
            why =
                cat({"the KV superblock on ", info.name, " does not match this device (version ",
                     std::to_string(sb.version), ", block size ", std::to_string(sb.block_size),
                     ", ", std::to_string(sb.shards), " shards of ", std::to_string(sb.region_size),
                     " bytes); use the device it was created on, or wipe it to start a new store"});
            co_return nullptr;
        }
    } else {
        // A new store: carve the device into one region per shard.
        sb = superblock{};
        sb.shards = opts.shards ? opts.shards : st->cores_;
        sb.block_size = static_cast<std::uint32_t>(bs);
        sb.region_offset = sb_area;
        const std::uint64_t per = (info.capacity - std::min(info.capacity, sb_area)) / sb.shards;
        sb.region_size = per / (2 * bs) * (2 * bs);
        if (sb.region_size / 2 < std::max<std::uint64_t>(256 * 1024, 64 * bs)) {
            why = cat({"the device ", info.name, " (", std::to_string(info.capacity),
                       " bytes) is too small for ", std::to_string(sb.shards),
                       " shards; give it at least ", std::to_string(sb.shards),
                       " MiB (e.g. ?create_size=64M) or use fewer cores"});
            co_return nullptr;
        }
        // Invalidate half headers left from any earlier content, then write the superblock.
        io_buffer zero(bs, align);
        zero.resize(bs);
        std::memset(zero.data(), 0, bs);
        for (std::uint32_t s = 0; s < sb.shards && !ec; ++s)
            for (std::uint64_t h = 0; h < 2 && !ec; ++h)
                ec = co_await dev.write(
                    sb.region_offset + s * sb.region_size + h * (sb.region_size / 2), zero.span());
        if (!ec && info.supports_flush) ec = co_await dev.flush();
        if (!ec) {
            std::memset(buf.data(), 0, sb_area);
            encode_superblock(sb, buf.data());
            ec = co_await dev.write(0, buf.span());
        }
        if (!ec && info.supports_flush) ec = co_await dev.flush();
        if (ec) {
            why = cat({"formatting ", info.name, " for the KV store failed: ", ec.message()});
            co_return nullptr;
        }
        st->formatted_ = true;
    }
    st->sb_ = sb;
    for (std::uint32_t s = 0; s < sb.shards; ++s) {
        shard_geometry g;
        g.index = s;
        g.region_offset = sb.region_offset + s * sb.region_size;
        g.half_size = sb.region_size / 2 / bs * bs;
        g.block_size = static_cast<std::uint32_t>(bs);
        g.mem_alignment = info.mem_alignment;
        st->shards_.push_back(std::make_unique<shard>(dev, g, opts.shard));
        st->shards_.back()->set_flush_hub(&st->hub_);
    }
    co_return st;
}

convme::task<std::error_code> store::open_core(unsigned core, std::string& why) {
    for (unsigned s = 0; s < shard_count(); ++s) {
        if (core_of(s) != core) continue;
        std::error_code ec = co_await shards_[s]->open();
        if (ec) {
            why = "recovering shard " + std::to_string(s) + " from " + dev_.info().name +
                  " failed: " + ec.message();
            co_return ec;
        }
    }
    co_return std::error_code{};
}

convme::task<void> store::close_core(unsigned core) {
    for (unsigned s = 0; s < shard_count(); ++s)
        if (core_of(s) == core) co_await shards_[s]->close();
}

}  // namespace kv
