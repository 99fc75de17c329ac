// SPDX-License-Identifier: MIT
// Replies that must match Redis 7.0 byte for byte (issue 12, "divergences"). Every expected
// reply below is what redis-server 7.0.15 answered to the same command.
#include <gtest/gtest.h>

#include "command_fixture.hpp"
#include "resp_parser.hpp"
#include "resp_writer.hpp"

namespace {

class RedisCompat : public kvtest::command_fixture {};

// What the server sends for a raw request: the replies of the commands parsed from it, then a
// protocol error ("-ERR Protocol error: ...") if there is one.
std::string protocol_reply(std::string_view input) {
    kv::resp::parser p;
    std::string out;
    std::size_t pos = 0;
    for (;;) {
        auto r = p.feed(input.substr(pos));
        pos += r.consumed;
        if (r.status == kv::resp::parse_status::need_more) break;
        if (r.status == kv::resp::parse_status::error) {
            kv::resp::error(out, "ERR " + p.error());
            break;
        }
        for (const auto& a : p.args()) out += "[" + a + "]";
        if (!p.args().empty()) out += ";";
        p.next();
    }
    return out;
}

}  // namespace

TEST(RedisCompatProtocol, LeadingZerosSignsAndBareNewlinesInHeaders) {
    EXPECT_EQ(protocol_reply("*01\r\n$4\r\nPING\r\n"),
              "-ERR Protocol error: invalid multibulk length\r\n");
    EXPECT_EQ(protocol_reply("*1\r\n$04\r\nPING\r\n"),
              "-ERR Protocol error: invalid bulk length\r\n");
    EXPECT_EQ(protocol_reply("*1\n$4\r\nPING\r\n"),
              "-ERR Protocol error: invalid multibulk length\r\n");
    EXPECT_EQ(protocol_reply("*1\r\n$4\nPING\r\n"), "-ERR Protocol error: invalid bulk length\r\n");
    EXPECT_EQ(protocol_reply("*-0\r\n"), "-ERR Protocol error: invalid multibulk length\r\n");
    EXPECT_EQ(protocol_reply("*+1\r\n$4\r\nPING\r\n"),
              "-ERR Protocol error: invalid multibulk length\r\n");
}

// Redis skips the two bytes after a header's CR and after a bulk payload without looking at them.
TEST(RedisCompatProtocol, BytesAfterCrAndAfterAPayloadAreSkipped) {
    EXPECT_EQ(protocol_reply("*1\r\n$4\r\nPINGXY*1\r\n$4\r\nPING\r\n"), "[PING];[PING];");
    EXPECT_EQ(protocol_reply("*1\rX$4\r\nPING\r\n"), "[PING];");
    EXPECT_EQ(protocol_reply("*1\r\n$4\rXPING\r\n"), "[PING];");
    EXPECT_EQ(protocol_reply("*-1\r\n*0\r\nPING\r\n"), "[PING];");
}

TEST_F(RedisCompat, IntegersWithLeadingZerosOrMinusZeroAreNotIntegers) {
    EXPECT_EQ(exec({"SET", "k", "007"}), "+OK\r\n");
    EXPECT_EQ(exec({"INCR", "k"}), "-ERR value is not an integer or out of range\r\n");
    EXPECT_EQ(exec({"INCRBY", "k", "01"}), "-ERR value is not an integer or out of range\r\n");
    EXPECT_EQ(exec({"SET", "k", "v", "EX", "010"}),
              "-ERR value is not an integer or out of range\r\n");
    EXPECT_EQ(exec({"SET", "n", "-0"}), "+OK\r\n");
    EXPECT_EQ(exec({"INCR", "n"}), "-ERR value is not an integer or out of range\r\n");
    EXPECT_EQ(exec({"SET", "n", "0"}), "+OK\r\n");
    EXPECT_EQ(exec({"INCR", "n"}), ":1\r\n");
    EXPECT_EQ(exec({"EXPIRE", "n", "-0"}), "-ERR value is not an integer or out of range\r\n");
    EXPECT_EQ(exec({"EXISTS", "n"}), ":1\r\n");
}

TEST_F(RedisCompat, SetExpireArguments) {
    for (const char* bad : {"abc", "1.5", "+10", "1e3", ""})
        EXPECT_EQ(exec({"SET", "k", "v", "EX", bad}),
                  "-ERR value is not an integer or out of range\r\n")
            << bad;
    EXPECT_EQ(exec({"SETEX", "k", "abc", "v"}), "-ERR value is not an integer or out of range\r\n");
    EXPECT_EQ(exec({"SETEX", "k", "0", "v"}), "-ERR invalid expire time in 'setex' command\r\n");
    EXPECT_EQ(exec({"SET", "k", "v", "EX", "0"}), "-ERR invalid expire time in 'set' command\r\n");
    EXPECT_EQ(exec({"SET", "k", "v", "EX", "-5"}), "-ERR invalid expire time in 'set' command\r\n");
    EXPECT_EQ(exec({"SET", "k", "v", "EX", "9223372036854775807"}),
              "-ERR invalid expire time in 'set' command\r\n");
    EXPECT_EQ(exec({"SET", "k", "v", "PX", "9223372036854775807"}),
              "-ERR invalid expire time in 'set' command\r\n");
    EXPECT_EQ(exec({"SET", "k", "v", "EXAT", "0"}),
              "-ERR invalid expire time in 'set' command\r\n");
    // Options are all checked before the number.
    EXPECT_EQ(exec({"SET", "k", "v", "EX", "abc", "NX", "XX"}), "-ERR syntax error\r\n");
    EXPECT_EQ(exec({"SET", "k", "v", "EX", "abc", "FOO"}), "-ERR syntax error\r\n");
    // Repeating an option is allowed; the last expiry wins.
    EXPECT_EQ(exec({"SET", "k", "v", "EX", "100", "EX", "200"}), "+OK\r\n");
    EXPECT_EQ(exec({"TTL", "k"}), ":200\r\n");
    EXPECT_EQ(exec({"SET", "k", "v", "NX", "NX"}), "$-1\r\n");
    EXPECT_EQ(exec({"SET", "k", "v", "KEEPTTL", "KEEPTTL"}), "+OK\r\n");
    EXPECT_EQ(exec({"SET", "k", "w", "GET", "GET"}), "$1\r\nv\r\n");
    EXPECT_EQ(exec({"SET", "k", "v", "EX", "10", "EXAT", "10"}), "-ERR syntax error\r\n");
    EXPECT_EQ(exec({"SET", "k", "v", "EX", "100", "PX", "100"}), "-ERR syntax error\r\n");
    EXPECT_EQ(exec({"SET", "k", "v", "KEEPTTL", "EX", "10"}), "-ERR syntax error\r\n");
}

TEST_F(RedisCompat, CounterOverflows) {
    EXPECT_EQ(exec({"DECRBY", "k", "-9223372036854775808"}), "-ERR decrement would overflow\r\n");
    EXPECT_EQ(exec({"SET", "n", "1"}), "+OK\r\n");
    EXPECT_EQ(exec({"INCRBY", "n", "9223372036854775807"}),
              "-ERR increment or decrement would overflow\r\n");
    EXPECT_EQ(exec({"DECRBY", "n", "-9223372036854775807"}),
              "-ERR increment or decrement would overflow\r\n");
}

TEST_F(RedisCompat, ExpireOptions) {
    EXPECT_EQ(exec({"SET", "k", "v"}), "+OK\r\n");
    EXPECT_EQ(exec({"EXPIRE", "k", "10", "XX"}), ":0\r\n");
    EXPECT_EQ(exec({"EXPIRE", "k", "10", "GT"}), ":0\r\n");  // no TTL counts as infinite
    EXPECT_EQ(exec({"EXPIRE", "k", "10", "NX"}), ":1\r\n");
    EXPECT_EQ(exec({"EXPIRE", "k", "10", "NX"}), ":0\r\n");
    EXPECT_EQ(exec({"EXPIRE", "k", "100", "xx"}), ":1\r\n");
    EXPECT_EQ(exec({"EXPIRE", "k", "20", "LT"}), ":1\r\n");
    EXPECT_EQ(exec({"TTL", "k"}), ":20\r\n");
    EXPECT_EQ(exec({"EXPIRE", "k", "30", "LT"}), ":0\r\n");
    EXPECT_EQ(exec({"PEXPIRE", "k", "30000", "GT"}), ":1\r\n");
    EXPECT_EQ(exec({"EXPIRE", "k", "-1", "GT"}), ":0\r\n");
    EXPECT_EQ(exec({"EXPIRE", "k", "10", "GT", "GT"}), ":0\r\n");
    EXPECT_EQ(exec({"EXPIRE", "nokey", "10", "GT"}), ":0\r\n");
    EXPECT_EQ(exec({"EXPIRE", "k", "10", "GT", "LT"}),
              "-ERR GT and LT options at the same time are not compatible\r\n");
    EXPECT_EQ(exec({"EXPIRE", "k", "10", "NX", "XX"}),
              "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
    EXPECT_EQ(exec({"EXPIRE", "k", "10", "NX", "GT"}),
              "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
    EXPECT_EQ(exec({"EXPIRE", "k", "10", "FOO"}), "-ERR Unsupported option FOO\r\n");
    EXPECT_EQ(exec({"EXPIRE", "k", "abc", "FOO"}), "-ERR Unsupported option FOO\r\n");
    EXPECT_EQ(exec({"EXPIRE", "k", "abc", "NX"}),
              "-ERR value is not an integer or out of range\r\n");
    EXPECT_EQ(exec({"EXPIRE", "k", "9223372036854775807"}),
              "-ERR invalid expire time in 'expire' command\r\n");
    EXPECT_EQ(exec({"PEXPIRE", "k", "9223372036854775807"}),
              "-ERR invalid expire time in 'pexpire' command\r\n");
    EXPECT_EQ(exec({"EXPIRE", "k", "-1", "LT"}), ":1\r\n");
    EXPECT_EQ(exec({"EXISTS", "k"}), ":0\r\n");
}

TEST_F(RedisCompat, FlushOptionsAnyCase) {
    EXPECT_EQ(exec({"FLUSHDB", "Async"}), "+OK\r\n");
    EXPECT_EQ(exec({"FLUSHALL", "sYnC"}), "+OK\r\n");
    EXPECT_EQ(exec({"FLUSHDB", "a", "b"}), "-ERR syntax error\r\n");
    EXPECT_EQ(exec({"FLUSHDB", "bogus"}), "-ERR syntax error\r\n");
}

TEST_F(RedisCompat, ClientNamesAndIds) {
    EXPECT_EQ(exec({"CLIENT", "GETNAME"}), "$-1\r\n");
    EXPECT_EQ(exec({"CLIENT", "SETNAME", "foo"}), "+OK\r\n");
    EXPECT_EQ(exec({"client", "getname"}), "$3\r\nfoo\r\n");
    EXPECT_EQ(exec({"CLIENT", "SETNAME", ""}), "+OK\r\n");
    EXPECT_EQ(exec({"CLIENT", "GETNAME"}), "$-1\r\n");
    EXPECT_EQ(exec({"CLIENT", "SETNAME", "a b"}),
              "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
    EXPECT_EQ(exec({"CLIENT", "SETNAME", "\x01"}),
              "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
    EXPECT_EQ(exec({"CLIENT", "SETNAME"}),
              "-ERR wrong number of arguments for 'client|setname' command\r\n");
    EXPECT_EQ(exec({"CLIENT", "SETNAME", "a", "b"}),
              "-ERR wrong number of arguments for 'client|setname' command\r\n");
    EXPECT_EQ(exec({"CLIENT", "GETNAME", "x"}),
              "-ERR wrong number of arguments for 'client|getname' command\r\n");
    EXPECT_EQ(exec({"CLIENT", "ID", "x"}),
              "-ERR wrong number of arguments for 'client|id' command\r\n");
    EXPECT_EQ(exec({"CLIENT", "FOO"}), "-ERR unknown subcommand 'FOO'. Try CLIENT HELP.\r\n");
    EXPECT_EQ(exec({"CLIENT"}), "-ERR wrong number of arguments for 'client' command\r\n");
    // Every connection has its own id.
    kv::command_context other(*st);
    const std::string mine = exec({"CLIENT", "ID"});
    const std::string theirs = exec_on(other, {"CLIENT", "ID"});
    EXPECT_EQ(mine.substr(0, 1), ":");
    EXPECT_NE(mine, theirs);
    EXPECT_EQ(exec({"CLIENT", "ID"}), mine);
}

TEST_F(RedisCompat, ConfigSubcommands) {
    EXPECT_EQ(exec({"CONFIG", "FOO"}), "-ERR unknown subcommand 'FOO'. Try CONFIG HELP.\r\n");
    EXPECT_EQ(exec({"CONFIG"}), "-ERR wrong number of arguments for 'config' command\r\n");
    EXPECT_EQ(exec({"CONFIG", "GET"}),
              "-ERR wrong number of arguments for 'config|get' command\r\n");
}

TEST_F(RedisCompat, SelectArguments) {
    EXPECT_EQ(exec({"SELECT", "abc"}), "-ERR value is not an integer or out of range\r\n");
    EXPECT_EQ(exec({"SELECT", "01"}), "-ERR value is not an integer or out of range\r\n");
    EXPECT_EQ(exec({"SELECT", "-1"}), "-ERR DB index is out of range\r\n");
    EXPECT_EQ(exec({"SELECT", "1"}), "-ERR DB index is out of range\r\n");  // one database here
    EXPECT_EQ(exec({"SELECT", "0"}), "+OK\r\n");
}

TEST_F(RedisCompat, UnknownCommandEchoesArgumentsUpTo128Bytes) {
    EXPECT_EQ(exec({"NOPE", "1", "2", "3", "4", "5"}),
              "-ERR unknown command 'NOPE', with args beginning with: '1' '2' '3' '4' '5' \r\n");
    EXPECT_EQ(exec({std::string("\0", 1)}),
              "-ERR unknown command '', with args beginning with: \r\n");
    const std::string long_arg(200, 'a');
    EXPECT_EQ(exec({"NOPE", long_arg, "b"}),
              "-ERR unknown command 'NOPE', with args beginning with: '" + std::string(128, 'a') +
                  "' \r\n");
    EXPECT_EQ(exec({"PING", "a", "b"}), "-ERR wrong number of arguments for 'ping' command\r\n");
}

TEST_F(RedisCompat, InfoSections) {
    EXPECT_EQ(exec({"INFO", "nosuch"}), "$0\r\n\r\n");
    EXPECT_EQ(exec({"SET", "a", "1"}), "+OK\r\n");
    EXPECT_EQ(exec({"INFO", "keyspace"}),
              "$44\r\n# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n\r\n");
    // Sections come in Redis's order whatever the order asked, separated by an empty line.
    const std::string two = exec({"INFO", "KEYSPACE", "clients"});
    EXPECT_EQ(two.find("# Clients\r\nconnected_clients:"), two.find("\r\n") + 2) << two;
    EXPECT_NE(two.find("\r\n\r\n# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n\r\n"),
              std::string::npos)
        << two;
    const std::string all = exec({"INFO"});
    std::vector<std::size_t> at;
    for (const char* h : {"# Server\r\n", "# Clients\r\n", "# Memory\r\n", "# Persistence\r\n",
                          "# Stats\r\n", "# Replication\r\n", "# CPU\r\n", "# Keyspace\r\n"})
        at.push_back(all.find(h));
    for (std::size_t i = 0; i < at.size(); ++i) {
        ASSERT_NE(at[i], std::string::npos) << "section " << i << " missing from INFO";
        if (i > 0) {
            EXPECT_GT(at[i], at[i - 1]);
        }
    }
    for (const char* field : {"used_memory:", "total_commands_processed:", "used_cpu_sys:",
                              "used_cpu_user:", "connected_clients:", "role:master"})
        EXPECT_NE(all.find(field), std::string::npos) << field;
}

TEST_F(RedisCompat, CommandInfoDescribesCommands) {
    // redis-server 7.0.15, COMMAND INFO get nosuch
    EXPECT_EQ(exec({"COMMAND", "INFO", "get", "nosuch"}),
              "*2\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*"
              "3\r\n+@read\r\n"
              "+@string\r\n+@fast\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n$"
              "12\r\nbegin_search\r\n"
              "*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$"
              "9\r\nfind_keys\r\n*4\r\n"
              "$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$"
              "7\r\nkeystep\r\n:1\r\n"
              "$5\r\nlimit\r\n:0\r\n*0\r\n$-1\r\n");
    const std::string all = exec({"COMMAND"});
    EXPECT_EQ(all.substr(0, all.find("\r\n")), "*" + std::to_string(kv::command_count()));
    EXPECT_EQ(exec({"COMMAND", "COUNT"}), ":" + std::to_string(kv::command_count()) + "\r\n");
}
