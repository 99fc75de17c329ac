// SPDX-License-Identifier: MIT
// The pipeline executor on two cores: commands for the other core's shard are forwarded in one
// batch, local ones run at once, multi-key commands wait for what was forwarded before them;
// replies keep the request order and every write is durable before the replies are released.
#include "pipeline_exec.hpp"

#include <gtest/gtest.h>

#include <convme/runtime.hpp>

#include "commands.hpp"
#include "kv_test_util.hpp"
#include "store.hpp"

namespace {

struct outcome {
    std::vector<std::string> replies;
    std::string error;
    std::size_t shard1_keys = 0;
};

convme::task<outcome> scenario(kvtest::mem_device& dev) {
    outcome o;
    kv::store_options so;
    so.shards = 2;
    auto st = co_await kv::store::open_layout(dev, 2, so, o.error);
    if (!st) co_return o;
    std::string why;
    std::error_code ec = co_await st->open_core(0, why);
    if (!ec) ec = co_await convme::run_on(1, [&] { return st->open_core(1, why); });
    if (ec) {
        o.error = why;
        co_return o;
    }
    auto key_on = [&](unsigned s, std::string p) {
        for (int i = 0;; ++i)
            if (st->shard_of(p + std::to_string(i)) == s) return p + std::to_string(i);
    };
    const std::string a = key_on(0, "a"), b = key_on(1, "b");  // shard s is on core s
    {
        kv::command_context ctx(*st);
        std::vector<kv::request> reqs;
        for (std::vector<std::string> args :
             std::vector<std::vector<std::string>>{{"SET", a, "1"},
                                                   {"SET", b, "2"},
                                                   {"INCR", b},
                                                   {"GET", a},
                                                   {"GET", b},
                                                   {"MGET", a, b},
                                                   {"DEL", a},
                                                   {"GET", a},
                                                   {"INCR", b},
                                                   {"PING"},
                                                   {"QUIT"},
                                                   {"SET", a, "never"}})
            reqs.push_back({std::move(args), {}});
        co_await kv::execute_pipeline(ctx, reqs);
        ec = co_await ctx.wait_durable();
        if (ec) o.error = "durability: " + ec.message();
        for (auto& r : reqs) o.replies.push_back(r.reply);
        o.shard1_keys = co_await convme::run_on(1, [&] { return st->at(1).size(); });
    }
    co_await convme::run_on(1, [&] { return st->close_core(1); });
    co_await st->close_core(0);
    co_return o;
}

}  // namespace

TEST(PipelineExec, ForwardsOtherCoresCommandsAndKeepsTheOrder) {
    kvtest::mem_device dev(8u << 20);
    convme::runtime_options ro;
    ro.cores = 2;
    ro.pin_threads = false;
    convme::runtime rt(ro);
    outcome o = rt.run(scenario(dev));
    ASSERT_TRUE(o.error.empty()) << o.error;
    const std::vector<std::string> want{
        "+OK\r\n",     "+OK\r\n",     ":3\r\n",
        "$1\r\n1\r\n", "$1\r\n3\r\n", "*2\r\n$1\r\n1\r\n$1\r\n3\r\n",
        ":1\r\n",      "$-1\r\n",     ":4\r\n",
        "+PONG\r\n",   "+OK\r\n",     ""};
    EXPECT_EQ(o.replies, want);
    EXPECT_EQ(o.shard1_keys, 1u);
}
