/* SPDX-License-Identifier: MIT */
/* convme C API (C99 and C++): open a block device by URI, allocate DMA buffers, do synchronous
 * and asynchronous I/O through per-thread queues, and send raw NVMe commands.
 *
 *   convme_dev *dev;  convme_queue *q;
 *   if (convme_open("sim:mem?size=64M", &dev) < 0) { puts(convme_last_error()); return 1; }
 *   convme_queue_open(dev, &q);                     // one per thread (a loop + a queue pair)
 *   void *buf = convme_dma_alloc(4096);
 *   int rc = convme_write(q, buf, 0, 4096);         // synchronous: 0 or -errno
 *   convme_req *r;
 *   convme_submit_read(q, buf, 0, 4096, NULL, NULL, &r);   // asynchronous, a request handle
 *   rc = convme_wait(q, r, 1000);                   // its result; -ETIMEDOUT keeps r pending
 *   convme_queue_close(q); convme_dma_free(buf); convme_close(dev);
 *
 * Errors are negative errno values. convme_strerror(rc) gives the message naming the cause (the
 * text the C++ API puts in its error_code / exception) for the last error on this thread, or
 * strerror() text for any other value.
 *
 * Threads: a convme_dev may be used from any number of threads; a convme_queue by one thread at a
 * time (its requests complete only while that thread polls it). Every queue of a device must be
 * closed before the device. */
#ifndef CONVME_CONVME_H
#define CONVME_CONVME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct convme_dev convme_dev;
typedef struct convme_queue convme_queue;
typedef struct convme_req convme_req;

typedef struct convme_info {
    const char* name;       /* e.g. "nvme sim:mem ns1", "uring:/tmp/f (O_DIRECT)" */
    const char* backend;    /* "uring", "threadpool", "sim", "nvme" */
    uint32_t block_size;    /* offsets and lengths are multiples of it */
    uint64_t capacity;      /* bytes */
    uint32_t max_transfer;  /* largest single command in bytes; larger I/O is split; 0: none */
    uint32_t queue_depth;   /* per-queue depth of the backend */
    uint32_t mem_alignment; /* required buffer address alignment */
    int supports_flush, supports_write_zeroes, supports_trim;
    int nvme; /* 1 if NVMe passthrough works (sim:, vfio:) */
} convme_info;

/* ---- devices and buffers */
int convme_open(const char* uri, convme_dev** out); /* 0 or -errno (-EINVAL: bad URI) */
int convme_close(convme_dev* dev);                  /* -EBUSY while queues are open */
const convme_info* convme_get_info(const convme_dev* dev);
const char* convme_strerror(int err);
const char* convme_last_error(void); /* detail of this thread's last error */

/* Page-aligned, zeroed, locked memory the backends register for DMA (fixed buffers, IOVA). */
void* convme_dma_alloc(size_t size); /* NULL + convme_last_error() on failure */
void convme_dma_free(void* buf);

/* ---- queues: each is a convme event loop and its queue pair, owned by one thread at a time */
int convme_queue_open(convme_dev* dev, convme_queue** out);
int convme_queue_close(convme_queue* q); /* waits for its in-flight I/O */
unsigned convme_queue_in_flight(const convme_queue* q);

/* ---- synchronous I/O on a queue: 0 or -errno */
int convme_read(convme_queue* q, void* buf, uint64_t offset, uint64_t length);
int convme_write(convme_queue* q, const void* buf, uint64_t offset, uint64_t length);
int convme_flush(convme_queue* q);
int convme_write_zeroes(convme_queue* q, uint64_t offset, uint64_t length);
int convme_trim(convme_queue* q, uint64_t offset, uint64_t length);

/* ---- asynchronous I/O. With a callback, it runs inside convme_poll/convme_wait on the queue's
 * thread with the result (0 or -errno) and the request is freed after it returns (pass out ==
 * NULL). Without one, *out is a handle for convme_wait / convme_req_test / convme_req_free. */
typedef void (*convme_cb)(convme_req* req, int result, void* arg);

enum convme_op {
    CONVME_OP_READ,
    CONVME_OP_WRITE,
    CONVME_OP_FLUSH,
    CONVME_OP_WRITE_ZEROES,
    CONVME_OP_TRIM
};
int convme_submit(convme_queue* q, int op, void* buf, uint64_t offset, uint64_t length,
                  convme_cb cb, void* arg, convme_req** out);
int convme_submit_read(convme_queue* q, void* buf, uint64_t offset, uint64_t length, convme_cb cb,
                       void* arg, convme_req** out);
int convme_submit_write(convme_queue* q, const void* buf, uint64_t offset, uint64_t length,
                        convme_cb cb, void* arg, convme_req** out);

/* Run the queue until at least min_complete requests completed (callbacks ran) or timeout_ms
 * passed (0: one non-blocking pass; negative: no limit). Returns the number completed (>= 0). */
int convme_poll(convme_queue* q, unsigned min_complete, int timeout_ms);
/* Run the queue until `req` completed: returns its result and frees it; or -ETIMEDOUT after
 * timeout_ms (0: one check, negative: no limit), and `req` stays valid. Other requests of the
 * queue complete meanwhile (their callbacks run). */
int convme_wait(convme_queue* q, convme_req* req, int timeout_ms);
int convme_req_test(const convme_req* req);   /* 1 done, 0 in flight */
int convme_req_result(const convme_req* req); /* 0 or -errno once done */
void convme_req_free(convme_req* req);        /* a done request without callback */
void* convme_req_arg(const convme_req* req);

/* ---- NVMe passthrough (sim: and vfio: devices; others give -EOPNOTSUPP). */
typedef struct convme_nvme_cmd {
    uint8_t opcode;
    uint8_t flags;
    uint16_t rsvd;
    uint32_t nsid;
    uint32_t cdw2, cdw3;
    uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
} convme_nvme_cmd;
typedef struct convme_nvme_cpl {
    uint32_t cdw0;   /* command specific */
    uint16_t status; /* (SCT << 8) | SC; 0: success */
    uint16_t dnr;    /* do-not-retry bit */
} convme_nvme_cpl;
/* Result: 0, -EIO with cpl->status set for an NVMe error status, or another -errno. I/O commands
 * go on the queue's own queue pair (buf: dword aligned, at most max_transfer bytes); admin
 * commands through the admin queue (buf copied via a bounce buffer, at most two pages). */
int convme_nvme_io(convme_queue* q, const convme_nvme_cmd* cmd, void* buf, size_t len,
                   convme_nvme_cpl* cpl);
int convme_nvme_admin(convme_queue* q, const convme_nvme_cmd* cmd, void* buf, size_t len,
                      convme_nvme_cpl* cpl);
/* Asynchronous passthrough: cpl must stay valid until completion. */
int convme_submit_nvme(convme_queue* q, int admin, const convme_nvme_cmd* cmd, void* buf,
                       size_t len, convme_nvme_cpl* cpl, convme_cb cb, void* arg, convme_req** out);

/* Driver counters of an NVMe device (sim:, vfio:); -EOPNOTSUPP for others. */
typedef struct convme_nvme_stats {
    uint64_t submitted, completed, split_requests, timeouts, resets, admin_commands;
    uint32_t io_queues, page_size;
    uint64_t aborts_sent;
    uint64_t doorbell_kicks; /* doorbells rewritten after a quiet spell with I/O in flight */
} convme_nvme_stats;
int convme_get_nvme_stats(const convme_dev* dev, convme_nvme_stats* out);

#ifdef __cplusplus
}
#endif
#endif /* CONVME_CONVME_H */
