/* SPDX-License-Identifier: MIT */
/* convme fio ioengine: ioengine=external:/path/libconvme_fio.so, filename= a convme device URI
 * with ':' escaped as fio requires, e.g.
 *
 *   fio --name=r --ioengine=external:./libconvme_fio.so --filename='sim\:mem?size=1G' \
 *       --rw=randread --bs=4k --iodepth=32 --thread --numjobs=2 --time_based --runtime=10
 *
 * Built on convme's C API (convme.h). Each fio job thread gets its own convme_queue (a loop and
 * a queue pair) per file; a device URI opened by several threads of one fio process is one
 * device (register_device below), so --thread --numjobs=N share a simulated controller or a VFIO
 * function; separate processes (no --thread) open their own. fio's I/O buffers come from
 * convme_dma_alloc (the iomem_alloc hook), so the backends find them registered (io_uring fixed
 * buffers, IOVA mappings). Completions are collected by a callback into a per-thread event
 * array; commit() rings the doorbells, getevents() polls the thread's queues.
 */
#include <convme/convme.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fio.h"
#include "optgroup.h"

/* ---- one device per URI per process */
struct shared_dev {
    struct shared_dev* next;
    char* uri;
    convme_dev* dev;
    int refs;
};
static pthread_mutex_t devs_mu = PTHREAD_MUTEX_INITIALIZER;
static struct shared_dev* devs;
/* Job threads between init and cleanup. fio closes and reopens files between phases (a write
 * phase and its verify), so a device stays open while any job thread lives: a simulated
 * controller in memory keeps its data until the last job using the engine ended. */
static int live_threads;

static void close_unused_locked(void) {
    struct shared_dev** pp = &devs;
    while (*pp) {
        struct shared_dev* s = *pp;
        if (s->refs > 0) {
            pp = &s->next;
            continue;
        }
        *pp = s->next;
        /* What the driver had to do to keep the job going: worth a line when it did anything. */
        convme_nvme_stats st;
        if (convme_get_nvme_stats(s->dev, &st) == 0 &&
            (st.timeouts || st.resets || st.aborts_sent || st.doorbell_kicks))
            log_info("convme: %s: %llu timeouts, %llu aborts, %llu resets, %llu doorbell kicks\n",
                     s->uri, (unsigned long long)st.timeouts, (unsigned long long)st.aborts_sent,
                     (unsigned long long)st.resets, (unsigned long long)st.doorbell_kicks);
        int rc = convme_close(s->dev);
        if (rc < 0) log_err("convme: close %s: %s\n", s->uri, convme_strerror(rc));
        free(s->uri);
        free(s);
    }
}

static struct shared_dev* get_device(struct thread_data* td, const char* uri) {
    pthread_mutex_lock(&devs_mu);
    struct shared_dev* s;
    for (s = devs; s; s = s->next)
        if (strcmp(s->uri, uri) == 0) break;
    if (!s) {
        convme_dev* dev;
        int rc = convme_open(uri, &dev);
        if (rc < 0) {
            log_err("convme: %s\n", convme_strerror(rc));
            td_verror(td, -rc, "convme_open");
            pthread_mutex_unlock(&devs_mu);
            return NULL;
        }
        s = calloc(1, sizeof *s);
        s->uri = strdup(uri);
        s->dev = dev;
        s->next = devs;
        devs = s;
    }
    s->refs++;
    pthread_mutex_unlock(&devs_mu);
    return s;
}

static void put_device(struct shared_dev* s) {
    pthread_mutex_lock(&devs_mu);
    if (--s->refs == 0 && live_threads == 0) close_unused_locked();
    pthread_mutex_unlock(&devs_mu);
}

/* ---- per file of a thread, per thread */
struct cfile {
    struct shared_dev* sd;
    convme_queue* q;
    struct cfile* next_open; /* the thread's open files, polled by getevents */
};

struct cthread {
    struct io_u** events; /* completed, not yet handed to fio */
    unsigned nevents, returned, cap;
    struct cfile* open;
    void* mem; /* iomem_alloc */
};

static void on_complete(convme_req* req, int result, void* arg) {
    struct io_u* io_u = (struct io_u*)arg;
    struct thread_data* td = (struct thread_data*)io_u->engine_data;
    struct cthread* ct = td->io_ops_data;
    (void)req;
    if (result < 0) {
        io_u->error = -result;
        if (result != -ETIMEDOUT) log_err("convme: %s\n", convme_strerror(result));
    } else {
        io_u->error = 0;
        io_u->resid = 0;
    }
    if (ct->nevents < ct->cap)
        ct->events[ct->nevents++] = io_u;
    else
        log_err("convme: more completions than fio's iodepth allows; one dropped\n");
}

static int convme_fio_init(struct thread_data* td) {
    struct cthread* ct = calloc(1, sizeof *ct);
    if (!ct) return 1;
    /* What getevents handed to fio stays here until its next call, while up to iodepth newly
     * completed I/Os queue behind it (fio requeues before it polls again). */
    ct->cap = 2 * td->o.iodepth + 2;
    ct->events = calloc(ct->cap, sizeof *ct->events);
    if (!ct->events) {
        free(ct);
        return 1;
    }
    td->io_ops_data = ct;
    pthread_mutex_lock(&devs_mu);
    live_threads++;
    pthread_mutex_unlock(&devs_mu);
    return 0;
}

static void convme_fio_cleanup(struct thread_data* td) {
    struct cthread* ct = td->io_ops_data;
    if (!ct) return;
    free(ct->events);
    free(ct);
    td->io_ops_data = NULL;
    pthread_mutex_lock(&devs_mu);
    if (--live_threads == 0) close_unused_locked();
    pthread_mutex_unlock(&devs_mu);
}

/* The capacity, from a reference to the device held just for the question (fio may call this
 * before it clones a job into --numjobs threads, so nothing is kept in the file). */
static int convme_fio_get_file_size(struct thread_data* td, struct fio_file* f) {
    if (fio_file_size_known(f)) return 0;
    struct shared_dev* sd = get_device(td, f->file_name);
    if (!sd) return EINVAL;
    f->real_file_size = convme_get_info(sd->dev)->capacity;
    fio_file_set_size_known(f);
    put_device(sd);
    return 0;
}

static int convme_fio_open_file(struct thread_data* td, struct fio_file* f) {
    struct cthread* ct = td->io_ops_data;
    struct cfile* cf = calloc(1, sizeof *cf);
    if (!cf) return ENOMEM;
    cf->sd = get_device(td, f->file_name);
    if (!cf->sd) {
        free(cf);
        return EINVAL;
    }
    FILE_SET_ENG_DATA(f, cf);
    {
        int rc = convme_queue_open(cf->sd->dev, &cf->q);
        if (rc < 0) {
            log_err("convme: %s\n", convme_strerror(rc));
            td_verror(td, -rc, "convme_queue_open");
            return -rc;
        }
        const convme_info* info = convme_get_info(cf->sd->dev);
        if (td->o.iodepth > info->queue_depth && info->queue_depth)
            log_info(
                "convme: %s: iodepth %u exceeds the backend's queue depth %u; the rest waits in "
                "software\n",
                f->file_name, td->o.iodepth, info->queue_depth);
        cf->next_open = ct->open;
        ct->open = cf;
    }
    f->fd = -1;
    return 0;
}

static int convme_fio_close_file(struct thread_data* td, struct fio_file* f) {
    struct cthread* ct = td->io_ops_data;
    struct cfile* cf = FILE_ENG_DATA(f);
    if (!cf) return 0;
    if (cf->q) {
        if (ct) {
            struct cfile** pp = &ct->open;
            while (*pp && *pp != cf) pp = &(*pp)->next_open;
            if (*pp) *pp = cf->next_open;
        }
        int rc = convme_queue_close(cf->q);
        if (rc < 0) log_err("convme: %s\n", convme_strerror(rc));
        cf->q = NULL;
    }
    if (cf->sd) put_device(cf->sd);
    free(cf);
    FILE_SET_ENG_DATA(f, NULL);
    return 0;
}

static enum fio_q_status convme_fio_queue(struct thread_data* td, struct io_u* io_u) {
    struct cfile* cf = FILE_ENG_DATA(io_u->file);
    int op, rc;
    fio_ro_check(td, io_u);
    switch (io_u->ddir) {
        case DDIR_READ:
            op = CONVME_OP_READ;
            break;
        case DDIR_WRITE:
            op = CONVME_OP_WRITE;
            break;
        case DDIR_TRIM:
            op = CONVME_OP_TRIM;
            break;
        case DDIR_SYNC:
        case DDIR_DATASYNC:
            op = CONVME_OP_FLUSH;
            break;
        default:
            io_u->error = EINVAL;
            return FIO_Q_COMPLETED;
    }
    io_u->engine_data = td;
    rc = convme_submit(cf->q, op, io_u->xfer_buf, io_u->offset, io_u->xfer_buflen, on_complete,
                       io_u, NULL);
    if (rc < 0) {
        log_err("convme: %s\n", convme_strerror(rc));
        io_u->error = -rc;
        return FIO_Q_COMPLETED;
    }
    return FIO_Q_QUEUED;
}

/* Submissions start when the queue's loop runs: one pass of every open queue of the thread rings
 * the doorbells (one per queue) for everything queued since the last commit. */
static int convme_fio_commit(struct thread_data* td) {
    struct cthread* ct = td->io_ops_data;
    for (struct cfile* cf = ct->open; cf; cf = cf->next_open) convme_poll(cf->q, 0, 0);
    return 0;
}

static int convme_fio_getevents(struct thread_data* td, unsigned int min, unsigned int max,
                                const struct timespec* t) {
    struct cthread* ct = td->io_ops_data;
    /* drop what fio consumed last time; keep the rest */
    if (ct->returned) {
        memmove(ct->events, ct->events + ct->returned,
                (ct->nevents - ct->returned) * sizeof *ct->events);
        ct->nevents -= ct->returned;
        ct->returned = 0;
    }
    struct timespec start;
    if (t) clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        for (struct cfile* cf = ct->open; cf; cf = cf->next_open) convme_poll(cf->q, 0, 0);
        if (ct->nevents >= min && (ct->nevents > 0 || min == 0)) break;
        if (min == 0) break;
        if (t) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            long long ns =
                (now.tv_sec - start.tv_sec) * 1000000000ll + (now.tv_nsec - start.tv_nsec);
            if (ns >= t->tv_sec * 1000000000ll + t->tv_nsec) break;
        }
    }
    ct->returned = ct->nevents < max ? ct->nevents : max;
    return (int)ct->returned;
}

static struct io_u* convme_fio_event(struct thread_data* td, int event) {
    struct cthread* ct = td->io_ops_data;
    return ct->events[event];
}

static int convme_fio_iomem_alloc(struct thread_data* td, size_t total) {
    struct cthread* ct = td->io_ops_data;
    void* p = convme_dma_alloc(total);
    if (!p) {
        log_err("convme: %s\n", convme_last_error());
        return 1;
    }
    td->orig_buffer = p;
    if (ct) ct->mem = p;
    return 0;
}

static void convme_fio_iomem_free(struct thread_data* td) {
    convme_dma_free(td->orig_buffer);
    td->orig_buffer = NULL;
}

/* This io_u's failure (the thread's last error text may be another request's). */
static char* convme_fio_errdetails(struct io_u* io_u) {
    static const char* const names[] = {"read", "write", "trim"};
    const char* what = io_u->ddir < 3 ? names[io_u->ddir] : "I/O";
    char* out = NULL;
    if (asprintf(&out, "convme: %s of %llu bytes at offset %llu on %s: %s", what,
                 (unsigned long long)io_u->xfer_buflen, (unsigned long long)io_u->offset,
                 io_u->file ? io_u->file->file_name : "?", strerror(io_u->error)) < 0)
        return NULL;
    return out;
}

struct ioengine_ops ioengine = {
    .name = "convme",
    .version = FIO_IOOPS_VERSION,
    .flags = FIO_DISKLESSIO | FIO_NODISKUTIL | FIO_NOEXTEND | FIO_MEMALIGN | FIO_RAWIO,
    .init = convme_fio_init,
    .queue = convme_fio_queue,
    .commit = convme_fio_commit,
    .getevents = convme_fio_getevents,
    .event = convme_fio_event,
    .errdetails = convme_fio_errdetails,
    .cleanup = convme_fio_cleanup,
    .open_file = convme_fio_open_file,
    .close_file = convme_fio_close_file,
    .get_file_size = convme_fio_get_file_size,
    .iomem_alloc = convme_fio_iomem_alloc,
    .iomem_free = convme_fio_iomem_free,
};
