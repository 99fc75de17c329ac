// SPDX-License-Identifier: MIT
#include "resp_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "resp_writer.hpp"

using kv::resp::parse_status;
using kv::resp::parser;

namespace {

// Feed `input` in pieces of `step` bytes (carrying unconsumed bytes like the server does) and
// collect every command; stops at the first protocol error.
struct outcome {
    std::vector<std::vector<std::string>> commands;
    std::string error;
};
outcome run(std::string_view input, std::size_t step, kv::resp::parser_limits lim = {}) {
    outcome o;
    parser p(lim);
    std::string carry;
    for (std::size_t off = 0; off < input.size(); off += step) {
        carry.append(input.substr(off, step));
        std::size_t pos = 0;
        for (;;) {
            auto r = p.feed(std::string_view(carry).substr(pos));
            pos += r.consumed;
            if (r.status == parse_status::command) {
                if (!p.args().empty()) o.commands.push_back(p.args());
                p.next();
                continue;
            }
            if (r.status == parse_status::error) {
                o.error = p.error();
                return o;
            }
            break;
        }
        carry.erase(0, pos);
    }
    return o;
}

using args = std::vector<std::string>;

}  // namespace

TEST(RespParser, MultibulkCommand) {
    auto o = run("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n", 1000);
    ASSERT_TRUE(o.error.empty());
    ASSERT_EQ(o.commands.size(), 1u);
    EXPECT_EQ(o.commands[0], (args{"SET", "k", "hello"}));
}

TEST(RespParser, InlineCommandWithQuotes) {
    auto o = run("SET key \"a b\\x41\\n\" 'it\\'s'\r\nPING\n", 1000);
    ASSERT_TRUE(o.error.empty()) << o.error;
    ASSERT_EQ(o.commands.size(), 2u);
    EXPECT_EQ(o.commands[0], (args{"SET", "key", "a bA\n", "it's"}));
    EXPECT_EQ(o.commands[1], (args{"PING"}));
}

TEST(RespParser, BlankInlineLinesAndEmptyMultibulkAreSkipped) {
    auto o = run("\r\n   \r\n*0\r\n*-1\r\nPING\r\n", 1000);
    ASSERT_TRUE(o.error.empty());
    ASSERT_EQ(o.commands.size(), 1u);
    EXPECT_EQ(o.commands[0], (args{"PING"}));
}

TEST(RespParser, EveryByteSplitGivesTheSameCommands) {
    const std::string input =
        "*2\r\n$4\r\nECHO\r\n$10\r\n0123456789\r\nGET "
        "a\r\n*3\r\n$3\r\nSET\r\n$0\r\n\r\n$2\r\n\r\n\r\n";
    const std::vector<args> expected{{"ECHO", "0123456789"}, {"GET", "a"}, {"SET", "", "\r\n"}};
    for (std::size_t step = 1; step <= input.size(); ++step) {
        auto o = run(input, step);
        ASSERT_TRUE(o.error.empty()) << "step " << step << ": " << o.error;
        EXPECT_EQ(o.commands, expected) << "step " << step;
    }
}

TEST(RespParser, PipelinedCommandsInOneRead) {
    std::string input;
    for (int i = 0; i < 100; ++i) input += "*2\r\n$4\r\nINCR\r\n$1\r\nx\r\n";
    auto o = run(input, input.size());
    EXPECT_TRUE(o.error.empty());
    EXPECT_EQ(o.commands.size(), 100u);
}

TEST(RespParser, BinarySafeBulk) {
    std::string payload("a\0b\r\nc", 6);
    std::string input = "*2\r\n$3\r\nGET\r\n$6\r\n" + payload + "\r\n";
    auto o = run(input, 3);
    ASSERT_EQ(o.commands.size(), 1u);
    EXPECT_EQ(o.commands[0][1], payload);
}

TEST(RespParser, MalformedInputIsAProtocolError) {
    EXPECT_NE(run("*2\r\n$3\r\nGET\r\n+k\r\n", 100).error.find("expected '$', got '+'"),
              std::string::npos);
    EXPECT_NE(run("*x\r\n", 100).error.find("invalid multibulk length"), std::string::npos);
    EXPECT_NE(run("*1\r\n$-5\r\n", 100).error.find("invalid bulk length"), std::string::npos);
    EXPECT_NE(run("*1\r\n$abc\r\n", 100).error.find("invalid bulk length"), std::string::npos);
    EXPECT_NE(run("SET \"open\r\n", 100).error.find("unbalanced quotes"), std::string::npos);
    EXPECT_NE(run("*99999999999999999999999\r\n", 100).error.find("invalid multibulk length"),
              std::string::npos);
}

TEST(RespParser, HugeLengthsAreRejectedWithoutAllocating) {
    // 512 MiB is the limit: one byte more is refused at the header.
    EXPECT_NE(run("*1\r\n$536870913\r\n", 100).error.find("invalid bulk length"),
              std::string::npos);
    EXPECT_NE(run("*1048577\r\n", 100).error.find("invalid multibulk length"), std::string::npos);
    // Exactly 512 MiB announced and not sent: waits for more, memory stays small.
    parser p;
    auto r = p.feed("*1\r\n$536870912\r\nabc");
    EXPECT_EQ(r.status, parse_status::need_more);
    EXPECT_EQ(r.consumed, 19u);
    EXPECT_LE(p.args().at(0).capacity(), std::size_t{2} << 20);
}

TEST(RespParser, OverlongInlineAndHeaderLines) {
    kv::resp::parser_limits lim;
    lim.max_inline = 100;
    EXPECT_NE(run(std::string(200, 'a'), 200, lim).error.find("too big inline request"),
              std::string::npos);
    EXPECT_NE(run("*" + std::string(200, '1'), 200, lim).error.find("too big mbulk count"),
              std::string::npos);
    EXPECT_NE(run("*1\r\n$" + std::string(200, '1'), 250, lim).error.find("too big bulk count"),
              std::string::npos);
}

TEST(RespParser, ParseInt64Edges) {
    long long v = 0;
    EXPECT_TRUE(kv::resp::parse_int64("9223372036854775807", v));
    EXPECT_EQ(v, 9223372036854775807LL);
    EXPECT_TRUE(kv::resp::parse_int64("-9223372036854775808", v));
    EXPECT_EQ(v, (-9223372036854775807LL - 1));
    EXPECT_FALSE(kv::resp::parse_int64("9223372036854775808", v));
    EXPECT_FALSE(kv::resp::parse_int64("", v));
    EXPECT_FALSE(kv::resp::parse_int64("-", v));
    EXPECT_FALSE(kv::resp::parse_int64(" 1", v));
    EXPECT_FALSE(kv::resp::parse_int64("1a", v));
}

TEST(RespWriter, EncodesReplies) {
    std::string out;
    kv::resp::simple(out, "OK");
    kv::resp::error(out, "ERR bad\r\nthing");
    kv::resp::integer(out, -42);
    kv::resp::bulk(out, std::string_view("a\0b", 3));
    kv::resp::null_bulk(out);
    kv::resp::array_header(out, 2);
    {
        const char want[] = "+OK\r\n-ERR bad  thing\r\n:-42\r\n$3\r\na\0b\r\n$-1\r\n*2\r\n";
        EXPECT_EQ(out, std::string(want, sizeof(want) - 1));
    }
}

// The fast path for whole commands (resp_whole.cpp) must decide exactly as the state machine:
// fed in one piece a command takes the fast path when it can; fed a byte at a time, its header is
// consumed before the rest arrives, so only the state machine runs.
TEST(RespParser, WholeCommandFastPathMatchesTheStateMachine) {
    const std::vector<std::string> cases{
        "*3\r\n$3\r\nSET\r\n$16\r\nkey:000000012345\r\n$3\r\nxxx\r\n",
        "*1\r\n$0\r\n\r\n",
        "*2\r\n$03\r\nGET\r\n$1\r\nk\r\n",  // leading zero: parse_int64 refuses it
        "*02\r\n$3\r\nGET\r\n$1\r\nk\r\n",
        "*2\r\n$3\rXGET\r\n$1\r\nk\rY",  // the byte after a CR is skipped unread
        "*2\r\n$3\r\nGET\r\n$1\r\nkZZ",  // payload followed by anything two bytes long
        "*2\r\n$3\r\nGET\r\n+1\r\nk\r\n",
        "*1\r\n$-1\r\n",
        "*1\r\n$+1\r\nk\r\n",
        "*1\r\n$1 \r\nk\r\n",
        "*1\r\n$536870913\r\n",
        "*1048577\r\n",
        "*1048576\r\n$1\r\na\r\n",
        "*1\r\n$1234567890\r\n",
        "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n",  // incomplete
        "*0\r\n*1\r\n$4\r\nPING\r\n",
        "*-1\r\n*1\r\n$4\r\nPING\r\nPING\r\n*1\r\n$4\r\nPING\r\n",
    };
    for (const auto& in : cases) {
        auto whole = run(in, in.size());
        auto bytewise = run(in, 1);
        EXPECT_EQ(whole.commands, bytewise.commands) << in;
        EXPECT_EQ(whole.error, bytewise.error) << in;
    }
    // Random corruptions of a pipeline (fixed seed): the same commands and errors both ways.
    const std::string base =
        "*3\r\n$3\r\nSET\r\n$5\r\nkey:1\r\n$3\r\nabc\r\n*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n"
        "*1\r\n$4\r\nPING\r\n";
    const std::string alphabet = "*$\r\n0123456789-+ a";
    std::uint32_t seed = 12345;
    auto rnd = [&seed] { return (seed = seed * 1103515245u + 12345u) >> 8; };
    for (int i = 0; i < 3000; ++i) {
        std::string in = base;
        for (int k = 0, m = 1 + static_cast<int>(rnd() % 3); k < m; ++k)
            in[rnd() % in.size()] = alphabet[rnd() % alphabet.size()];
        auto whole = run(in, in.size());
        auto bytewise = run(in, 1);
        ASSERT_EQ(whole.commands, bytewise.commands) << in;
        ASSERT_EQ(whole.error, bytewise.error) << in;
    }
}
