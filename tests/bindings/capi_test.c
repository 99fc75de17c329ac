/* SPDX-License-Identifier: MIT */
/* The C API (convme.h), compiled as C99: every call against sim: and uring:. */
#include <convme/convme.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "c_check.h"

static void fill(unsigned char* p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; ++i) p[i] = (unsigned char)(seed * 131u + i * 7u + (i >> 9));
}
static int same(const unsigned char* p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; ++i)
        if (p[i] != (unsigned char)(seed * 131u + i * 7u + (i >> 9))) return 0;
    return 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_errors(void) {
    printf("-- errors\n");
    convme_dev* d = (convme_dev*)1;
    int rc = convme_open("nosuch:thing", &d);
    CHECK(rc == -EINVAL && d == NULL, "rc %d", rc);
    CHECK(strstr(convme_strerror(rc), "nosuch") != NULL, "message '%s'", convme_strerror(rc));
    rc = convme_open("sim:mem?size=banana", &d);
    CHECK(rc < 0 && strstr(convme_strerror(rc), "size") != NULL, "rc %d '%s'", rc,
          convme_strerror(rc));
    CHECK(strcmp(convme_strerror(-ENOENT), strerror(ENOENT)) == 0, "'%s'",
          convme_strerror(-ENOENT));
}

struct cb_state {
    int done, errors;
};
static void on_done(convme_req* req, int result, void* arg) {
    struct cb_state* s = (struct cb_state*)arg;
    (void)req;
    s->done++;
    if (result != 0) s->errors++;
}

static void test_sim(void) {
    printf("-- sim: sync, async, passthrough\n");
    convme_dev* d;
    int rc = convme_open("sim:mem?size=64M&mdts=2", &d);
    CHECK(rc == 0, "open: %s", convme_strerror(rc));
    if (rc) return;
    const convme_info* info = convme_get_info(d);
    printf("  name '%s' backend '%s' bs %u cap %llu max_transfer %u qd %u align %u nvme %d\n",
           info->name, info->backend, info->block_size, (unsigned long long)info->capacity,
           info->max_transfer, info->queue_depth, info->mem_alignment, info->nvme);
    CHECK(
        strcmp(info->backend, "sim") == 0 && info->block_size == 512 && info->capacity == 64u << 20,
        "info");
    CHECK(info->nvme == 1 && info->max_transfer == 16384, "max_transfer %u", info->max_transfer);

    convme_queue* q;
    rc = convme_queue_open(d, &q);
    CHECK(rc == 0, "queue: %s", convme_strerror(rc));
    if (rc) return;
    const size_t big = 1 << 20;
    unsigned char *buf = convme_dma_alloc(big), *back = convme_dma_alloc(big);
    CHECK(buf && back && ((uintptr_t)buf & 4095) == 0, "dma alloc");

    fill(buf, big, 1);
    rc = convme_write(q, buf, 1 << 20, big);
    CHECK(rc == 0, "1 MiB write (split across MDTS 16 KiB): %s", convme_strerror(rc));
    memset(back, 0, big);
    rc = convme_read(q, back, 1 << 20, big);
    CHECK(rc == 0 && same(back, big, 1), "1 MiB read back: %s", convme_strerror(rc));
    convme_nvme_stats st;
    CHECK(convme_get_nvme_stats(d, &st) == 0 && st.split_requests >= 2 && st.io_queues == 1,
          "split %llu queues %u", (unsigned long long)st.split_requests, st.io_queues);
    CHECK(convme_flush(q) == 0, "flush");
    CHECK(convme_write_zeroes(q, 1 << 20, 8192) == 0, "write_zeroes");
    CHECK(convme_read(q, back, 1 << 20, 8192) == 0 && back[0] == 0 && back[8191] == 0,
          "zeroes read back");
    CHECK(convme_trim(q, (1 << 20) + 8192, 8192) == 0, "trim");

    rc = convme_write(q, buf, 100, 512);
    CHECK(rc == -EINVAL && strstr(convme_strerror(rc), "offset 100") != NULL, "misaligned: %d '%s'",
          rc, convme_strerror(rc));
    /* The text names the failed request's own status (it once ended in "Success"). */
    CHECK(strstr(convme_strerror(rc), "block size") != NULL &&
              strstr(convme_strerror(rc), "Success") == NULL,
          "misaligned: '%s'", convme_strerror(rc));
    rc = convme_read(q, buf, 64u << 20, 512);
    CHECK(rc == -ERANGE && strstr(convme_strerror(rc), "read of 512 bytes") != NULL,
          "range: %d '%s'", rc, convme_strerror(rc));
    CHECK(strstr(convme_strerror(rc), "capacity is") != NULL &&
              strstr(convme_strerror(rc), "Success") == NULL,
          "range: '%s'", convme_strerror(rc));

    /* callbacks: 64 writes of 4 KiB then 64 reads */
    struct cb_state s = {0, 0};
    for (int i = 0; i < 64; ++i) {
        fill(buf + i * 4096, 4096, 100 + i);
        rc = convme_submit_write(q, buf + i * 4096, (uint64_t)i * 4096, 4096, on_done, &s, NULL);
        if (rc) break;
    }
    CHECK(rc == 0 && convme_queue_in_flight(q) == 64, "64 submitted, in flight %u",
          convme_queue_in_flight(q));
    int n = convme_poll(q, 64, 5000);
    CHECK(n == 64 && s.done == 64 && s.errors == 0, "poll reaped %d, callbacks %d", n, s.done);
    convme_req* reqs[64];
    memset(back, 0, 64 * 4096);
    for (int i = 0; i < 64; ++i)
        convme_submit_read(q, back + i * 4096, (uint64_t)i * 4096, 4096, NULL, NULL, &reqs[i]);
    int ok = 1;
    for (int i = 63; i >= 0; --i) ok &= convme_wait(q, reqs[i], 5000) == 0;
    for (int i = 0; i < 64; ++i) ok &= same(back + i * 4096, 4096, 100 + i);
    CHECK(ok, "64 handles waited for in reverse order, data verified");
    CHECK(convme_poll(q, 1, 20) == 0, "poll with nothing in flight times out with 0");

    /* NVMe admin: identify controller */
    convme_nvme_cmd cmd;
    convme_nvme_cpl cpl;
    memset(&cmd, 0, sizeof cmd);
    cmd.opcode = 0x06;
    cmd.cdw10 = 1;
    memset(back, 0, 4096);
    rc = convme_nvme_admin(q, &cmd, back, 4096, &cpl);
    char mn[41];
    memcpy(mn, back + 24, 40);
    mn[40] = 0;
    CHECK(rc == 0 && cpl.status == 0 && mn[0] != 0 && mn[0] != 0x20,
          "identify: rc %d status 0x%x, mn '%s'", rc, cpl.status, mn);
    /* NVMe I/O: read LBA 8 (a block written above) */
    memset(&cmd, 0, sizeof cmd);
    cmd.opcode = 0x02;
    cmd.nsid = 1;
    cmd.cdw10 = 8;
    cmd.cdw12 = 7; /* 8 blocks, 0's based */
    memset(back, 0, 4096);
    rc = convme_nvme_io(q, &cmd, back, 4096, &cpl);
    CHECK(rc == 0 && same(back, 4096, 101), "I/O passthrough read: %s", convme_strerror(rc));
    memset(&cmd, 0, sizeof cmd);
    cmd.opcode = 0x7f; /* not an NVM command */
    cmd.nsid = 1;
    rc = convme_nvme_io(q, &cmd, NULL, 0, &cpl);
    CHECK(rc == -EIO && cpl.status == 0x0001, "invalid opcode: rc %d status 0x%x '%s'", rc,
          cpl.status, convme_strerror(rc));
    /* async passthrough with a handle */
    convme_req* r;
    memset(&cmd, 0, sizeof cmd);
    cmd.opcode = 0x00; /* flush */
    cmd.nsid = 1;
    rc = convme_submit_nvme(q, 0, &cmd, NULL, 0, &cpl, NULL, NULL, &r);
    CHECK(rc == 0 && convme_wait(q, r, 5000) == 0, "async NVMe flush");

    CHECK(convme_close(d) == -EBUSY, "close with an open queue: '%s'", convme_strerror(-EBUSY));
    CHECK(convme_queue_close(q) == 0, "queue close");
    convme_dma_free(buf);
    convme_dma_free(back);
    CHECK(convme_close(d) == 0, "device close");
}

static void test_timeout(void) {
    printf("-- timeouts (sim latency 300 ms)\n");
    convme_dev* d;
    convme_queue* q;
    int rc = convme_open("sim:mem?size=8M&latency_us=300000", &d);
    CHECK(rc == 0 && convme_queue_open(d, &q) == 0, "open: %s", convme_strerror(rc));
    if (rc) return;
    void* buf = convme_dma_alloc(4096);
    convme_req* r;
    rc = convme_submit_read(q, buf, 0, 4096, NULL, NULL, &r);
    double t0 = now_s();
    int w = convme_wait(q, r, 0);
    CHECK(w == -ETIMEDOUT && convme_req_test(r) == 0, "wait(0) is one check: %d", w);
    w = convme_wait(q, r, 50);
    double t1 = now_s();
    CHECK(w == -ETIMEDOUT && t1 - t0 >= 0.045 && t1 - t0 < 0.25,
          "wait(50 ms) times out after %.3f s", t1 - t0);
    CHECK(strstr(convme_strerror(w), "50 ms") != NULL, "'%s'", convme_strerror(w));
    w = convme_wait(q, r, 5000);
    CHECK(w == 0 && now_s() - t0 >= 0.25, "then completes after %.3f s", now_s() - t0);
    convme_queue_close(q);
    convme_dma_free(buf);
    convme_close(d);
}

/* A media error: -EIO, and the text names the NVMe status and the failed request. */
static void test_media_error(void) {
    printf("-- media error (sim bad blocks 8-15)\n");
    convme_dev* d;
    convme_queue* q;
    int rc = convme_open("sim:mem?size=8M&bad_lba=8&bad_blocks=8", &d);
    CHECK(rc == 0 && convme_queue_open(d, &q) == 0, "open: %s", convme_strerror(rc));
    if (rc) return;
    char* buf = convme_dma_alloc(8192);
    CHECK(convme_write(q, buf, 0, 4096) == 0, "blocks 0-7 are good");
    rc = convme_read(q, buf, 4096, 4096);
    CHECK(rc == -EIO && strstr(convme_strerror(rc), "Unrecovered Read Error") != NULL &&
              strstr(convme_strerror(rc), "read of 4096 bytes") != NULL,
          "read of bad blocks: %d '%s'", rc, convme_strerror(rc));
    rc = convme_write(q, buf, 2048, 4096);
    CHECK(rc == -EIO && strstr(convme_strerror(rc), "Write Fault") != NULL, "write: %d '%s'", rc,
          convme_strerror(rc));
    CHECK(convme_read(q, buf, 8192, 8192) == 0, "blocks 16-31 are good");
    convme_queue_close(q);
    convme_dma_free(buf);
    convme_close(d);
}

/* More queues over a device's life than there are core ids: every one gets its own queue pair (the
 * driver's state is per loop, a closed queue's core id is free again). */
static void test_many_queues(void) {
    printf("-- 300 queues opened and closed in turn on one sim: device\n");
    convme_dev* d;
    int rc = convme_open("sim:mem?size=8M", &d);
    CHECK(rc == 0, "open: %s", convme_strerror(rc));
    if (rc) return;
    unsigned char* buf = convme_dma_alloc(4096);
    int bad = 0;
    for (unsigned i = 0; i < 300 && bad == 0; ++i) {
        convme_queue* q;
        rc = convme_queue_open(d, &q);
        if (rc != 0) {
            CHECK(0, "queue %u: %s", i, convme_strerror(rc));
            bad = 1;
            break;
        }
        fill(buf, 4096, i);
        if (convme_write(q, buf, (i % 64) * 4096ull, 4096) != 0) bad = 1;
        memset(buf, 0, 4096);
        if (convme_read(q, buf, (i % 64) * 4096ull, 4096) != 0 || !same(buf, 4096, i)) bad = 1;
        CHECK(bad == 0, "queue %u: I/O failed or read back other data", i);
        convme_queue_close(q);
    }
    convme_dma_free(buf);
    convme_close(d);
}

struct thread_arg {
    convme_dev* d;
    int index, errors;
};
static void* worker(void* p) {
    struct thread_arg* a = (struct thread_arg*)p;
    convme_queue* q;
    if (convme_queue_open(a->d, &q) != 0) {
        a->errors = 1000;
        return NULL;
    }
    unsigned char* buf = convme_dma_alloc(65536);
    for (int round = 0; round < 50; ++round) {
        uint64_t off = ((uint64_t)a->index * 50 + round) * 65536;
        fill(buf, 65536, a->index * 1000 + round);
        if (convme_write(q, buf, off, 65536) != 0) a->errors++;
        memset(buf, 0, 65536);
        if (convme_read(q, buf, off, 65536) != 0 || !same(buf, 65536, a->index * 1000 + round))
            a->errors++;
    }
    convme_dma_free(buf);
    convme_queue_close(q);
    return NULL;
}

static void test_threads(const char* uri) {
    printf("-- 4 threads, one queue each: %s\n", uri);
    convme_dev* d;
    int rc = convme_open(uri, &d);
    CHECK(rc == 0, "open: %s", convme_strerror(rc));
    if (rc) return;
    pthread_t t[4];
    struct thread_arg a[4];
    for (int i = 0; i < 4; ++i) {
        a[i].d = d;
        a[i].index = i;
        a[i].errors = 0;
        pthread_create(&t[i], NULL, worker, &a[i]);
    }
    int errors = 0;
    for (int i = 0; i < 4; ++i) {
        pthread_join(t[i], NULL);
        errors += a[i].errors;
    }
    CHECK(errors == 0, "%d errors", errors);
    /* queues are gone; a new one still works after the others closed */
    convme_queue* q;
    CHECK(convme_queue_open(d, &q) == 0 && convme_queue_close(q) == 0, "queue after the threads");
    CHECK(convme_close(d) == 0, "close");
}

static void test_uring(void) {
    printf("-- uring: file\n");
    char path[] = "/var/tmp/convme-capi-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return;
    close(fd);
    char uri[256];
    snprintf(uri, sizeof uri, "uring:%s?create_size=16M", path);
    convme_dev* d;
    convme_queue* q;
    int rc = convme_open(uri, &d);
    CHECK(rc == 0, "open: %s", convme_strerror(rc));
    if (rc == 0 && convme_queue_open(d, &q) == 0) {
        CHECK(convme_get_info(d)->nvme == 0, "not NVMe");
        unsigned char* buf = convme_dma_alloc(8192);
        fill(buf, 8192, 7);
        CHECK(convme_write(q, buf, 4096, 8192) == 0, "write");
        memset(buf, 0, 8192);
        CHECK(convme_read(q, buf, 4096, 8192) == 0 && same(buf, 8192, 7), "read back");
        convme_nvme_cmd cmd;
        memset(&cmd, 0, sizeof cmd);
        rc = convme_nvme_io(q, &cmd, NULL, 0, NULL);
        CHECK(rc == -EOPNOTSUPP && strstr(convme_strerror(rc), "not an NVMe device"),
              "passthrough: '%s'", convme_strerror(rc));
        convme_dma_free(buf);
        convme_queue_close(q);
        convme_close(d);
        test_threads(uri);
    }
    unlink(path);
}

int main(void) {
    test_errors();
    test_sim();
    test_timeout();
    test_media_error();
    test_many_queues();
    test_threads("sim:mem?size=64M");
    test_uring();
    printf("capi_test: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}
