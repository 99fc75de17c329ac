/* SPDX-License-Identifier: MIT */
/* unvme_wrc: write, read back and compare, one thread per I/O queue. A program written only
 * against UNVMe's unvme.h (no convme header): it builds with `cc unvme_wrc.c -lunvme -lpthread`
 * and runs against UNVMe or convme's libunvme alike.
 *
 *   unvme_wrc [-q QCOUNT] [-d QSIZE] [-n NLB] [-c IOS] [-s SLBA] PCINAME
 *   e.g. unvme_wrc 01:00.0     unvme_wrc -q 4 -n 256 'sim:mem?size=256M'
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <unvme.h>

static const unvme_ns_t* ns;
static u32 nlb = 64;
static int ios = 256;
static u64 slba = 0;

struct job {
    int qid;
    long errors;
};

static u64 pattern(u64 lba, u32 word) {
    return (lba << 20) ^ (0x5a5aull << 48) ^ word;
}

static void* run(void* arg) {
    struct job* j = (struct job*)arg;
    u64 bytes = (u64)nlb * ns->blocksize;
    int depth = ns->maxiopq < 8 ? ns->maxiopq : 8;
    u8* buf = unvme_alloc(ns, bytes * depth);
    unvme_iod_t* iod = calloc(depth, sizeof *iod);
    if (!buf || !iod) {
        j->errors = 1;
        return NULL;
    }
    u64 first = slba + (u64)j->qid * ios * nlb;
    for (int pass = 0; pass < 2; ++pass) {
        for (int i = 0; i < ios; i += depth) {
            int n = ios - i < depth ? ios - i : depth;
            for (int k = 0; k < n; ++k) {
                u64 lba = first + (u64)(i + k) * nlb;
                u64* p = (u64*)(buf + k * bytes);
                if (pass == 0)
                    for (u32 w = 0; w < bytes / 8; ++w) p[w] = pattern(lba, w);
                else
                    memset(p, 0, bytes);
                iod[k] = pass == 0 ? unvme_awrite(ns, j->qid, p, lba, nlb)
                                   : unvme_aread(ns, j->qid, p, lba, nlb);
                if (!iod[k]) {
                    fprintf(stderr, "q%d: submit at lba %llu failed\n", j->qid,
                            (unsigned long long)lba);
                    j->errors++;
                }
            }
            for (int k = 0; k < n; ++k) {
                if (!iod[k]) continue;
                int st = unvme_apoll(iod[k], UNVME_TIMEOUT);
                if (st) {
                    fprintf(stderr, "q%d: apoll status 0x%x\n", j->qid, st);
                    j->errors++;
                    continue;
                }
                if (pass == 1) {
                    u64 lba = first + (u64)(i + k) * nlb;
                    const u64* p = (const u64*)(buf + k * bytes);
                    for (u32 w = 0; w < bytes / 8; ++w)
                        if (p[w] != pattern(lba, w)) {
                            fprintf(stderr, "q%d: miscompare at lba %llu word %u\n", j->qid,
                                    (unsigned long long)lba, w);
                            j->errors++;
                            break;
                        }
                }
            }
        }
    }
    free(iod);
    unvme_free(ns, buf);
    return NULL;
}

int main(int argc, char** argv) {
    int qcount = 0, qsize = 0, opt;
    while ((opt = getopt(argc, argv, "q:d:n:c:s:")) != -1) {
        switch (opt) {
            case 'q':
                qcount = atoi(optarg);
                break;
            case 'd':
                qsize = atoi(optarg);
                break;
            case 'n':
                nlb = (u32)strtoul(optarg, NULL, 0);
                break;
            case 'c':
                ios = atoi(optarg);
                break;
            case 's':
                slba = strtoull(optarg, NULL, 0);
                break;
            default:
                goto usage;
        }
    }
    if (optind != argc - 1) {
    usage:
        fprintf(stderr, "usage: %s [-q QCOUNT] [-d QSIZE] [-n NLB] [-c IOS] [-s SLBA] PCINAME\n",
                argv[0]);
        return 2;
    }
    ns = unvme_openq(argv[optind], qcount, qsize);
    if (!ns) return 1;
    if (qcount == 0 && ns->qcount > 4) qcount = 4; /* use a few of the queues by default */
    int nq = qcount ? qcount : (int)ns->qcount;
    printf("%s: %.40s, %llu blocks of %u bytes, %u queue(s) of %u, maxbpio %u\n", ns->device,
           ns->mn, (unsigned long long)ns->blockcount, ns->blocksize, ns->qcount, ns->qsize,
           ns->maxbpio);
    if (slba + (u64)nq * ios * nlb > ns->blockcount) {
        fprintf(stderr, "the namespace is too small for %d queues x %d I/Os x %u blocks\n", nq, ios,
                nlb);
        unvme_close(ns);
        return 1;
    }
    pthread_t* th = calloc(nq, sizeof *th);
    struct job* jobs = calloc(nq, sizeof *jobs);
    for (int q = 0; q < nq; ++q) {
        jobs[q].qid = q;
        pthread_create(&th[q], NULL, run, &jobs[q]);
    }
    long errors = 0;
    for (int q = 0; q < nq; ++q) {
        pthread_join(th[q], NULL);
        errors += jobs[q].errors;
    }
    printf("%d queue(s) x %d I/Os x %u blocks written, read back and compared: %ld error(s)\n", nq,
           ios, nlb, errors);
    free(th);
    free(jobs);
    unvme_close(ns);
    return errors ? 1 : 0;
}
