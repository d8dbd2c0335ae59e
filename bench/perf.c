/* ioe-perf: the load generator, like SPDK's spdk_nvme_perf and bdevperf. It drives one
 * device of the engine's device layer in-process: any NVMe/TCP target through the
 * engine's initiator (-r, or -u nvmf://...), or any other device URI (malloc://,
 * uring://, ...). Every reactor keeps `depth` I/Os in flight for `time` seconds.
 *
 *   ioe-perf (-r 'trtype:tcp traddr:A trsvcid:P subnqn:N [hostnqn:H]' | -u URI)
 *            [-q depth] [-o size] [-w read|write|randread|randwrite|rw|randrw]
 *            [-M read%] [-t seconds] [-c cores] [-H] [-D] [-V] [-P] [-B]
 *
 * -c pins one reactor per listed core (default core 0); -H/-D ask for header/data
 * digests; -V verifies data: each I/O slot writes a pattern naming its block and a
 * sequence number and reads it back, and any difference counts as an error; -P writes
 * the whole device once first; -B busy-polls. Prints one JSON line on stdout (iops,
 * MiB/s, mean/p50/p99/p99.9 latency in µs, errors) and a readable line on stderr. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
    bool verify;
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
    /* -V: the slot being written then read back, and what it must hold */
    uint64_t slot, seq;
    int idx;
    bool reading;
};

struct job {
    struct bdev_channel *ch;
    struct task *tasks;
    uint64_t blocks_per_io, n_slots, seq_next, rng, ops, errors, inflight, verify_errors;
    int index;
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

/* -V pattern: every 8 bytes of a block hold (block number, sequence, position). */
static void stamp(const struct task *t, uint8_t *p)
{
    const struct job *j = t->job;
    uint64_t lba0 = t->slot * j->blocks_per_io;
    for (uint64_t off = 0; off < O.size; off += 8) {
        uint64_t v = ((lba0 + off / j->blk) << 24) ^ (t->seq << 8) ^ (off % j->blk);
        memcpy(p + off, &v, 8);
    }
}

static bool check(struct task *t)
{
    uint8_t *want = malloc(O.size);
    if (!want)
        return false;
    stamp(t, want);
    bool ok = !memcmp(want, t->iov.iov_base, O.size);
    if (!ok && !t->job->verify_errors) {
        uint64_t at = 0;
        while (at < O.size && ((uint8_t *)t->iov.iov_base)[at] == want[at])
            at++;
        fprintf(stderr, "verify: block %" PRIu64 " differs at byte %" PRIu64 " of the I/O\n",
                t->slot * t->job->blocks_per_io + at / t->job->blk, at);
    }
    free(want);
    return ok;
}

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
    if (O.verify && !status && t->reading && !check(t)) {
        j->verify_errors++;
        j->errors++;
    }
    if (atomic_load_explicit(&g_stop, memory_order_relaxed) && !(O.verify && !t->reading && !status)) {
        if (--j->inflight == 0 && atomic_fetch_sub(&g_running, 1) == 1) {
            pthread_mutex_lock(&g_mu);
            pthread_cond_broadcast(&g_cv);
            pthread_mutex_unlock(&g_mu);
        }
        return;
    }
    if (O.verify && !t->reading && !status) {
        /* read back what was just written */
        t->reading = true;
        memset(t->iov.iov_base, 0, O.size);
        t->start = reactor_now_ns();
        bdev_readv(j->ch, &t->io, &t->iov, 1, t->slot * j->blocks_per_io, j->blocks_per_io,
                   task_done, t);
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
    if (O.verify) {
        /* slots of one task are its own (no two I/Os race on a block): slot ≡ task
         * (mod tasks of all reactors) */
        uint64_t stride = (uint64_t)O.depth * (uint64_t)reactor_count();
        uint64_t own = (uint64_t)j->index * (uint64_t)O.depth + (uint64_t)t->idx;
        uint64_t per = j->n_slots / stride;
        t->slot = (per ? slot % per : 0) * stride + own;
        t->seq++;
        t->reading = false;
        stamp(t, t->iov.iov_base);
        bdev_writev(j->ch, &t->io, &t->iov, 1, t->slot * j->blocks_per_io, j->blocks_per_io,
                    task_done, t);
        return;
    }
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

/* SPDK's transport id string, "trtype:tcp adrfam:ipv4 traddr:A trsvcid:P subnqn:N", as an
 * nvmf:// URI. */
static int trid_to_uri(const char *trid, bool hdgst, bool ddgst, char *out, size_t len)
{
    char buf[1024], *save = NULL;
    const char *addr = NULL, *port = "4420", *nqn = NULL, *host = NULL, *type = "tcp";
    snprintf(buf, sizeof(buf), "%s", trid);
    for (char *tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        char *v = strchr(tok, ':');
        if (!v) {
            fprintf(stderr, "-r: '%s' is not key:value\n", tok);
            return -1;
        }
        *v++ = 0;
        if (!strcasecmp(tok, "trtype"))
            type = v;
        else if (!strcasecmp(tok, "traddr"))
            addr = v;
        else if (!strcasecmp(tok, "trsvcid"))
            port = v;
        else if (!strcasecmp(tok, "subnqn"))
            nqn = v;
        else if (!strcasecmp(tok, "hostnqn"))
            host = v;
        else if (strcasecmp(tok, "adrfam")) {
            fprintf(stderr, "-r: unknown key '%s'\n", tok);
            return -1;
        }
    }
    if (strcasecmp(type, "tcp") || !addr || !nqn) {
        fprintf(stderr, "-r needs trtype:tcp, traddr and subnqn\n");
        return -1;
    }
    bool v6 = strchr(addr, ':') != NULL;
    snprintf(out, len, "nvmf://%s%s%s:%s/%s?hdgst=%d&ddgst=%d%s%s", v6 ? "[" : "", addr,
             v6 ? "]" : "", port, nqn, hdgst, ddgst, host ? "&hostnqn=" : "", host ? host : "");
    return 0;
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
    const char *cores_s = "0", *trid = NULL;
    bool busy = false, hdgst = false, ddgst = false;
    int c;
    bool prefill = false;
    while ((c = getopt(argc, argv, "u:r:q:o:w:M:t:c:BPHDV")) != -1) {
        switch (c) {
        case 'u': O.uri = optarg; break;
        case 'r': trid = optarg; break;
        case 'H': hdgst = true; break;
        case 'D': ddgst = true; break;
        case 'V': O.verify = true; break;
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
            fprintf(stderr,
                    "usage: %s (-r 'trtype:tcp traddr:A trsvcid:P subnqn:N [hostnqn:H]' | -u URI)\n"
                    "       [-q depth] [-o size] [-w read|write|randread|randwrite|rw|randrw]\n"
                    "       [-M read%%] [-t seconds] [-c cores] [-H] [-D] [-V] [-P] [-B]\n",
                    argv[0]);
            return 2;
        }
    }
    static char uri_buf[1024];
    if (trid) {
        if (O.uri || trid_to_uri(trid, hdgst, ddgst, uri_buf, sizeof(uri_buf)))
            return 2;
        O.uri = uri_buf;
    }
    if (!O.uri || O.depth < 1 || O.size == 0 || O.seconds < 1 || O.read_pct < 0 ||
        O.read_pct > 100) {
        fprintf(stderr, "bad arguments (need -r TRID or -u URI; -q, -o, -t positive; -M 0..100)\n");
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
    if (O.verify && b->num_blocks / (O.size / b->blk_size) < (uint64_t)O.depth * (uint64_t)n) {
        fprintf(stderr, "-V needs at least depth x reactors I/O slots on the device\n");
        return 2;
    }
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
        j->index = r;
        j->blocks_per_io = O.size / b->blk_size;
        j->n_slots = b->num_blocks / j->blocks_per_io;
        j->seq_next = (uint64_t)r * (j->n_slots / (uint64_t)n);
        j->rng = 0x9E3779B97F4A7C15ull * (uint64_t)(r + 1);
        j->tasks = calloc((size_t)O.depth, sizeof(*j->tasks));
        for (int i = 0; i < O.depth; i++) {
            j->tasks[i].job = j;
            j->tasks[i].idx = i;
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
    uint64_t ops = 0, errors = 0, verify_errors = 0;
    for (int r = 0; r < n; r++) {
        ops += g_jobs[r].ops;
        errors += g_jobs[r].errors;
        verify_errors += g_jobs[r].verify_errors;
        for (int e = 0; e < 64; e++)
            for (int s = 0; s < SUB; s++)
                h->b[e][s] += g_jobs[r].h.b[e][s];
        h->n += g_jobs[r].h.n;
        h->sum += g_jobs[r].h.sum;
    }
    double secs = (double)elapsed / 1e9;
    const char *wl = O.verify ? "verify" : O.rw == 0 ? "read" : O.rw == 1 ? "write" : "rw";
    const char *rnd_s = O.random && !O.verify ? "rand" : "";
    double iops = (double)ops / secs, mib = (double)ops * (double)O.size / secs / 1048576.0;
    double mean = h->n ? (double)h->sum / (double)h->n / 1000.0 : 0;
    printf("{\"uri\": \"%s\", \"workload\": \"%s%s\", \"depth\": %d, \"io_size\": %" PRIu64
           ", \"reactors\": %d, \"seconds\": %.2f, \"iops\": %.0f, \"mib_s\": %.1f, \"mean_us\": %.2f,"
           " \"p50_us\": %.2f, \"p99_us\": %.2f, \"p999_us\": %.2f, \"errors\": %" PRIu64
           ", \"verify_errors\": %" PRIu64 "}\n",
           O.uri, rnd_s, wl, O.depth, O.size, n, secs, iops, mib, mean, hist_pct(h, 50),
           hist_pct(h, 99), hist_pct(h, 99.9), errors, verify_errors);
    fprintf(stderr,
            "%s%s %" PRIu64 " B QD%d x %d reactor(s), %.1f s: %.0f IOPS, %.1f MiB/s, latency "
            "mean %.1f / p50 %.1f / p99 %.1f / p99.9 %.1f us, %" PRIu64 " error(s)\n",
            rnd_s, wl, O.size, O.depth, n, secs, iops, mib, mean, hist_pct(h, 50), hist_pct(h, 99),
            hist_pct(h, 99.9), errors);
    free(h);
    fflush(stdout);
    /* The process exits without tearing the device down: nothing is persistent here
     * beyond what the backend already wrote. */
    _exit(errors ? 1 : 0);
}
