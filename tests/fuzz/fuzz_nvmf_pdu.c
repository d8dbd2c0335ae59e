/* libFuzzer target: what a host sends over NVMe/TCP.
 *
 * Each input is the byte stream of one connection, taken two ways:
 *  1. through the pure PDU checks (src/nvmf/tcp_pdu.h), PDU by PDU, as the connection
 *     would: common header checks under the limits negotiated so far (and under every
 *     other combination), header digests, ICReq and H2CData parsing, and the builders,
 *     with the invariants the connection code relies on asserted;
 *  2. through the real connection (src/nvmf/tcp_conn.c) on a reactor: the bytes go in
 *     through one end of a socketpair, the target's answers are read and dropped from
 *     it, and the input is done when the connection has been freed again. A discovery
 *     subsystem exists, so a Connect to it, Property Get/Set, Identify and Get Log Page
 *     run too. A connection that never goes away (a hang) aborts.
 *
 * Built only with clang (meson -Dfuzz=true); tests/fuzz/run-fuzz.sh builds and runs it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/reactor.h"
#include "nvmf/nvme_spec.h"
#include "nvmf/nvmf_internal.h"
#include "nvmf/tcp_pdu.h"

int nvmf_discovery_create(void); /* subsys.c */

#define INPUT_LIMIT (256 * 1024)
#define HANG_NS (10ull * 1000 * 1000 * 1000)

#define CHECK(cond)                                                                         \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "fuzz_nvmf_pdu: %s:%d: %s\n", __FILE__, __LINE__, #cond);       \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

/* ---- 1. the pure checks ---- */

static void check_layout(const struct tcp_pdu_layout *l, const struct tcp_pdu_limits *lim)
{
    CHECK(l->plen == l->hlen + l->hdgst + l->pad + l->data_len + l->ddgst);
    CHECK(l->hlen + l->hdgst <= TCP_MAX_HDR);
    CHECK(l->pad <= 255);
    if (l->type == TCP_PDU_CAPSULE_CMD)
        CHECK(l->data_len <= lim->max_incapsule);
    else if (l->type == TCP_PDU_H2C_DATA)
        CHECK(l->data_len > 0 && l->data_len <= lim->maxh2cdata);
    else if (l->type == TCP_PDU_H2C_TERM)
        CHECK(l->data_len <= TCP_TERM_MAX_DATA && !l->hdgst && !l->ddgst);
    else
        CHECK(l->type == TCP_PDU_ICREQ && l->plen == TCP_ICREQ_LEN);
}

static void fuzz_builders(const uint8_t *hdr, uint32_t hlen, uint32_t seed)
{
    uint8_t b[TCP_TERM_HLEN + TCP_TERM_MAX_DATA + 8];
    size_t n = tcp_pdu_build_term(b, (enum tcp_fes)(seed % 7), seed, hdr, hlen);
    CHECK(n == TCP_TERM_HLEN + (hlen < TCP_TERM_MAX_DATA ? hlen : TCP_TERM_MAX_DATA));
    CHECK(le32_get(b + 4) == n && b[0] == TCP_PDU_C2H_TERM);
    uint8_t c2h[160];
    uint8_t hpda = (uint8_t)(seed & 31);
    bool hd = seed & 0x100, dd = seed & 0x200;
    size_t pdo = tcp_pdu_build_c2h(c2h, (uint16_t)seed, 0, seed >> 12, seed & 0x400, hd, dd, hpda);
    CHECK(pdo <= 128 && pdo % ((hpda + 1u) * 4) == 0 && pdo >= TCP_DATA_HLEN + (hd ? 4u : 0u));
    CHECK(le32_get(c2h + 4) == pdo + (seed >> 12) + (dd ? 4u : 0u));
    if (hd)
        CHECK(tcp_pdu_check_hdgst(c2h, TCP_DATA_HLEN) == 0);
}

static void fuzz_pure(const uint8_t *d, size_t n)
{
    struct tcp_pdu_limits lim = {.max_incapsule = NVMF_IN_CAPSULE_ADMIN,
                                 .maxh2cdata = NVMF_MDTS_BYTES};
    size_t pos = 0;
    while (n - pos >= TCP_CH_LEN) {
        const uint8_t *p = d + pos;
        struct tcp_pdu_layout l;
        struct tcp_pdu_error e;
        /* every other state of a connection, for the checks alone */
        for (unsigned m = 0; m < 8; m++) {
            struct tcp_pdu_limits o = {.ic_done = m & 1, .hdgst = m & 2, .ddgst = m & 4,
                                       .max_incapsule = NVMF_IN_CAPSULE,
                                       .maxh2cdata = NVMF_MDTS_BYTES};
            if (tcp_pdu_check_ch(p, &o, &l, &e) == 0)
                check_layout(&l, &o);
            else
                CHECK(e.fes >= TCP_FES_INVALID_HEADER_FIELD &&
                      e.fes <= TCP_FES_UNSUPPORTED_PARAMETER && e.fei < TCP_ICREQ_LEN);
        }
        if (tcp_pdu_check_ch(p, &lim, &l, &e))
            return; /* the connection ends here */
        check_layout(&l, &lim);
        uint32_t hend = l.hlen + l.hdgst;
        if (n - pos < hend)
            return;
        fuzz_builders(p, l.hlen, le32_get(p + 4) ^ p[1]);
        if (l.hdgst && tcp_pdu_check_hdgst(p, l.hlen))
            return;
        if (l.type == TCP_PDU_ICREQ) {
            struct tcp_icreq ic;
            if (tcp_pdu_parse_icreq(p, &ic, &e))
                return;
            CHECK(ic.pfv == 0 && ic.hpda <= 31);
            lim.ic_done = true;
            lim.hdgst = ic.hdgst;
            lim.ddgst = ic.ddgst;
            lim.max_incapsule = NVMF_IN_CAPSULE_ADMIN;
        } else if (l.type == TCP_PDU_H2C_DATA) {
            struct tcp_h2c_data h;
            tcp_pdu_parse_h2c(p, &h);
            (void)h;
        } else if (l.type == TCP_PDU_H2C_TERM) {
            return;
        }
        if (n - pos < l.plen)
            return;
        pos += l.plen;
    }
}

/* ---- 2. the connection ---- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static atomic_bool g_ready;

static void start_discovery(void *arg)
{
    (void)arg;
    CHECK(nvmf_discovery_create() == 0);
    atomic_store(&g_ready, true);
}

static void setup(void)
{
    static const uint32_t cores[] = {0, 1};
    struct reactor_opts o = {.cores = cores, .n_cores = 2};
    log_set_level(LOG_ERROR); /* every terminated connection warns */
    CHECK(reactors_init(&o) == 0);
    CHECK(reactors_start(start_discovery, NULL) == 0);
    while (!atomic_load(&g_ready))
        usleep(100);
}

static void fuzz_connection(const uint8_t *d, size_t n)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0);
    /* the host's end is sv[0]; the target's, as if accepted, sv[1] on the second reactor */
    nvmf_qpair_start(NULL, sv[1], reactor_get(1));
    size_t sent = 0;
    bool wr_open = true;
    uint64_t deadline = now_ns() + HANG_NS;
    for (;;) {
        if (wr_open && sent == n) {
            shutdown(sv[0], SHUT_WR);
            wr_open = false;
        }
        struct pollfd pfd = {sv[0], (short)(POLLIN | (wr_open ? POLLOUT : 0)), 0};
        poll(&pfd, 1, 100);
        if (wr_open && (pfd.revents & POLLOUT)) {
            ssize_t w = send(sv[0], d + sent, n - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0)
                sent += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EINTR)
                sent = n; /* the target has closed: nothing more goes in */
        }
        uint8_t sink[65536];
        ssize_t r = recv(sv[0], sink, sizeof(sink), MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            break; /* the target closed the connection */
        CHECK(now_ns() < deadline);
    }
    close(sv[0]);
    /* the connection is freed (after the primary has detached it from any controller) */
    while (nvmf_qpairs_live()) {
        CHECK(now_ns() < deadline);
        usleep(20);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setup();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > INPUT_LIMIT)
        size = INPUT_LIMIT;
    fuzz_pure(data, size);
    fuzz_connection(data, size);
    return 0;
}
