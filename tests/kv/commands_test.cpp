// SPDX-License-Identifier: MIT
// Redis command semantics against an in-process store (one loop, several shards on a RAM device).
#include "commands.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "command_fixture.hpp"
#include "kv_test_util.hpp"
#include "resp_parser.hpp"
#include "store.hpp"

using kvtest::run;

namespace {

class Commands : public kvtest::command_fixture {};

}  // namespace

TEST_F(Commands, PingEchoQuitCommandSelect) {
    EXPECT_EQ(exec({"PING"}), "+PONG\r\n");
    EXPECT_EQ(exec({"ping", "hi"}), "$2\r\nhi\r\n");
    EXPECT_EQ(exec({"ECHO", "x y"}), "$3\r\nx y\r\n");
    EXPECT_EQ(exec({"COMMAND", "DOCS"}), "*0\r\n");
    EXPECT_EQ(exec({"SELECT", "0"}), "+OK\r\n");
    EXPECT_EQ(exec({"SELECT", "1"}), "-ERR DB index is out of range\r\n");
    EXPECT_FALSE(ctx->quit);
    EXPECT_EQ(exec({"QUIT"}), "+OK\r\n");
    EXPECT_TRUE(ctx->quit);
}

TEST_F(Commands, UnknownCommandsAndArity) {
    EXPECT_EQ(exec({"NOPE", "a"}),
              "-ERR unknown command 'NOPE', with args beginning with: 'a' \r\n");
    EXPECT_EQ(exec({"GET"}), "-ERR wrong number of arguments for 'get' command\r\n");
    EXPECT_EQ(exec({"GET", "a", "b"}), "-ERR wrong number of arguments for 'get' command\r\n");
    EXPECT_EQ(exec({"MSET", "a", "1", "b"}),
              "-ERR wrong number of arguments for 'mset' command\r\n");
}

TEST_F(Commands, SetGetWithOptions) {
    EXPECT_EQ(exec({"GET", "k"}), "$-1\r\n");
    EXPECT_EQ(exec({"set", "k", "v1"}), "+OK\r\n");
    EXPECT_EQ(exec({"GET", "k"}), "$2\r\nv1\r\n");
    EXPECT_EQ(exec({"SET", "k", "v2", "NX"}), "$-1\r\n");
    EXPECT_EQ(exec({"SET", "k", "v2", "XX"}), "+OK\r\n");
    EXPECT_EQ(exec({"SET", "new", "v", "XX"}), "$-1\r\n");
    EXPECT_EQ(exec({"SET", "k", "v3", "GET"}), "$2\r\nv2\r\n");
    EXPECT_EQ(exec({"SET", "k", "v", "NX", "XX"}), "-ERR syntax error\r\n");
    EXPECT_EQ(exec({"SET", "k", "v", "EX", "0"}), "-ERR invalid expire time in 'set' command\r\n");
    EXPECT_EQ(exec({"SET", "k", "v", "EX"}), "-ERR syntax error\r\n");
    EXPECT_EQ(exec({"SET", "k", "v", "EX", "10", "PX", "100"}), "-ERR syntax error\r\n");
    EXPECT_EQ(exec({"SETNX", "k", "x"}), ":0\r\n");
    EXPECT_EQ(exec({"SETNX", "k2", "x"}), ":1\r\n");
    EXPECT_EQ(exec({"STRLEN", "k"}), ":2\r\n");
    const std::string bin("a\0\r\nb", 5);
    EXPECT_EQ(exec({bin, "ignored"}).substr(0, 20), "-ERR unknown command");
    EXPECT_EQ(exec({"SET", bin, bin}), "+OK\r\n");
    EXPECT_EQ(exec({"GET", bin}), "$5\r\n" + bin + "\r\n");
}

TEST_F(Commands, ExpiryAndTtl) {
    EXPECT_EQ(exec({"SET", "k", "v", "EX", "100"}), "+OK\r\n");
    EXPECT_EQ(exec({"TTL", "k"}), ":100\r\n");
    const std::string pttl = exec({"PTTL", "k"});
    long long ms = 0;
    ASSERT_TRUE(kv::resp::parse_int64(std::string_view(pttl).substr(1, pttl.size() - 3), ms));
    EXPECT_GT(ms, 90000);
    EXPECT_LE(ms, 100000);
    EXPECT_EQ(exec({"SET", "k", "v2", "KEEPTTL"}), "+OK\r\n");
    EXPECT_EQ(exec({"TTL", "k"}), ":100\r\n");
    EXPECT_EQ(exec({"PERSIST", "k"}), ":1\r\n");
    EXPECT_EQ(exec({"TTL", "k"}), ":-1\r\n");
    EXPECT_EQ(exec({"TTL", "missing"}), ":-2\r\n");
    EXPECT_EQ(exec({"EXPIRE", "k", "50"}), ":1\r\n");
    EXPECT_EQ(exec({"TTL", "k"}), ":50\r\n");
    EXPECT_EQ(exec({"EXPIRE", "missing", "50"}), ":0\r\n");
    EXPECT_EQ(exec({"EXPIRE", "k", "abc"}), "-ERR value is not an integer or out of range\r\n");
    EXPECT_EQ(exec({"EXPIRE", "k", "-1"}), ":1\r\n");  // a time in the past deletes
    EXPECT_EQ(exec({"EXISTS", "k"}), ":0\r\n");
    EXPECT_EQ(exec({"SET", "p", "v", "PX", "1"}), "+OK\r\n");
    EXPECT_EQ(exec({"SET", "q", "v", "PXAT", "1"}), "+OK\r\n");  // already expired
    EXPECT_EQ(exec({"GET", "q"}), "$-1\r\n");
    EXPECT_EQ(exec({"SETEX", "s", "100", "v"}), "+OK\r\n");
    EXPECT_EQ(exec({"TTL", "s"}), ":100\r\n");
}

TEST_F(Commands, CountersAndMultiKeyCommands) {
    EXPECT_EQ(exec({"INCR", "n"}), ":1\r\n");
    EXPECT_EQ(exec({"INCRBY", "n", "41"}), ":42\r\n");
    EXPECT_EQ(exec({"DECR", "n"}), ":41\r\n");
    EXPECT_EQ(exec({"DECRBY", "n", "50"}), ":-9\r\n");
    EXPECT_EQ(exec({"SET", "s", "abc"}), "+OK\r\n");
    EXPECT_EQ(exec({"INCR", "s"}), "-ERR value is not an integer or out of range\r\n");
    EXPECT_EQ(exec({"SET", "big", "9223372036854775807"}), "+OK\r\n");
    EXPECT_EQ(exec({"INCR", "big"}), "-ERR increment or decrement would overflow\r\n");
    EXPECT_EQ(exec({"MSET", "a", "1", "b", "2", "c", "3"}), "+OK\r\n");
    EXPECT_EQ(exec({"MGET", "a", "nope", "c"}), "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n3\r\n");
    EXPECT_EQ(exec({"EXISTS", "a", "b", "nope", "a"}), ":3\r\n");
    EXPECT_EQ(exec({"DBSIZE"}), ":6\r\n");
    EXPECT_EQ(exec({"DEL", "a", "b", "nope"}), ":2\r\n");
    EXPECT_EQ(exec({"DBSIZE"}), ":4\r\n");
    EXPECT_EQ(exec({"FLUSHDB"}), "+OK\r\n");
    EXPECT_EQ(exec({"DBSIZE"}), ":0\r\n");
    EXPECT_EQ(exec({"FLUSHDB", "bogus"}), "-ERR syntax error\r\n");
}

TEST_F(Commands, ConfigAndInfoSatisfyRedisTools) {
    EXPECT_EQ(exec({"CONFIG", "GET", "save"}), "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
    EXPECT_EQ(exec({"CONFIG", "GET", "appendonly"}), "*2\r\n$10\r\nappendonly\r\n$3\r\nyes\r\n");
    EXPECT_EQ(exec({"CONFIG", "GET", "nothing-like-this"}), "*0\r\n");
    EXPECT_EQ(exec({"CONFIG", "GET", "append*"}).substr(0, 4), "*4\r\n");
    EXPECT_EQ(exec({"CONFIG", "SET", "save", ""}).substr(0, 4), "-ERR");
    exec({"SET", "a", "1"});
    const std::string info = exec({"INFO"});
    EXPECT_NE(info.find("redis_version:"), std::string::npos);
    EXPECT_NE(info.find("db0:keys=1,"), std::string::npos);
    EXPECT_NE(info.find("shards:3"), std::string::npos);
}

TEST_F(Commands, DataSurvivesReopeningTheStore) {
    exec({"SET", "a", "1"});
    exec({"SET", "b", "2", "EX", "1000"});
    exec({"INCR", "c"});
    exec({"DEL", "a"});
    run(lp, st->close_core(0));
    kvtest::mem_device copy(dev.mem);
    std::string why;
    auto st2 = run(lp, kv::store::open_layout(copy, 1, {}, why));
    ASSERT_TRUE(st2) << why;
    EXPECT_EQ(st2->shard_count(), 3u);  // the layout comes from the device, not the options
    EXPECT_FALSE(st2->formatted_now());
    ASSERT_FALSE(run(lp, st2->open_core(0, why))) << why;
    kv::command_context c2(*st2);
    auto get = [&](std::string k) {
        return run(lp, [](kv::command_context& c, std::string key) -> convme::task<std::string> {
            std::vector<std::string> a{"GET", key};
            std::string out;
            co_await kv::execute(c, a, out);
            co_return out;
        }(c2, k));
    };
    EXPECT_EQ(get("a"), "$-1\r\n");
    EXPECT_EQ(get("b"), "$1\r\n2\r\n");
    EXPECT_EQ(get("c"), "$1\r\n1\r\n");
    run(lp, st2->close_core(0));
}

TEST(Glob, MatchesRedisPatterns) {
    EXPECT_TRUE(kv::glob_match("*", "anything"));
    EXPECT_TRUE(kv::glob_match("app*", "appendonly"));
    EXPECT_TRUE(kv::glob_match("s?ve", "save"));
    EXPECT_TRUE(kv::glob_match("[abc]x", "bx"));
    EXPECT_FALSE(kv::glob_match("[^abc]x", "bx"));
    EXPECT_TRUE(kv::glob_match("[a-c]x", "cx"));
    EXPECT_TRUE(kv::glob_match("a\\*", "a*"));
    EXPECT_FALSE(kv::glob_match("a\\*", "ab"));
    EXPECT_FALSE(kv::glob_match("save", "saves"));
}
