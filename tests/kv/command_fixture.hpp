// SPDX-License-Identifier: MIT
// Test fixture: Redis commands against an in-process store of `shards` shards on one loop and
// a RAM device; exec() runs one command and returns its reply bytes once they are durable.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "kv_test_util.hpp"
#include "store.hpp"

namespace kvtest {

class command_fixture : public ::testing::Test {
  protected:
    explicit command_fixture(unsigned shards = 3, std::uint64_t bytes = 8u << 20,
                             bool auto_compact = true)
        : dev(bytes), shards_(shards), auto_compact_(auto_compact) {}
    void SetUp() override {
        kv::store_options o;
        o.shards = shards_;
        o.shard.auto_compact = auto_compact_;
        std::string why;
        st = run(lp, kv::store::open_layout(dev, 1, o, why));
        ASSERT_TRUE(st) << why;
        ASSERT_FALSE(run(lp, st->open_core(0, why))) << why;
        ctx = std::make_unique<kv::command_context>(*st);
    }
    void TearDown() override {
        if (st) run(lp, st->close_core(0));
    }
    convme::task<std::string> exec_task(kv::command_context& c, std::vector<std::string> args) {
        std::string out;
        co_await kv::execute(c, args, out);
        std::error_code ec = co_await c.wait_durable();
        if (ec) co_return "durability error: " + ec.message();
        co_return out;
    }
    std::string exec(std::vector<std::string> args) {
        return run(lp, exec_task(*ctx, std::move(args)));
    }
    std::string exec_on(kv::command_context& c, std::vector<std::string> args) {
        return run(lp, exec_task(c, std::move(args)));
    }
    // A key that lives on shard `s`.
    std::string key_on(unsigned s, const std::string& prefix) {
        for (int i = 0;; ++i) {
            std::string k = prefix + std::to_string(i);
            if (st->shard_of(k) == s) return k;
        }
    }

    convme::loop lp;
    mem_device dev;
    std::unique_ptr<kv::store> st;
    std::unique_ptr<kv::command_context> ctx;

  private:
    unsigned shards_;
    bool auto_compact_;
};

}  // namespace kvtest
