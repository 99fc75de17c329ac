// SPDX-License-Identifier: MIT
// Pipelined group commit: several batches in flight, completed out of order, failed, or cut off
// by a crash, on a RAM device that holds writes and flushes until the test releases them.
//
// The writer seals the open batch on its tick only while no batch write is in progress; batches
// sealed by size go out at once. With max_batch_bytes = 1 every record is sealed into its own
// batch when the next one is appended, which is how these tests put several writes in flight.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "kv_test_util.hpp"

using kvtest::manual;
using kvtest::mem_device;
using kvtest::open_shard;
using kvtest::put_and_wait;
using kvtest::run;
using kvtest::run_until;
using kvtest::spin;
using kvtest::value_of;

namespace {

struct ack {
    std::uint64_t ticket;
    std::error_code ec;
    bool operator==(const ack&) const = default;
};

// Records when (in which order, with which result) a ticket was acknowledged.
convme::task<void> record_ack(kv::shard& s, std::uint64_t ticket, std::vector<ack>& acks) {
    std::error_code ec = co_await s.wait_durable(ticket);
    acks.push_back({ticket, ec});
}

void watch(convme::loop& lp, kv::shard& s, std::uint64_t ticket, std::vector<ack>& acks) {
    lp.spawn(record_ack(s, ticket, acks));
}

// One record per batch: each append seals the batch before it (see the top of the file).
kv::shard_options one_record_batches() {
    kv::shard_options o = manual();
    o.max_batch_bytes = 1;
    return o;
}

// Put each key in its own batch and step the loop until all their writes are held by the device.
// A last record ("tail") seals the last of them and stays in the open batch.
std::vector<std::uint64_t> put_batches(convme::loop& lp, kv::shard& s, mem_device& dev,
                                       std::initializer_list<const char*> keys) {
    const std::size_t before = dev.held_writes();
    std::vector<std::uint64_t> tickets;
    for (const char* k : keys) {
        auto r = s.put(k, std::string("v-") + k, 0);
        EXPECT_FALSE(r.ec);
        tickets.push_back(r.ticket);
    }
    EXPECT_FALSE(s.put("tail", "t", 0).ec);
    EXPECT_TRUE(run_until(lp, [&] { return dev.held_writes() == before + keys.size(); }));
    return tickets;
}

// Open a shard (the device completes at once), then make the device hold writes and flushes.
std::unique_ptr<kv::shard> open_held(convme::loop& lp, mem_device& dev,
                                     kv::shard_options o = one_record_batches()) {
    auto s = open_shard(lp, dev, o);
    dev.hold = true;
    dev.log.clear();
    dev.max_writes_in_flight = 0;
    return s;
}

// Let everything still held complete, then close.
void finish(convme::loop& lp, kv::shard& s, mem_device& dev) {
    dev.hold = false;
    while (!dev.held.empty()) {
        if (dev.held.front()->op == convme::io_op::write)
            dev.release_write(0);
        else
            dev.release_flush();
    }
    run(lp, s.close());
}

const std::error_code kOk{};

}  // namespace

TEST(ShardPipeline, OutOfOrderWritesAreAcknowledgedInTicketOrder) {
    convme::loop lp;
    mem_device dev(2u << 20);
    auto s = open_held(lp, dev);
    ASSERT_TRUE(s);
    const auto t = put_batches(lp, *s, dev, {"a", "b", "c"});
    const auto a = t[0], b = t[1], c = t[2];
    EXPECT_EQ(dev.held_writes(), 3u);  // three batches in flight at once
    std::vector<ack> acks;
    for (auto x : t) watch(lp, *s, x, acks);

    dev.release_write(2);  // c lands first: a and b are still missing, nothing to flush or ack
    spin(lp);
    EXPECT_EQ(dev.held_flushes(), 0u);
    EXPECT_TRUE(acks.empty());

    dev.release_write(0);  // a: the prefix is a, so one flush for it
    ASSERT_TRUE(run_until(lp, [&] { return dev.held_flushes() == 1; }));
    dev.release_flush();
    ASSERT_TRUE(run_until(lp, [&] { return acks.size() == 1; }));
    spin(lp);
    EXPECT_EQ(acks, (std::vector<ack>{{a, kOk}}));  // c is on the device but waits for b

    dev.release_write(0);  // b: now b and c are written
    ASSERT_TRUE(run_until(lp, [&] { return dev.held_flushes() == 1; }));
    dev.release_flush();
    ASSERT_TRUE(run_until(lp, [&] { return acks.size() == 3; }));
    EXPECT_EQ(acks, (std::vector<ack>{{a, kOk}, {b, kOk}, {c, kOk}}));
    EXPECT_EQ(dev.held_writes(), 1u);  // the tail, sealed once no write was in progress
    finish(lp, *s, dev);
}

TEST(ShardPipeline, AFlushIssuedBeforeAWriteCompletedDoesNotAcknowledgeIt) {
    convme::loop lp;
    mem_device dev(2u << 20);
    auto s = open_held(lp, dev);
    ASSERT_TRUE(s);
    const auto t = put_batches(lp, *s, dev, {"a", "b"});
    const auto a = t[0], b = t[1];
    std::vector<ack> acks;
    watch(lp, *s, a, acks);
    watch(lp, *s, b, acks);

    dev.release_write(0);  // a written: its flush is issued while b is still being written
    ASSERT_TRUE(run_until(lp, [&] { return dev.held_flushes() == 1; }));
    dev.release_write(0);  // b completes while that flush is in flight
    spin(lp);
    EXPECT_EQ(dev.held_flushes(), 1u);  // one flush at a time; b needs the next one
    dev.release_flush();
    ASSERT_TRUE(run_until(lp, [&] { return acks.size() == 1; }));
    spin(lp);
    EXPECT_EQ(acks, (std::vector<ack>{{a, kOk}}));  // the first flush does not cover b

    ASSERT_TRUE(run_until(lp, [&] { return dev.held_flushes() == 1; }));
    dev.release_flush();
    ASSERT_TRUE(run_until(lp, [&] { return acks.size() == 2; }));
    EXPECT_EQ(acks.back(), (ack{b, kOk}));
    EXPECT_EQ(dev.log,
              "WWFWF");  // a, b, the flush for a, the tail (once b completed), the flush for b
    finish(lp, *s, dev);
}

// flushes_in_flight = 2: a batch whose write completes while a flush runs gets its own flush at
// once, and flushes may complete in any order: a later flush covers what an earlier one does, an
// earlier one never covers a batch written after it was issued.
TEST(ShardPipeline, OverlappingFlushesAcknowledgeOnlyWhatTheyCover) {
    convme::loop lp;
    mem_device dev(2u << 20);
    kv::shard_options o = one_record_batches();
    o.flushes_in_flight = 2;
    auto s = open_held(lp, dev, o);
    ASSERT_TRUE(s);
    const auto t = put_batches(lp, *s, dev, {"a", "b", "c"});
    const auto a = t[0], b = t[1], c = t[2];
    std::vector<ack> acks;
    for (auto x : t) watch(lp, *s, x, acks);

    dev.release_write(0);  // a written: flush 1 (covers a)
    ASSERT_TRUE(run_until(lp, [&] { return dev.held_flushes() == 1; }));
    dev.release_write(0);  // b written while flush 1 runs: flush 2 (covers a, b) at once
    ASSERT_TRUE(run_until(lp, [&] { return dev.held_flushes() == 2; }));
    spin(lp);
    EXPECT_EQ(dev.held_flushes(), 2u);  // no third flush: nothing new was written
    EXPECT_TRUE(acks.empty());

    dev.release_flush_at(0);  // flush 1 completes: a only, b was written after it was issued
    ASSERT_TRUE(run_until(lp, [&] { return acks.size() == 1; }));
    spin(lp);
    EXPECT_EQ(acks, (std::vector<ack>{{a, kOk}}));

    dev.release_write(0);  // c written: a third flush while flush 2 still runs
    ASSERT_TRUE(run_until(lp, [&] { return dev.held_flushes() == 2; }));
    dev.release_flush_at(1);  // flush 3 completes before flush 2: covers b and c
    ASSERT_TRUE(run_until(lp, [&] { return acks.size() == 3; }));
    EXPECT_EQ(acks, (std::vector<ack>{{a, kOk}, {b, kOk}, {c, kOk}}));
    dev.release_flush_at(0);  // flush 2, late: nothing changes
    spin(lp);
    EXPECT_EQ(acks.size(), 3u);
    finish(lp, *s, dev);
}

TEST(ShardPipeline, AFailedWriteFailsEveryLaterBatchAndNothingIsAcknowledgedAfterIt) {
    convme::loop lp;
    mem_device dev(2u << 20);
    auto s = open_held(lp, dev);
    ASSERT_TRUE(s);
    const auto t = put_batches(lp, *s, dev, {"a", "b", "c"});
    const auto a = t[0], b = t[1], c = t[2];
    std::vector<ack> acks;
    for (auto x : t) watch(lp, *s, x, acks);

    dev.release_write(0);  // a written and flushed: acknowledged
    ASSERT_TRUE(run_until(lp, [&] { return dev.held_flushes() == 1; }));
    dev.release_flush();
    ASSERT_TRUE(run_until(lp, [&] { return acks.size() == 1; }));

    dev.release_write(1);  // c succeeds, then b fails
    spin(lp);
    dev.release_write(0, std::make_error_code(std::errc::io_error));
    ASSERT_TRUE(run_until(lp, [&] { return acks.size() == 3; }));
    const auto eio = std::make_error_code(std::errc::io_error);
    EXPECT_EQ(acks, (std::vector<ack>{{a, kOk}, {b, eio}, {c, eio}}));
    spin(lp);
    EXPECT_EQ(dev.held_flushes(), 0u);  // c is on the device, but nothing is flushed for it
    EXPECT_EQ(dev.held_writes(), 0u);   // and the tail never goes out
    EXPECT_EQ(s->failure(), std::errc::io_error);
    EXPECT_EQ(s->put("d", "4", 0).ec, std::errc::io_error);
    EXPECT_FALSE(run(lp, kvtest::wait_ticket(*s, a)));  // what was acknowledged stays so
    EXPECT_EQ(run(lp, kvtest::wait_ticket(*s, c)), std::errc::io_error);
    finish(lp, *s, dev);
}

TEST(ShardPipeline, AFailedFlushFailsTheBatchesItCovered) {
    convme::loop lp;
    mem_device dev(2u << 20);
    auto s = open_held(lp, dev);
    ASSERT_TRUE(s);
    const auto t = put_batches(lp, *s, dev, {"a", "b"});
    std::vector<ack> acks;
    watch(lp, *s, t[0], acks);
    watch(lp, *s, t[1], acks);
    dev.release_write(0);
    dev.release_write(0);
    ASSERT_TRUE(run_until(lp, [&] { return dev.held_flushes() == 1; }));
    ASSERT_TRUE(run_until(lp, [&] { return dev.held_writes() == 1; }));  // the tail
    dev.release_flush(std::make_error_code(std::errc::io_error));
    ASSERT_TRUE(run_until(lp, [&] { return acks.size() == 2; }));
    for (const auto& x : acks) EXPECT_EQ(x.ec, std::errc::io_error);
    dev.release_write(
        0);  // the tail's write succeeds, but nothing is flushed or acknowledged after
    spin(lp);
    EXPECT_EQ(dev.held_flushes(), 0u);
    finish(lp, *s, dev);
}

// On a device whose completed writes need no flush (`dev` set up so), two batches whose writes
// complete out of order: nothing is acknowledged before the first write completes, then both in
// ticket order, and no flush is submitted after the open.
static void expect_write_completion_acknowledges_in_ticket_order(mem_device& dev) {
    convme::loop lp;
    auto s = open_held(lp, dev);
    ASSERT_TRUE(s);
    const auto t = put_batches(lp, *s, dev, {"a", "b"});
    const auto a = t[0], b = t[1];
    std::vector<ack> acks;
    watch(lp, *s, a, acks);
    watch(lp, *s, b, acks);
    dev.release_write(1);
    spin(lp);
    EXPECT_TRUE(acks.empty());  // b is written, a is not
    dev.release_write(0);
    ASSERT_TRUE(run_until(lp, [&] { return acks.size() == 2; }));
    EXPECT_EQ(acks, (std::vector<ack>{{a, kOk}, {b, kOk}}));
    EXPECT_EQ(dev.log.find('F'), std::string::npos) << dev.log;  // writes only, no flush
    finish(lp, *s, dev);
}

TEST(ShardPipeline, WithoutFlushSupportWriteCompletionIsDurabilityInTicketOrder) {
    mem_device dev(2u << 20);
    dev.set_flush_support(false);
    expect_write_completion_acknowledges_in_ticket_order(dev);
    EXPECT_EQ(dev.flushes, 0);  // not even while opening
}

TEST(ShardPipeline, DurableWritesAreAcknowledgedWithoutAFlushInTicketOrder) {
    mem_device dev(2u << 20);
    dev.set_writes_durable(true);  // as uring sync=dsync: a completed write is durable
    expect_write_completion_acknowledges_in_ticket_order(dev);
}

TEST(ShardPipeline, DepthOneWritesFlushesAndAcknowledgesOneBatchAtATime) {
    convme::loop lp;
    mem_device dev(2u << 20);
    kv::shard_options o = manual();
    o.batches_in_flight = 1;
    o.max_batch_bytes = 1;  // b is sealed at once, as with a pipeline
    auto s = open_held(lp, dev, o);
    ASSERT_TRUE(s);
    std::vector<ack> acks;
    const auto a = s->put("a", "1", 0).ticket;
    const auto b = s->put("b", "2", 0).ticket;  // seals a
    watch(lp, *s, a, acks);
    watch(lp, *s, b, acks);
    ASSERT_TRUE(run_until(lp, [&] { return dev.held_writes() == 1; }));
    s->put("c", "3", 0);  // seals b
    spin(lp);
    EXPECT_EQ(dev.held_writes(), 1u);  // b waits while a is in flight
    dev.release_write(0);
    ASSERT_TRUE(run_until(lp, [&] { return dev.held_flushes() == 1; }));
    spin(lp);
    EXPECT_EQ(dev.held_writes(), 0u);  // ... and until a is durable, not just written
    dev.release_flush();
    ASSERT_TRUE(run_until(lp, [&] { return dev.held_writes() == 1; }));
    EXPECT_EQ(acks, (std::vector<ack>{{a, kOk}}));
    dev.release_write(0);
    ASSERT_TRUE(run_until(lp, [&] { return dev.held_flushes() == 1; }));
    dev.release_flush();
    ASSERT_TRUE(run_until(lp, [&] { return acks.size() == 2; }));
    EXPECT_EQ(dev.log, "WFWF");

    // A stream of writes never has two batches on the device at once.
    dev.hold = false;
    while (!dev.held.empty()) {
        if (dev.held.front()->op == convme::io_op::write)
            dev.release_write(0);
        else
            dev.release_flush();
    }
    std::uint64_t last = 0;
    for (int i = 0; i < 200; ++i) {
        last = s->put("k" + std::to_string(i), "v", 0).ticket;
        if (i % 7 == 0) lp.run_once();
    }
    EXPECT_FALSE(run(lp, kvtest::wait_ticket(*s, last)));
    EXPECT_EQ(dev.max_writes_in_flight, 1);
    EXPECT_EQ(dev.log.find("WW"), std::string::npos) << dev.log;
    finish(lp, *s, dev);
}

TEST(ShardPipeline, AHalfSwitchWaitsForTheBatchesBeforeItAndHoldsBackTheOnesAfter) {
    convme::loop lp;
    mem_device dev(2u << 20);
    auto s = open_held(lp, dev);
    ASSERT_TRUE(s);
    const std::uint64_t half = s->half_size();
    put_batches(lp, *s, dev, {"a", "b"});
    s->start_compaction();  // seals the tail, then switches to half 1: the header waits for all
    ASSERT_TRUE(run_until(lp, [&] { return dev.held_writes() == 3; }))
        << dev.held_writes() << " " << dev.log;
    spin(lp);
    ASSERT_EQ(dev.held_writes(), 3u);
    dev.release_write(0);
    dev.release_write(0);
    dev.release_write(0);
    ASSERT_TRUE(run_until(lp, [&] { return dev.held_flushes() == 1; }));
    spin(lp);
    EXPECT_EQ(dev.held_writes(), 0u);  // written is not enough: durable first
    dev.release_flush();
    ASSERT_TRUE(run_until(lp, [&] { return dev.held_writes() == 1; }));
    EXPECT_EQ(dev.held_of(convme::io_op::write)[0]->offset, half);  // the header of half 1
    // The compactor's copies (and any new write) go to half 1: not before its header is durable.
    s->put("c", "3", 0);
    spin(lp);
    EXPECT_EQ(dev.held_writes(), 1u);
    dev.release_write(0);
    ASSERT_TRUE(run_until(lp, [&] { return dev.held_flushes() == 1; }));
    spin(lp);
    EXPECT_EQ(dev.held_writes(), 0u);
    dev.release_flush();
    ASSERT_TRUE(run_until(lp, [&] { return dev.held_writes() >= 1; }));
    EXPECT_GE(dev.held_of(convme::io_op::write)[0]->offset, half + 512);
    dev.hold = false;
    while (!dev.held.empty()) {
        if (dev.held.front()->op == convme::io_op::write)
            dev.release_write(0);
        else
            dev.release_flush();
    }
    ASSERT_TRUE(run_until(lp, [&] { return !s->compacting(); }));
    ASSERT_FALSE(s->failure());
    mem_device crashed(dev.mem);
    auto t = open_shard(lp, crashed, manual());
    ASSERT_TRUE(t);
    EXPECT_EQ(value_of(*t, "a"), "v-a");
    EXPECT_EQ(value_of(*t, "b"), "v-b");
    EXPECT_EQ(value_of(*t, "c"), "3");
    run(lp, t->close());
    finish(lp, *s, dev);
}

convme::task<void> open_into(kv::shard& s, std::error_code& ec, bool& done) {
    ec = co_await s.open();
    done = true;
}

// A write that reaches a shard while open() waits for its epoch record (another core's client,
// say) must not be written alongside it: landing without the epoch record, it would share an
// epoch with the next run and could pass recovery's epoch check.
TEST(ShardPipeline, NoBatchOvertakesTheEpochRecordOfARun) {
    convme::loop lp;
    mem_device dev(2u << 20);
    dev.hold = true;
    kv::shard s(dev, kvtest::small_geometry(), one_record_batches());
    std::error_code ec;
    bool opened = false;
    lp.spawn(open_into(s, ec, opened));
    // The fresh region's header is written and flushed first, then the epoch record.
    ASSERT_TRUE(run_until(lp, [&] { return !dev.held.empty(); }));
    dev.release_write(0);
    ASSERT_TRUE(run_until(lp, [&] { return dev.held_flushes() == 1; }));
    dev.release_flush();
    ASSERT_TRUE(run_until(lp, [&] { return dev.held_writes() == 1; }));  // the epoch record
    ASSERT_FALSE(s.put("early", "1", 0).ec);
    ASSERT_FALSE(s.put("early2", "2", 0).ec);  // seals "early" into a batch of its own
    spin(lp);
    EXPECT_EQ(dev.held_writes(), 1u);  // "early" waits although the window has room
    dev.release_write(0);
    ASSERT_TRUE(run_until(lp, [&] { return dev.held_flushes() == 1; }));
    spin(lp);
    EXPECT_EQ(dev.held_writes(), 0u);
    dev.release_flush();
    ASSERT_TRUE(run_until(lp, [&] { return opened && dev.held_writes() == 1; }));
    EXPECT_FALSE(ec);
    finish(lp, s, dev);
}

// Batch N+1 reached the device but batch N did not when the machine died (both were being
// written at once, or N's completed write sat in a volatile cache). Recovery stops at N's
// spot, so N+1 is dropped (it was never acknowledged: no flush could cover it). The next run then
// writes over N's spot; once its records end exactly where N+1 begins, N+1's records are valid
// and contiguous with the log again. Only the epoch rule (every open starts a higher epoch;
// recovery rejects a record older than the one before it) keeps them from coming back over the
// newer, acknowledged value.
TEST(ShardPipeline, ABatchThatLandedAheadOfAMissingOneNeverComesBack) {
    convme::loop lp;
    mem_device dev(2u << 20);
    kv::shard_options o = manual();
    o.max_batch_bytes = 2100;  // "n" fills a batch alone; "a" and "z" share the next
    auto s = open_shard(lp, dev, o);
    ASSERT_TRUE(s);
    ASSERT_FALSE(run(lp, put_and_wait(*s, "k", "acked")));
    dev.hold = true;
    const std::uint64_t n_at = s->used_bytes();
    // Batch N: one record of 48 + 1 + 2000 bytes, 5 blocks. Batch N+1 right behind it.
    const auto n = s->put("n", std::string(2000, 'n'), 0).ticket;
    s->put("a", "stale", 0);
    const auto n1 = s->put("z", "stale", 0).ticket;
    s->put("tail", std::string(2000, 't'), 0);  // seals N+1
    ASSERT_TRUE(run_until(lp, [&] { return dev.held_writes() == 2; }));
    ASSERT_EQ(dev.held_of(convme::io_op::write)[0]->offset, n_at);
    ASSERT_EQ(dev.held_of(convme::io_op::write)[1]->offset, n_at + 5 * 512);
    std::vector<ack> acks;
    watch(lp, *s, n, acks);
    watch(lp, *s, n1, acks);

    dev.release_write(1);  // N+1 lands, N does not
    spin(lp);
    EXPECT_EQ(dev.held_flushes(), 0u);
    EXPECT_TRUE(acks.empty());    // N+1 is on the device, but not acknowledged
    mem_device crashed(dev.mem);  // power cut now
    finish(lp, *s, dev);

    // Run 2: the scan ends at N's empty first block; N+1 is not applied.
    auto t = open_shard(lp, crashed, manual());
    ASSERT_TRUE(t);
    EXPECT_EQ(t->stats().recovery_stop[0], "end of log");
    EXPECT_EQ(value_of(*t, "k"), "acked");
    EXPECT_EQ(value_of(*t, "n"), "<none>");
    EXPECT_EQ(value_of(*t, "a"), "<none>");
    EXPECT_EQ(value_of(*t, "z"), "<none>");
    EXPECT_EQ(t->used_bytes(), n_at + 512);  // run 2's epoch record took N's first block
    // A newer value for "a", acknowledged, in a batch that fills the rest of N's spot exactly
    // (48 + 1 + 1900 bytes: 4 blocks), so the log now runs straight into N+1's records.
    ASSERT_FALSE(run(lp, put_and_wait(*t, "a", std::string(1900, 'A'))));
    ASSERT_EQ(t->used_bytes(), n_at + 5 * 512);
    mem_device crashed2(crashed.mem);  // another power cut
    run(lp, t->close());

    // Run 3: N+1's records are intact and follow run 2's last record, but are from an older epoch.
    auto u = open_shard(lp, crashed2, manual());
    ASSERT_TRUE(u);
    EXPECT_NE(u->stats().recovery_stop[0].find("older"), std::string::npos)
        << u->stats().recovery_stop[0];
    EXPECT_EQ(value_of(*u, "k"), "acked");
    EXPECT_EQ(value_of(*u, "a"), std::string(1900, 'A'));
    EXPECT_EQ(value_of(*u, "z"), "<none>");
    EXPECT_EQ(value_of(*u, "n"), "<none>");
    EXPECT_EQ(u->size(), 2u);
    run(lp, u->close());
}
