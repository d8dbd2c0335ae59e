/* ioe-bdevperf: drives a block device of the engine's device layer directly (no gRPC, no
 * network), like SPDK's bdevperf. One device, created from a URI in-process; every
 * reactor keeps `depth` I/Os in flight for `time` seconds.
 *
 *   ioe-bdevperf -u URI [-q depth] [-o size] [-w randread|randwrite|read|write|randrw]
 *                [-M read%] [-t seconds] [-c cores] [-B] [-P]
 *
 * Prints one line of JSON: iops, MiB/s, mean/p50/p99/p99.9 latency (µs). -B busy-polls;
 * -P writes the whole device once before measuring. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bdev/bdev.h"
#include "bdev/bdev_uri.h"
#include "core/cli_args.h"
#include "core/reactor.h"

/* Latency histogram: 64 powers of two x 32 linear sub-buckets, in ns. */
#define SUB 32
struct hist {
    uint64_t b[64][SUB];
    uint64_t n, sum;
};

static void hist_add(struct hist *h, uint64_t ns)
{
    int e = ns < SUB ? 0 : 63 - __builtin_clzll(ns) - 4;
    if (e < 0)
        e = 0;
    uint64_t sub = (ns >> e) % SUB;
    h->b[e][sub]++;
    h->n++;
    h->sum += ns;
}

static double hist_pct(const struct hist *h, double p)
{
    uint64_t want = (uint64_t)ceil(p / 100.0 * (double)h->n), seen = 0;
    for (int e = 0; e < 64; e++)
        for (int s = 0; s < SUB; s++) {
            seen += h->b[e][s];
            if (seen >= want && want)
                return (double)((uint64_t)s << e) / 1000.0;
        }
    return 0;
}

struct opts {
    const char *uri;
    int depth;
    uint64_t size;
    int rw; /* 0 read, 1 write, 2 mixed */
    bool random;
    int read_pct;
    int seconds;
};

static struct opts O = {.depth = 1, .size = 4096, .rw = 0, .random = true, .read_pct = 50, .seconds = 10};
static struct bdev_desc *g_desc;
static atomic_bool g_stop;
static atomic_int g_running;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_create_rc = 1;
struct fill;
static struct fill *g_fill;
static bool g_fill_done;
static char g_err[256];

struct task {
    struct job *job;
    struct bdev_io io;
    struct iovec iov;
    uint64_t start;
};

struct job {
    struct bdev_channel *ch;
    struct task *tasks;
    uint64_t blocks_per_io, n_slots, seq_next, rng, ops, errors, inflight;
    struct hist h;
    uint32_t blk;
};

static struct job *g_jobs;

/* Prefill (-P): the whole device written once, 128 KiB at a time, 32 in flight, so
 * reads hit real data and writes do not pay first-touch costs. */
#define FILL_IO (128u * 1024)
struct fill {
    struct bdev_channel *ch;
    uint64_t next, end, per;
    int inflight;
    struct { struct bdev_io io; struct iovec iov; struct fill *f; } t[32];
};

static void fill_next(struct fill *f, int i);

static void fill_done(struct bdev_io *io, int status, void *arg)
{
    (void)io;
    int i = (int)(intptr_t)arg;
    struct fill *f = g_fill;
    if (status)
        fprintf(stderr, "prefill write failed: %d\n", status);
    fill_next(f, i);
}

static void fill_next(struct fill *f, int i)
{
    if (f->next >= f->end) {
        if (--f->inflight == 0) {
            pthread_mutex_lock(&g_mu);
            g_fill_done = true;
            pthread_cond_broadcast(&g_cv);
            pthread_mutex_unlock(&g_mu);
        }
        return;
    }
    uint64_t n = f->end - f->next < f->per ? f->end - f->next : f->per;
    f->t[i].iov.iov_len = n * bdev_desc_bdev(g_desc)->blk_size;
    uint64_t off = f->next;
    f->next += n;
    bdev_writev(f->ch, &f->t[i].io, &f->t[i].iov, 1, off, n, fill_done, (void *)(intptr_t)i);
}

static void fill_start(void *arg)
{
    struct fill *f = arg;
    f->ch = bdev_get_channel(g_desc);
    f->inflight = 32;
    for (int i = 0; i < 32; i++)
        fill_next(f, i);
}

static uint64_t rnd(struct job *j)
{
    j->rng ^= j->rng << 13;
    j->rng ^= j->rng >> 7;
    j->rng ^= j->rng << 17;
    return j->rng;
}

static void task_submit(struct task *t);

static void task_done(struct bdev_io *io, int status, void *arg)
{
    (void)io;
    struct task *t = arg;
    struct job *j = t->job;
    uint64_t now = reactor_now_ns();
    if (status)
        j->errors++;
    else
        j->ops++;
    hist_add(&j->h, now - t->start);
    if (atomic_load_explicit(&g_stop, memory_order_relaxed)) {
        if (--j->inflight == 0 && atomic_fetch_sub(&g_running, 1) == 1) {
            pthread_mutex_lock(&g_mu);
            pthread_cond_broadcast(&g_cv);
            pthread_mutex_unlock(&g_mu);
        }
        return;
    }
    task_submit(t);
}

static void task_submit(struct task *t)
{
    struct job *j = t->job;
    uint64_t slot = O.random ? rnd(j) % j->n_slots : j->seq_next++ % j->n_slots;
    bool write = O.rw == 1 || (O.rw == 2 && (int)(rnd(j) % 100) >= O.read_pct);
    t->start = reactor_now_ns();
    if (write)
        bdev_writev(j->ch, &t->io, &t->iov, 1, slot * j->blocks_per_io, j->blocks_per_io, task_done, t);
    else
        bdev_readv(j->ch, &t->io, &t->iov, 1, slot * j->blocks_per_io, j->blocks_per_io, task_done, t);
}

static void job_start(void *arg)
{
    struct job *j = arg;
    j->ch = bdev_get_channel(g_desc);
    j->inflight = (uint64_t)O.depth;
    for (int i = 0; i < O.depth; i++)
        task_submit(&j->tasks[i]);
}

static void created(void *arg, int rc, struct bdev *b, const char *msg)
{
    (void)arg;
    (void)b;
    if (!rc) {
        char name[4096];
        char e[64];
        bdev_uri_name(O.uri, name, sizeof(name), e, sizeof(e));
        rc = bdev_open(name, &g_desc);
    }
    snprintf(g_err, sizeof(g_err), "%s", msg ? msg : "");
    pthread_mutex_lock(&g_mu);
    g_create_rc = rc;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

static void create_on_primary(void *arg)
{
    (void)arg;
    bdev_create_uri(O.uri, created, NULL);
}

int main(int argc, char **argv)
{
    const char *cores_s = "0";
    bool busy = false;
    int c;
    bool prefill = false;
    while ((c = getopt(argc, argv, "u:q:o:w:M:t:c:BP")) != -1) {
        switch (c) {
        case 'u': O.uri = optarg; break;
        case 'q': O.depth = atoi(optarg); break;
        case 'o': O.size = strtoull(optarg, NULL, 0); break;
        case 'M': O.read_pct = atoi(optarg); break;
        case 't': O.seconds = atoi(optarg); break;
        case 'c': cores_s = optarg; break;
        case 'B': busy = true; break;
        case 'P': prefill = true; break;
        case 'w':
            O.random = !strncmp(optarg, "rand", 4);
            O.rw = strstr(optarg, "rw") ? 2 : strstr(optarg, "write") ? 1 : 0;
            break;
        default:
            fprintf(stderr, "usage: %s -u URI [-q depth] [-o size] [-w randread|randwrite|read|write|randrw] [-M read%%] [-t s] [-c cores] [-B]\n", argv[0]);
            return 2;
        }
    }
    if (!O.uri || O.depth < 1 || O.size == 0 || O.seconds < 1) {
        fprintf(stderr, "bad arguments (need -u URI)\n");
        return 2;
    }
    uint32_t cores[IOE_MAX_CORES];
    int n = ioe_parse_core_list(cores_s, cores, IOE_MAX_CORES);
    if (n <= 0) {
        fprintf(stderr, "bad core list %s\n", cores_s);
        return 2;
    }
    struct reactor_opts ro = {.cores = cores, .n_cores = n, .busy_poll = busy, .pin = true, .ring_entries = 1024};
    if (reactors_init(&ro) || reactors_start(NULL, NULL))
        return 1;
    reactor_send(reactor_primary(), create_on_primary, NULL);
    pthread_mutex_lock(&g_mu);
    while (g_create_rc == 1)
        pthread_cond_wait(&g_cv, &g_mu);
    pthread_mutex_unlock(&g_mu);
    if (g_create_rc) {
        fprintf(stderr, "cannot create %s: %s (%s)\n", O.uri, g_err, strerror(-g_create_rc));
        return 1;
    }
    struct bdev *b = bdev_desc_bdev(g_desc);
    if (O.size % b->blk_size) {
        fprintf(stderr, "I/O size must be a multiple of %u\n", b->blk_size);
        return 2;
    }
    if (prefill) {
        struct fill *f = calloc(1, sizeof(*f));
        f->per = FILL_IO / b->blk_size;
        f->end = b->num_blocks;
        for (int i = 0; i < 32; i++) {
            f->t[i].iov.iov_base = aligned_alloc(4096, FILL_IO);
            memset(f->t[i].iov.iov_base, 0x3C, FILL_IO);
        }
        g_fill = f;
        reactor_send(reactor_primary(), fill_start, f);
        pthread_mutex_lock(&g_mu);
        while (!g_fill_done)
            pthread_cond_wait(&g_cv, &g_mu);
        pthread_mutex_unlock(&g_mu);
    }
    g_jobs = calloc((size_t)n, sizeof(*g_jobs));
    for (int r = 0; r < n; r++) {
        struct job *j = &g_jobs[r];
        j->blk = b->blk_size;
        j->blocks_per_io = O.size / b->blk_size;
        j->n_slots = b->num_blocks / j->blocks_per_io;
        j->seq_next = (uint64_t)r * (j->n_slots / (uint64_t)n);
        j->rng = 0x9E3779B97F4A7C15ull * (uint64_t)(r + 1);
        j->tasks = calloc((size_t)O.depth, sizeof(*j->tasks));
        for (int i = 0; i < O.depth; i++) {
            j->tasks[i].job = j;
            j->tasks[i].iov.iov_base = aligned_alloc(4096, O.size);
            memset(j->tasks[i].iov.iov_base, 0xA5, O.size);
            j->tasks[i].iov.iov_len = O.size;
        }
    }
    atomic_store(&g_running, n);
    uint64_t t0 = reactor_now_ns();
    for (int r = 0; r < n; r++)
        reactor_send(reactor_get(r), job_start, &g_jobs[r]);
    sleep((unsigned)O.seconds);
    atomic_store(&g_stop, true);
    uint64_t elapsed = reactor_now_ns() - t0;
    pthread_mutex_lock(&g_mu);
    while (atomic_load(&g_running))
        pthread_cond_wait(&g_cv, &g_mu);
    pthread_mutex_unlock(&g_mu);

    struct hist *h = calloc(1, sizeof(*h));
    uint64_t ops = 0, errors = 0;
    for (int r = 0; r < n; r++) {
        ops += g_jobs[r].ops;
        errors += g_jobs[r].errors;
        for (int e = 0; e < 64; e++)
            for (int s = 0; s < SUB; s++)
                h->b[e][s] += g_jobs[r].h.b[e][s];
        h->n += g_jobs[r].h.n;
        h->sum += g_jobs[r].h.sum;
    }
    double secs = (double)elapsed / 1e9;
    printf("{\"uri\": \"%s\", \"workload\": \"%s%s\", \"depth\": %d, \"io_size\": %" PRIu64
           ", \"reactors\": %d, \"seconds\": %.2f, \"iops\": %.0f, \"mib_s\": %.1f, \"mean_us\": %.2f,"
           " \"p50_us\": %.2f, \"p99_us\": %.2f, \"p999_us\": %.2f, \"errors\": %" PRIu64 "}\n",
           O.uri, O.random ? "rand" : "", O.rw == 0 ? "read" : O.rw == 1 ? "write" : "rw", O.depth,
           O.size, n, secs, (double)ops / secs, (double)ops * (double)O.size / secs / 1048576.0,
           h->n ? (double)h->sum / (double)h->n / 1000.0 : 0, hist_pct(h, 50), hist_pct(h, 99),
           hist_pct(h, 99.9), errors);
    free(h);
    fflush(stdout);
    /* The process exits without tearing the device down: nothing is persistent here
     * beyond what the backend already wrote. */
    _exit(errors ? 1 : 0);
}
