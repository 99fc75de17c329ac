// SPDX-License-Identifier: MIT
// MULTI / EXEC / DISCARD (issue 12, bug 6). Expected replies are those of Redis 7.0.15.
#include "command_fixture.hpp"

namespace {

class Transactions : public kvtest::command_fixture {
  protected:
    Transactions() : command_fixture(2) {}
};

}  // namespace

// redis-py's pipeline(): MULTI, commands, EXEC. Nothing runs before EXEC.
TEST_F(Transactions, QueuedCommandsRunOnlyAtExec) {
    const std::string a = key_on(0, "a"), b = key_on(0, "b");
    EXPECT_EQ(exec({"MULTI"}), "+OK\r\n");
    EXPECT_EQ(exec({"SET", a, "1"}), "+QUEUED\r\n");
    EXPECT_EQ(exec({"INCR", b}), "+QUEUED\r\n");
    kv::command_context other(*st);
    EXPECT_EQ(exec_on(other, {"GET", a}), "$-1\r\n");  // not applied yet
    EXPECT_EQ(exec({"EXEC"}), "*2\r\n+OK\r\n:1\r\n");
    EXPECT_EQ(exec_on(other, {"GET", a}), "$1\r\n1\r\n");
    EXPECT_EQ(exec_on(other, {"GET", b}), "$1\r\n1\r\n");
}

TEST_F(Transactions, DiscardDropsTheQueue) {
    const std::string x = key_on(1, "x");
    EXPECT_EQ(exec({"MULTI"}), "+OK\r\n");
    EXPECT_EQ(exec({"SET", x, "1"}), "+QUEUED\r\n");
    EXPECT_EQ(exec({"DISCARD"}), "+OK\r\n");
    EXPECT_EQ(exec({"GET", x}), "$-1\r\n");
    EXPECT_EQ(exec({"EXEC"}), "-ERR EXEC without MULTI\r\n");
    EXPECT_EQ(exec({"DISCARD"}), "-ERR DISCARD without MULTI\r\n");
}

TEST_F(Transactions, ErrorsWhileQueueingAbortTheTransaction) {
    const std::string b = key_on(0, "b");
    EXPECT_EQ(exec({"MULTI"}), "+OK\r\n");
    EXPECT_EQ(exec({"SET", "a"}), "-ERR wrong number of arguments for 'set' command\r\n");
    EXPECT_EQ(exec({"INCR", b}), "+QUEUED\r\n");
    EXPECT_EQ(exec({"EXEC"}), "-EXECABORT Transaction discarded because of previous errors.\r\n");
    EXPECT_EQ(exec({"GET", b}), "$-1\r\n");
    EXPECT_EQ(exec({"MULTI"}), "+OK\r\n");
    EXPECT_EQ(exec({"NOPE"}), "-ERR unknown command 'NOPE', with args beginning with: \r\n");
    EXPECT_EQ(exec({"EXEC"}), "-EXECABORT Transaction discarded because of previous errors.\r\n");
}

TEST_F(Transactions, NestedMultiIsRefusedButKeepsTheTransaction) {
    const std::string a = key_on(1, "a"), b = key_on(1, "b");
    EXPECT_EQ(exec({"MULTI"}), "+OK\r\n");
    EXPECT_EQ(exec({"SET", a, "1"}), "+QUEUED\r\n");
    EXPECT_EQ(exec({"MULTI"}), "-ERR MULTI calls can not be nested\r\n");
    EXPECT_EQ(exec({"INCR", b}), "+QUEUED\r\n");
    EXPECT_EQ(exec({"EXEC"}), "*2\r\n+OK\r\n:1\r\n");
}

TEST_F(Transactions, RuntimeErrorsInsideExecDoNotStopTheRest) {
    const std::string s = key_on(0, "s");
    EXPECT_EQ(exec({"MULTI"}), "+OK\r\n");
    EXPECT_EQ(exec({"SET", s, "abc"}), "+QUEUED\r\n");
    EXPECT_EQ(exec({"INCR", s}), "+QUEUED\r\n");
    EXPECT_EQ(exec({"GET", s}), "+QUEUED\r\n");
    EXPECT_EQ(exec({"EXEC"}),
              "*3\r\n+OK\r\n-ERR value is not an integer or out of range\r\n$3\r\nabc\r\n");
    EXPECT_EQ(exec({"MULTI"}), "+OK\r\n");
    EXPECT_EQ(exec({"EXEC"}), "*0\r\n");
}

// Keys of two shards cannot be made atomic here: a clear error, and EXEC then aborts.
TEST_F(Transactions, CrossShardTransactionsAreRefused) {
    const std::string a = key_on(0, "a"), b = key_on(1, "b");
    EXPECT_EQ(exec({"MULTI"}), "+OK\r\n");
    EXPECT_EQ(exec({"SET", a, "1"}), "+QUEUED\r\n");
    const std::string r = exec({"SET", b, "1"});
    EXPECT_EQ(r.substr(0, 5), "-ERR ");
    EXPECT_NE(r.find("one shard"), std::string::npos) << r;
    EXPECT_EQ(exec({"EXEC"}), "-EXECABORT Transaction discarded because of previous errors.\r\n");
    EXPECT_EQ(exec({"GET", a}), "$-1\r\n");
    EXPECT_EQ(exec({"MULTI"}), "+OK\r\n");
    EXPECT_EQ(exec({"DBSIZE"}).substr(0, 5), "-ERR ");  // every shard
    EXPECT_EQ(exec({"DISCARD"}), "+OK\r\n");
}

TEST_F(Transactions, QuitInsideMultiClosesAtOnce) {
    EXPECT_EQ(exec({"MULTI"}), "+OK\r\n");
    EXPECT_EQ(exec({"SET", "x", "1"}), "+QUEUED\r\n");
    EXPECT_EQ(exec({"QUIT"}), "+OK\r\n");
    EXPECT_TRUE(ctx->quit);
}
