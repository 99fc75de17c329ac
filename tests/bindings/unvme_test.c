/* SPDX-License-Identifier: MIT */
/* libunvme: every call of unvme.h, compiled as C99 against the simulated controller (and uring:).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <unvme.h>

#include "c_check.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}
static void fill(void* buf, size_t n, u64 seed) {
    u64* p = (u64*)buf;
    for (size_t i = 0; i < n / 8; ++i) p[i] = seed * 0x9e3779b97f4a7c15ull + i;
}
static int same(const void* buf, size_t n, u64 seed) {
    const u64* p = (const u64*)buf;
    for (size_t i = 0; i < n / 8; ++i)
        if (p[i] != seed * 0x9e3779b97f4a7c15ull + i) return 0;
    return 1;
}

static void test_open_errors(void) {
    printf("-- open errors\n");
    CHECK(unvme_openq("sim:mem?size=8M", -1, 0) == NULL, "negative qcount");
    CHECK(unvme_openq("sim:mem?size=8M", 1, 1) == NULL, "qsize 1");
    CHECK(unvme_open("not a device") == NULL, "garbage name");
    CHECK(unvme_open("sim:mem?size=oops") == NULL, "bad URI");
    CHECK(unvme_open("7:zz.1") == NULL, "bad BDF");
}

static void test_basic(void) {
    printf("-- sim: fields, sync, async, admin, passthrough\n");
    const unvme_ns_t* ns = unvme_openq("sim:mem?size=64M&mdts=2", 2, 16);
    CHECK(ns != NULL, "openq");
    if (!ns) return;
    printf("  device '%s' mn '%.40s' sn '%.20s' fr '%.8s' vid 0x%x id %u\n", ns->device, ns->mn,
           ns->sn, ns->fr, ns->vid, ns->id);
    printf(
        "  blockcount %llu pagecount %llu blocksize %u pagesize %u blockshift %u pageshift %u "
        "bpshift %u nbpp %u\n",
        (unsigned long long)ns->blockcount, (unsigned long long)ns->pagecount, ns->blocksize,
        ns->pagesize, ns->blockshift, ns->pageshift, ns->bpshift, ns->nbpp);
    printf(
        "  maxbpio %u maxppio %u maxiopq %u nscount %u qcount %u maxqcount %u qsize %u maxqsize "
        "%u\n",
        ns->maxbpio, ns->maxppio, ns->maxiopq, ns->nscount, ns->qcount, ns->maxqcount, ns->qsize,
        ns->maxqsize);
    CHECK(ns->blocksize == 512 && ns->blockshift == 9 && ns->blockcount == (64u << 20) / 512,
          "geometry");
    CHECK(ns->pagesize == 4096 && ns->pageshift == 12 && ns->bpshift == 3 && ns->nbpp == 8 &&
              ns->pagecount == ns->blockcount / 8,
          "pages");
    CHECK(ns->maxppio == 4 && ns->maxbpio == 32, "MDTS 2 = 16 KiB per command");
    CHECK(ns->qcount == 2 && ns->qsize == 16 && ns->maxiopq == 15 && ns->maxqcount >= 2, "queues");
    CHECK(ns->id == 1 && ns->nscount == 1 && ns->mn[0] != ' ' && ns->mn[0] != 0 && ns->ses != NULL,
          "identity");

    void *buf = unvme_alloc(ns, 1 << 20), *back = unvme_alloc(ns, 1 << 20);
    CHECK(buf && back && ((unsigned long)buf & 4095) == 0, "alloc");
    int dummy;
    CHECK(unvme_free(ns, &dummy) == -1, "free of a foreign pointer fails");

    /* sync on both queues */
    fill(buf, 4096, 1);
    CHECK(unvme_write(ns, 0, buf, 8, 8) == 0, "write q0");
    memset(back, 0, 4096);
    CHECK(unvme_read(ns, 1, back, 8, 8) == 0 && same(back, 4096, 1), "read q1 sees it");
    CHECK(unvme_read(ns, 2, back, 8, 8) == -1, "qid beyond qcount fails to submit");
    CHECK(unvme_read(ns, 0, back, ns->blockcount, 1) == 0x0080,
          "read past the end: LBA out of range status");

    /* large I/O: 1 MiB = 2048 blocks = 64 commands of maxbpio, through a 15-command queue */
    fill(buf, 1 << 20, 2);
    CHECK(unvme_write(ns, 0, buf, 4096, 2048) == 0, "1 MiB write split across MDTS");
    memset(back, 0, 1 << 20);
    unvme_iod_t big = unvme_aread(ns, 0, back, 4096, 2048);
    CHECK(big && big->nlb == 2048 && big->slba == 4096 && big->buf == back && big->qid == 0 &&
              big->opc == 0x02,
          "aread descriptor fields");
    CHECK(unvme_apoll(big, UNVME_TIMEOUT) == 0 && same(back, 1 << 20, 2), "1 MiB read verified");

    /* a full queue: 64 async writes of 4 KiB on a 15-deep queue, then reads; poll in reverse */
    unvme_iod_t iods[64];
    int ok = 1;
    for (int i = 0; i < 64; ++i) {
        fill((char*)buf + i * 4096, 4096, 100 + i);
        iods[i] = unvme_awrite(ns, 1, (char*)buf + i * 4096, 16384 + i * 8, 8);
        ok &= iods[i] != NULL;
    }
    CHECK(ok, "64 awrites submitted on a queue of 16 (the library polled for room)");
    for (int i = 63; i >= 0; --i) ok &= unvme_apoll(iods[i], UNVME_TIMEOUT) == 0;
    CHECK(ok, "64 apolls");
    memset(back, 0, 64 * 4096);
    for (int i = 0; i < 8; ++i)
        iods[i] = unvme_aread(ns, 1, (char*)back + i * 4096, 16384 + i * 8, 8);
    CHECK(unvme_apoll(iods[7], UNVME_TIMEOUT) == 0, "poll the last read");
    /* polling one iod reaped the others: each now answers a non-blocking check */
    for (int i = 0; i < 7; ++i) ok &= unvme_apoll(iods[i], 0) == 0;
    for (int i = 0; i < 8; ++i) ok &= same((char*)back + i * 4096, 4096, 100 + i);
    CHECK(ok, "the other 7 were reaped by that poll (apoll(iod, 0) == 0) and verified");

    /* admin queue (qid -1) */
    u32 cdw[6] = {1, 0, 0, 0, 0, 0}; /* CNS 1: identify controller */
    memset(back, 0, 4096);
    u32 cs = 0xdead;
    CHECK(unvme_cmd(ns, -1, 0x06, 0, back, 4096, cdw, &cs) == 0 &&
              memcmp((char*)back + 24, ns->mn, 40) == 0,
          "unvme_cmd admin identify matches ns->mn");
    u32 gf[6] = {0x07, 0, 0, 0, 0, 0}; /* get features: number of queues */
    unvme_iod_t a = unvme_acmd(ns, -1, 0x0a, 0, NULL, 0, gf);
    CHECK(a != NULL && unvme_apoll_cs(a, UNVME_TIMEOUT, &cs) == 0 &&
              (cs & 0xffff) + 1 >= ns->maxqcount,
          "unvme_acmd admin get features, cqe_cs 0x%x", cs);
    CHECK(unvme_cmd(ns, -1, 0xc5, 0, NULL, 0, NULL, NULL) == 0x0001,
          "unknown admin opcode: invalid opcode status");
    /* I/O passthrough: a read of LBA 8 and a flush */
    u32 rd[6] = {8, 0, 7, 0, 0, 0};
    memset(back, 0, 4096);
    CHECK(unvme_cmd(ns, 0, 0x02, 1, back, 4096, rd, NULL) == 0 && same(back, 4096, 1),
          "unvme_cmd I/O read");
    a = unvme_acmd(ns, 1, 0x00, 1, NULL, 0, NULL);
    CHECK(a != NULL && unvme_apoll(a, UNVME_TIMEOUT) == 0, "unvme_acmd flush");

    CHECK(unvme_free(ns, buf) == 0 && unvme_free(ns, back) == 0, "free");
    CHECK(unvme_close(ns) == 0, "close");
}

static void test_timeout(void) {
    printf("-- timeout (sim latency 1.5 s)\n");
    const unvme_ns_t* ns = unvme_openq("sim:mem?size=8M&latency_us=1500000", 1, 0);
    CHECK(ns != NULL && ns->qsize == UNVME_QSIZE, "open with the default qsize");
    if (!ns) return;
    void* buf = unvme_alloc(ns, 4096);
    double t0 = now_s();
    unvme_iod_t iod = unvme_aread(ns, 0, buf, 0, 8);
    CHECK(iod != NULL && unvme_apoll(iod, 0) == -1, "apoll(iod, 0): one check, not done");
    int rc = unvme_apoll(iod, 1);
    double t1 = now_s();
    CHECK(rc == -1 && t1 - t0 >= 0.99, "apoll(iod, 1) times out: %d after %.2f s", rc, t1 - t0);
    rc = unvme_apoll(iod, 5);
    CHECK(rc == 0 && now_s() - t0 >= 1.4, "then the same iod completes: %d after %.2f s", rc,
          now_s() - t0);
    unvme_close(ns);
}

/* A media error reaches the program as the NVMe status UNVMe returns: (SCT << 8) | SC. */
static void test_media_error(void) {
    printf("-- media error (sim bad blocks 8-15)\n");
    const unvme_ns_t* ns = unvme_openq("sim:mem?size=8M&bad_lba=8&bad_blocks=8", 1, 16);
    CHECK(ns != NULL, "open");
    if (!ns) return;
    void* buf = unvme_alloc(ns, 8192);
    CHECK(unvme_write(ns, 0, buf, 0, 8) == 0, "blocks 0-7 are good");
    CHECK(unvme_read(ns, 0, buf, 8, 8) == 0x0281, "read of bad blocks: Unrecovered Read Error");
    CHECK(unvme_write(ns, 0, buf, 4, 8) == 0x0280, "write reaching bad blocks: Write Fault");
    unvme_iod_t iod = unvme_aread(ns, 0, buf, 12, 1);
    CHECK(iod != NULL && unvme_apoll(iod, UNVME_TIMEOUT) == 0x0281, "aread + apoll: the status");
    CHECK(unvme_read(ns, 0, buf, 16, 16) == 0, "blocks 16-31 are good");
    unvme_free(ns, buf);
    unvme_close(ns);
}

struct targ {
    const unvme_ns_t* ns;
    int qid, errors;
};
static void* worker(void* p) {
    struct targ* t = (struct targ*)p;
    const unvme_ns_t* ns = t->ns;
    const u32 nlb = 64;
    void* buf = unvme_alloc(ns, 16 * nlb * 512);
    for (int round = 0; round < 20; ++round) {
        unvme_iod_t w[16];
        u64 base = ((u64)t->qid * 20 + round) * 16 * nlb;
        for (int i = 0; i < 16; ++i) {
            fill((char*)buf + i * nlb * 512, nlb * 512, base + i);
            w[i] = unvme_awrite(ns, t->qid, (char*)buf + i * nlb * 512, base + i * nlb, nlb);
            if (!w[i]) t->errors++;
        }
        for (int i = 0; i < 16; ++i)
            if (w[i] && unvme_apoll(w[i], UNVME_TIMEOUT) != 0) t->errors++;
        memset(buf, 0, 16 * nlb * 512);
        for (int i = 0; i < 16; ++i)
            if (unvme_read(ns, t->qid, (char*)buf + i * nlb * 512, base + i * nlb, nlb) != 0 ||
                !same((char*)buf + i * nlb * 512, nlb * 512, base + i))
                t->errors++;
    }
    unvme_free(ns, buf);
    return NULL;
}

static void test_threads(void) {
    printf("-- 4 queues, 4 threads, and admin commands from a fifth\n");
    const unvme_ns_t* ns = unvme_openq("sim:mem?size=64M", 4, 32);
    CHECK(ns != NULL && ns->qcount == 4, "openq 4 queues");
    if (!ns) return;
    pthread_t th[4];
    struct targ t[4];
    for (int i = 0; i < 4; ++i) {
        t[i].ns = ns;
        t[i].qid = i;
        t[i].errors = 0;
        pthread_create(&th[i], NULL, worker, &t[i]);
    }
    int admin_errors = 0;
    void* id = unvme_alloc(ns, 4096);
    for (int i = 0; i < 20; ++i) {
        u32 cdw[6] = {1, 0, 0, 0, 0, 0};
        if (unvme_cmd(ns, -1, 0x06, 0, id, 4096, cdw, NULL) != 0) admin_errors++;
    }
    int errors = 0;
    for (int i = 0; i < 4; ++i) {
        pthread_join(th[i], NULL);
        errors += t[i].errors;
    }
    CHECK(errors == 0 && admin_errors == 0, "%d I/O errors, %d admin errors", errors, admin_errors);
    unvme_close(ns);
}

static void test_uring(void) {
    printf("-- uring: through UNVMe\n");
    char path[] = "/var/tmp/convme-unvme-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return;
    close(fd);
    char uri[256];
    snprintf(uri, sizeof uri, "uring:%s?create_size=8M", path);
    const unvme_ns_t* ns = unvme_open(uri);
    CHECK(ns != NULL && ns->blocksize >= 512 && ns->qcount >= 1, "open");
    if (ns) {
        void* buf = unvme_alloc(ns, 8192);
        fill(buf, 8192, 9);
        CHECK(unvme_write(ns, 0, buf, 16, 8192 / ns->blocksize) == 0, "write");
        memset(buf, 0, 8192);
        CHECK(unvme_read(ns, 0, buf, 16, 8192 / ns->blocksize) == 0 && same(buf, 8192, 9),
              "read back");
        CHECK(unvme_cmd(ns, -1, 0x06, 0, buf, 4096, NULL, NULL) == -1, "no admin queue on a file");
        unvme_close(ns);
    }
    unlink(path);
}

int main(void) {
    test_open_errors();
    test_basic();
    test_timeout();
    test_media_error();
    test_threads();
    test_uring();
    printf("unvme_test: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}
