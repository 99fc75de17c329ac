/* SPDX-License-Identifier: MIT */
/* unvme.h: Micron UNVMe's client API, implemented by convme's libunvme (cc prog.c -lunvme).
 *
 * Declarations, structure layouts and semantics follow UNVMe so that programs written for it build
 * and run unchanged; the implementation is convme's (runtime/bindings/unvme). Differences:
 *  - pciname: "BB:DD.F[/NSID]" or "DDDD:BB:DD.F[/NSID]" opens the PCI function through VFIO
 *    (environment UNVME_NOIOMMU=1 selects VFIO no-IOMMU mode), and any convme device URI works
 *    too: "sim:mem?size=1G" (simulated NVMe controller), "uring:/path", "vfio:...".
 *  - qid -1 is the admin queue for unvme_cmd / unvme_acmd; I/O queues are 0 .. qcount-1.
 *  - unvme_apoll(iod, seconds): 0 on success, the NVMe status ((SCT << 8) | SC) on an error, -1
 *    if the command did not complete in time (0 seconds: one non-blocking check). A completed iod
 *    is freed; a timed-out one stays valid and may be polled again. Polling reaps every completion
 *    on that queue. For non-NVMe backends an error maps to the closest NVMe status (0x0002
 *    invalid field, 0x0080 LBA out of range, 0x0001 invalid opcode, 0x0006 internal error).
 *  - I/O larger than maxbpio blocks is split into several commands; a full queue is polled until
 *    there is room. A queue is used by one thread at a time; different queues by different
 *    threads at once.
 */
#ifndef _UNVME_H
#define _UNVME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef _U_TYPE
#define _U_TYPE
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
#endif

#define UNVME_TIMEOUT 60 /* seconds: what unvme_read/unvme_write/unvme_cmd wait for */
#define UNVME_QSIZE 256  /* I/O queue size when unvme_openq is given 0 */

/* One open namespace. */
typedef struct _unvme_ns {
    u32 pci;         /* (bus << 16) | (device << 8) | function; 0 for a URI */
    u16 id;          /* namespace id */
    u16 vid;         /* PCI vendor id (Identify Controller) */
    char device[16]; /* "BB:DD.F/N" */
    char mn[40];     /* model number (not NUL terminated) */
    char sn[20];     /* serial number */
    char fr[8];      /* firmware revision */
    u64 blockcount;  /* logical blocks */
    u64 pagecount;   /* memory pages */
    u16 blocksize;   /* logical block size in bytes */
    u16 pagesize;    /* memory page size in bytes */
    u16 blockshift;  /* log2(blocksize) */
    u16 pageshift;   /* log2(pagesize) */
    u16 bpshift;     /* pageshift - blockshift */
    u16 nbpp;        /* blocks per page */
    u16 maxbpio;     /* most blocks per command */
    u16 maxppio;     /* most pages per command */
    u16 maxiopq;     /* most commands in flight per queue (qsize - 1) */
    u16 nscount;     /* namespaces of the controller */
    u32 qcount;      /* I/O queues of this session */
    u32 maxqcount;   /* I/O queues the controller supports */
    u32 qsize;       /* entries per I/O queue */
    u32 maxqsize;    /* largest queue the driver grants */
    void* ses;       /* the session (library private) */
} unvme_ns_t;

/* One submitted command; valid until a poll reports it completed. */
typedef struct _unvme_iod {
    void* buf; /* data buffer as submitted */
    u64 slba;  /* first block as submitted */
    u32 nlb;   /* block count as submitted */
    u32 qid;   /* queue as submitted */
    u32 opc;   /* NVMe opcode */
    u32 id;    /* descriptor id */
} * unvme_iod_t;

const unvme_ns_t* unvme_open(const char* pciname);
const unvme_ns_t* unvme_openq(const char* pciname, int qcount, int qsize);
int unvme_close(const unvme_ns_t* ns);

void* unvme_alloc(const unvme_ns_t* ns, u64 size);
int unvme_free(const unvme_ns_t* ns, void* buf);

int unvme_write(const unvme_ns_t* ns, int qid, const void* buf, u64 slba, u32 nlb);
int unvme_read(const unvme_ns_t* ns, int qid, void* buf, u64 slba, u32 nlb);
int unvme_cmd(const unvme_ns_t* ns, int qid, int opc, int nsid, void* buf, u64 bufsz,
              u32 cdw10_15[6], u32* cqe_cs);

unvme_iod_t unvme_awrite(const unvme_ns_t* ns, int qid, const void* buf, u64 slba, u32 nlb);
unvme_iod_t unvme_aread(const unvme_ns_t* ns, int qid, void* buf, u64 slba, u32 nlb);
unvme_iod_t unvme_acmd(const unvme_ns_t* ns, int qid, int opc, int nsid, void* buf, u64 bufsz,
                       u32 cdw10_15[6]);

int unvme_apoll(unvme_iod_t iod, int timeout);
int unvme_apoll_cs(unvme_iod_t iod, int timeout, u32* cqe_cs);

#ifdef __cplusplus
}
#endif
#endif /* _UNVME_H */
