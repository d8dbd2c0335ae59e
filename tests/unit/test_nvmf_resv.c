/*
 * NVMe reservations of one namespace (src/nvmf/resv.h): every Register / Acquire / Release
 * action, the access table of each reservation type, notices, PRgeneration, the Reservation
 * Report layout byte by byte, hostile inputs and the JSON persistence.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nvmf/resv.h"

/* ---- helpers ---- */

#define N_HOSTS (NVMF_RESV_MAX_REGISTRANTS + 2)
enum { A = 0, B = 1, C = 2, D = 3 };

/* Host i's 128-bit identifier: distinct in its first and last bytes. */
static const uint8_t *host(int i)
{
    static uint8_t ids[N_HOSTS][16];
    for (int b = 0; b < 16; b++)
        ids[i][b] = (uint8_t)(0x10 + b);
    ids[i][0] = (uint8_t)i;
    ids[i][15] = (uint8_t)(0xF0 ^ i);
    return ids[i];
}

static uint64_t rd_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void wr_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static struct nvmf_resv_notices g_out;
static bool g_changed;

static uint32_t cdw10(unsigned action, unsigned iekey, unsigned rtype, unsigned cptpl)
{
    return action | iekey << 3 | rtype << 8 | cptpl << 30;
}

static uint16_t reg_full(struct nvmf_resv *r, int h, unsigned rrega, unsigned iekey, unsigned cptpl,
                         uint64_t crkey, uint64_t nrkey)
{
    uint8_t d[16];
    wr_le64(d, crkey);
    wr_le64(d + 8, nrkey);
    return nvmf_resv_register(r, host(h), cdw10(rrega, iekey, 0, cptpl), d, sizeof(d), &g_out,
                              &g_changed);
}

static uint16_t reg(struct nvmf_resv *r, int h, uint64_t key)
{
    return reg_full(r, h, 0, 0, 0, 0, key);
}

static uint16_t acq(struct nvmf_resv *r, int h, unsigned racqa, unsigned rtype, uint64_t crkey,
                    uint64_t prkey)
{
    uint8_t d[16];
    wr_le64(d, crkey);
    wr_le64(d + 8, prkey);
    return nvmf_resv_acquire(r, host(h), cdw10(racqa, 0, rtype, 0), d, sizeof(d), &g_out,
                             &g_changed);
}

static uint16_t rel(struct nvmf_resv *r, int h, unsigned rrela, unsigned rtype, uint64_t crkey)
{
    uint8_t d[8];
    wr_le64(d, crkey);
    return nvmf_resv_release(r, host(h), cdw10(rrela, 0, rtype, 0), d, sizeof(d), &g_out,
                             &g_changed);
}

/* Registers hosts 0..n-1 with key 0xA0 + i. */
static void reg_hosts(struct nvmf_resv *r, int n)
{
    nvmf_resv_init(r);
    for (int i = 0; i < n; i++)
        assert_int_equal(reg(r, i, 0xA0 + (uint64_t)i), NVMF_SC_SUCCESS);
}

static bool is_reg(const struct nvmf_resv *r, int h)
{
    for (size_t i = 0; i < r->n_regs; i++)
        if (!memcmp(r->regs[i].hostid, host(h), 16))
            return true;
    return false;
}

static int holder_host(const struct nvmf_resv *r)
{
    if (r->holder < 0)
        return -1;
    for (int h = 0; h < N_HOSTS; h++)
        if (!memcmp(r->regs[r->holder].hostid, host(h), 16))
            return h;
    return -2;
}

/* The notices are exactly the (host, type) pairs given, in any order. */
static void expect_notices(int n, ...)
{
    va_list ap;
    va_start(ap, n);
    assert_int_equal(g_out.n, n);
    for (int i = 0; i < n; i++) {
        int h = va_arg(ap, int), t = va_arg(ap, int);
        bool found = false;
        for (size_t j = 0; j < g_out.n; j++)
            found |= !memcmp(g_out.v[j].hostid, host(h), 16) && g_out.v[j].type == t;
        if (!found) {
            print_error("no notice type %d for host %d\n", t, h);
            fail();
        }
    }
    va_end(ap);
}

static void expect_aborts(int n, ...)
{
    va_list ap;
    va_start(ap, n);
    assert_int_equal(g_out.n_abort, n);
    for (int i = 0; i < n; i++) {
        int h = va_arg(ap, int);
        bool found = false;
        for (size_t j = 0; j < g_out.n_abort; j++)
            found |= !memcmp(g_out.abort_hostid[j], host(h), 16);
        assert_true(found);
    }
    va_end(ap);
}

/* ---- Register ---- */

static void test_init(void **state)
{
    (void)state;
    struct nvmf_resv r;
    memset(&r, 0x5A, sizeof(r));
    nvmf_resv_init(&r);
    assert_int_equal(r.generation, 0);
    assert_int_equal(r.type, NVMF_RESV_NONE);
    assert_int_equal(r.holder, -1);
    assert_false(r.ptpl);
    assert_int_equal(r.n_regs, 0);
    assert_true(nvmf_resv_access(&r, host(A), true));
}

static void test_register(void **state)
{
    (void)state;
    struct nvmf_resv r;
    nvmf_resv_init(&r);

    assert_int_equal(reg(&r, A, 0x1111), NVMF_SC_SUCCESS);
    assert_true(g_changed);
    assert_int_equal(r.n_regs, 1);
    assert_int_equal(r.regs[0].rkey, 0x1111);
    assert_memory_equal(r.regs[0].hostid, host(A), 16);
    assert_int_equal(r.generation, 1);
    expect_notices(0);

    /* The same key again: success, no new registrant; a successful Register counts. */
    assert_int_equal(reg(&r, A, 0x1111), NVMF_SC_SUCCESS);
    assert_int_equal(r.n_regs, 1);
    assert_int_equal(r.generation, 2);
    /* Another key: conflict, whatever CRKEY and IEKEY say. */
    assert_int_equal(reg(&r, A, 0x2222), NVMF_SC_RESERVATION_CONFLICT);
    assert_false(g_changed);
    assert_int_equal(reg_full(&r, A, 0, 1, 0, 0x1111, 0x2222), NVMF_SC_RESERVATION_CONFLICT);
    assert_int_equal(r.regs[0].rkey, 0x1111);
    assert_int_equal(r.generation, 2);

    /* Registering ignores CRKEY; another host may use the same key. */
    assert_int_equal(reg_full(&r, B, 0, 0, 0, 0xDEAD, 0x1111), NVMF_SC_SUCCESS);
    assert_int_equal(r.n_regs, 2);
    assert_int_equal(r.generation, 3);
    /* A zero key is a key like any other. */
    assert_int_equal(reg(&r, C, 0), NVMF_SC_SUCCESS);
    assert_int_equal(r.n_regs, 3);
    assert_int_equal(r.regs[2].rkey, 0);
}

static void test_register_reserved_and_short(void **state)
{
    (void)state;
    struct nvmf_resv r, before;
    reg_hosts(&r, 1);
    before = r;
    for (unsigned rrega = 3; rrega <= 7; rrega++) {
        assert_int_equal(reg_full(&r, B, rrega, 0, 0, 0, 1), NVMF_SC_INVALID_FIELD);
        assert_false(g_changed);
    }
    /* CPTPL 01b is reserved. */
    assert_int_equal(reg_full(&r, B, 0, 0, 1, 0, 1), NVMF_SC_INVALID_FIELD);
    assert_memory_equal(&r, &before, sizeof(r));

    uint8_t d[16] = {0};
    assert_int_equal(nvmf_resv_register(&r, host(B), 0, d, 15, &g_out, &g_changed),
                     NVMF_SC_DATA_SGL_LENGTH_INVALID);
    assert_int_equal(nvmf_resv_register(&r, host(B), 0, d, 0, &g_out, &g_changed),
                     NVMF_SC_DATA_SGL_LENGTH_INVALID);
    assert_int_equal(nvmf_resv_register(&r, host(B), 0, NULL, 16, &g_out, &g_changed),
                     NVMF_SC_DATA_SGL_LENGTH_INVALID);
    assert_false(g_changed);
    assert_memory_equal(&r, &before, sizeof(r));

    /* A longer payload is fine (only the first 16 bytes count); reserved cdw10 bits
     * (29:4) are ignored. */
    uint8_t big[64];
    memset(big, 0xEE, sizeof(big));
    wr_le64(big + 8, 0x42);
    assert_int_equal(nvmf_resv_register(&r, host(B), 0x3FFFFFF0u, big, sizeof(big), &g_out,
                                        &g_changed),
                     NVMF_SC_SUCCESS);
    assert_int_equal(r.regs[1].rkey, 0x42);
}

static void test_cptpl(void **state)
{
    (void)state;
    struct nvmf_resv r;
    nvmf_resv_init(&r);
    assert_int_equal(reg_full(&r, A, 0, 0, 3, 0, 1), NVMF_SC_SUCCESS);
    assert_true(r.ptpl);
    assert_int_equal(reg_full(&r, A, 0, 0, 0, 0, 1), NVMF_SC_SUCCESS); /* no change */
    assert_true(r.ptpl);
    /* A failing command leaves PTPL alone. */
    assert_int_equal(reg_full(&r, A, 0, 0, 2, 0, 9), NVMF_SC_RESERVATION_CONFLICT);
    assert_true(r.ptpl);
    assert_int_equal(reg_full(&r, A, 2, 0, 2, 1, 5), NVMF_SC_SUCCESS); /* with a replace */
    assert_false(r.ptpl);
    assert_int_equal(reg_full(&r, A, 1, 0, 3, 5, 0), NVMF_SC_SUCCESS); /* with an unregister */
    assert_true(r.ptpl);
    assert_int_equal(r.n_regs, 0);
}

static void test_unregister(void **state)
{
    (void)state;
    struct nvmf_resv r;
    reg_hosts(&r, 3);
    uint32_t gen = r.generation;

    /* Not a registrant: conflict, with or without IEKEY. */
    assert_int_equal(reg_full(&r, D, 1, 0, 0, 0, 0), NVMF_SC_RESERVATION_CONFLICT);
    assert_int_equal(reg_full(&r, D, 1, 1, 0, 0, 0), NVMF_SC_RESERVATION_CONFLICT);
    /* Wrong CRKEY without IEKEY: conflict. */
    assert_int_equal(reg_full(&r, B, 1, 0, 0, 0xA0, 0), NVMF_SC_RESERVATION_CONFLICT);
    assert_false(g_changed);
    assert_int_equal(r.generation, gen);
    assert_int_equal(r.n_regs, 3);

    assert_int_equal(reg_full(&r, B, 1, 0, 0, 0xA1, 0), NVMF_SC_SUCCESS);
    assert_true(g_changed);
    assert_int_equal(r.generation, gen + 1);
    assert_false(is_reg(&r, B));
    assert_true(is_reg(&r, A) && is_reg(&r, C));
    /* IEKEY: the key is not checked. */
    assert_int_equal(reg_full(&r, C, 1, 1, 0, 0x999, 0), NVMF_SC_SUCCESS);
    assert_int_equal(r.n_regs, 1);
    assert_int_equal(r.generation, gen + 2);
    expect_notices(0);
}

static void test_replace(void **state)
{
    (void)state;
    struct nvmf_resv r;
    reg_hosts(&r, 2);
    uint32_t gen = r.generation;

    assert_int_equal(reg_full(&r, A, 2, 0, 0, 0xBAD, 0x77), NVMF_SC_RESERVATION_CONFLICT);
    assert_int_equal(r.regs[0].rkey, 0xA0);
    assert_int_equal(reg_full(&r, A, 2, 0, 0, 0xA0, 0x77), NVMF_SC_SUCCESS);
    assert_int_equal(r.regs[0].rkey, 0x77);
    assert_int_equal(r.generation, gen + 1);
    /* IEKEY: replaced whatever CRKEY is. */
    assert_int_equal(reg_full(&r, A, 2, 1, 0, 0xBAD, 0x78), NVMF_SC_SUCCESS);
    assert_int_equal(r.regs[0].rkey, 0x78);
    /* A zero new key is accepted. */
    assert_int_equal(reg_full(&r, A, 2, 0, 0, 0x78, 0), NVMF_SC_SUCCESS);
    assert_int_equal(r.regs[0].rkey, 0);
    assert_int_equal(r.generation, gen + 3);

    /* A non-registrant: conflict without IEKEY; with IEKEY it becomes a registrant
     * ("without regard to its registration status"). */
    assert_int_equal(reg_full(&r, C, 2, 0, 0, 0, 0x55), NVMF_SC_RESERVATION_CONFLICT);
    assert_false(is_reg(&r, C));
    assert_int_equal(reg_full(&r, C, 2, 1, 0, 0, 0x55), NVMF_SC_SUCCESS);
    assert_true(is_reg(&r, C));
    assert_int_equal(r.regs[2].rkey, 0x55);

    /* The holder replacing its key keeps its reservation. */
    assert_int_equal(acq(&r, B, 0, NVMF_RESV_EXCLUSIVE_ACCESS, 0xA1, 0), NVMF_SC_SUCCESS);
    assert_int_equal(reg_full(&r, B, 2, 0, 0, 0xA1, 0xB1), NVMF_SC_SUCCESS);
    assert_int_equal(r.type, NVMF_RESV_EXCLUSIVE_ACCESS);
    assert_int_equal(holder_host(&r), B);
    assert_int_equal(acq(&r, B, 0, NVMF_RESV_EXCLUSIVE_ACCESS, 0xB1, 0), NVMF_SC_SUCCESS);
    expect_notices(0);
}

static void test_capacity(void **state)
{
    (void)state;
    struct nvmf_resv r, before;
    reg_hosts(&r, NVMF_RESV_MAX_REGISTRANTS);
    assert_int_equal(r.n_regs, NVMF_RESV_MAX_REGISTRANTS);
    before = r;
    int extra = NVMF_RESV_MAX_REGISTRANTS;
    assert_int_equal(reg(&r, extra, 1), NVMF_SC_INSUFFICIENT_CAPACITY);
    assert_false(g_changed);
    assert_int_equal(reg_full(&r, extra, 2, 1, 0, 0, 1), NVMF_SC_INSUFFICIENT_CAPACITY);
    assert_memory_equal(&r, &before, sizeof(r));
    /* Registered hosts still work, and a freed place is taken again. */
    assert_int_equal(reg(&r, 5, 0xA5), NVMF_SC_SUCCESS);
    assert_int_equal(reg_full(&r, 5, 1, 0, 0, 0xA5, 0), NVMF_SC_SUCCESS);
    assert_int_equal(reg(&r, extra, 1), NVMF_SC_SUCCESS);
    assert_int_equal(r.n_regs, NVMF_RESV_MAX_REGISTRANTS);
}

static void test_generation_wraps(void **state)
{
    (void)state;
    struct nvmf_resv r;
    nvmf_resv_init(&r);
    r.generation = 0xFFFFFFFFu;
    assert_int_equal(reg(&r, A, 1), NVMF_SC_SUCCESS);
    assert_int_equal(r.generation, 0);
}

/* Unregistering the holder of each type. */
static void test_unregister_holder(void **state)
{
    (void)state;
    for (unsigned t = 1; t <= 6; t++) {
        struct nvmf_resv r;
        reg_hosts(&r, 3);
        assert_int_equal(acq(&r, A, 0, t, 0xA0, 0), NVMF_SC_SUCCESS);
        /* A registrant that is not the holder going changes nothing (but for the
         * All Registrants types, where it is a holder among others). */
        assert_int_equal(reg_full(&r, C, 1, 0, 0, 0xA2, 0), NVMF_SC_SUCCESS);
        assert_int_equal(r.type, t);
        expect_notices(0);
        assert_int_equal(reg_full(&r, A, 1, 0, 0, 0xA0, 0), NVMF_SC_SUCCESS);
        switch (t) {
        case NVMF_RESV_WRITE_EXCLUSIVE:
        case NVMF_RESV_EXCLUSIVE_ACCESS:
            assert_int_equal(r.type, NVMF_RESV_NONE);
            assert_int_equal(r.holder, -1);
            expect_notices(0);
            break;
        case NVMF_RESV_WRITE_EXCLUSIVE_REG_ONLY:
        case NVMF_RESV_EXCLUSIVE_ACCESS_REG_ONLY:
            assert_int_equal(r.type, NVMF_RESV_NONE);
            expect_notices(1, B, 2);
            break;
        default:
            /* Stays while a registrant remains; released with the last one. */
            assert_int_equal(r.type, t);
            assert_int_equal(r.holder, -1);
            expect_notices(0);
            assert_true(nvmf_resv_access(&r, host(B), true));
            assert_int_equal(reg_full(&r, B, 1, 0, 0, 0xA1, 0), NVMF_SC_SUCCESS);
            assert_int_equal(r.type, NVMF_RESV_NONE);
            expect_notices(0);
            break;
        }
        assert_true(nvmf_resv_access(&r, host(D), true));
    }
}

/* The holder index follows its registrant when an earlier one is removed. */
static void test_holder_index_moves(void **state)
{
    (void)state;
    struct nvmf_resv r;
    reg_hosts(&r, 3);
    assert_int_equal(acq(&r, C, 0, NVMF_RESV_WRITE_EXCLUSIVE, 0xA2, 0), NVMF_SC_SUCCESS);
    assert_int_equal(r.holder, 2);
    assert_int_equal(reg_full(&r, A, 1, 0, 0, 0xA0, 0), NVMF_SC_SUCCESS);
    assert_int_equal(r.holder, 1);
    assert_int_equal(holder_host(&r), C);
    assert_true(nvmf_resv_access(&r, host(C), true));
    assert_false(nvmf_resv_access(&r, host(B), true));
}

/* ---- Acquire ---- */

static void test_acquire(void **state)
{
    (void)state;
    struct nvmf_resv r, before;
    reg_hosts(&r, 2);
    uint32_t gen = r.generation;
    before = r;

    assert_int_equal(acq(&r, C, 0, 1, 0, 0), NVMF_SC_RESERVATION_CONFLICT); /* not registered */
    assert_int_equal(acq(&r, A, 0, 1, 0xA1, 0), NVMF_SC_RESERVATION_CONFLICT); /* B's key */
    for (unsigned t = 0; t < 256; t += (t == 0 ? 7 : t < 16 ? 1 : 17))
        assert_int_equal(acq(&r, A, 0, t, 0xA0, 0), NVMF_SC_INVALID_FIELD);
    for (unsigned a = 3; a <= 7; a++)
        assert_int_equal(acq(&r, A, a, 1, 0xA0, 0), NVMF_SC_INVALID_FIELD);
    uint8_t d[16] = {0};
    wr_le64(d, 0xA0);
    assert_int_equal(nvmf_resv_acquire(&r, host(A), cdw10(0, 1, 1, 0), d, 16, &g_out, &g_changed),
                     NVMF_SC_INVALID_FIELD); /* IEKEY */
    assert_int_equal(nvmf_resv_acquire(&r, host(A), cdw10(0, 0, 1, 0), d, 15, &g_out, &g_changed),
                     NVMF_SC_DATA_SGL_LENGTH_INVALID);
    assert_int_equal(nvmf_resv_acquire(&r, host(A), cdw10(0, 0, 1, 0), NULL, 16, &g_out,
                                       &g_changed),
                     NVMF_SC_DATA_SGL_LENGTH_INVALID);
    assert_false(g_changed);
    assert_memory_equal(&r, &before, sizeof(r));

    assert_int_equal(acq(&r, A, 0, NVMF_RESV_WRITE_EXCLUSIVE, 0xA0, 0), NVMF_SC_SUCCESS);
    assert_true(g_changed);
    assert_int_equal(r.type, NVMF_RESV_WRITE_EXCLUSIVE);
    assert_int_equal(holder_host(&r), A);
    assert_int_equal(r.generation, gen); /* acquire does not count */
    expect_notices(0);
    /* The holder again, same type: success, nothing changes; another type: conflict. */
    assert_int_equal(acq(&r, A, 0, NVMF_RESV_WRITE_EXCLUSIVE, 0xA0, 0), NVMF_SC_SUCCESS);
    assert_false(g_changed);
    assert_int_equal(acq(&r, A, 0, NVMF_RESV_EXCLUSIVE_ACCESS, 0xA0, 0),
                     NVMF_SC_RESERVATION_CONFLICT);
    /* Another registrant, any type: conflict. */
    assert_int_equal(acq(&r, B, 0, NVMF_RESV_WRITE_EXCLUSIVE, 0xA1, 0),
                     NVMF_SC_RESERVATION_CONFLICT);
    assert_int_equal(acq(&r, B, 0, NVMF_RESV_EXCLUSIVE_ACCESS, 0xA1, 0),
                     NVMF_SC_RESERVATION_CONFLICT);
    assert_int_equal(r.type, NVMF_RESV_WRITE_EXCLUSIVE);
    assert_int_equal(holder_host(&r), A);
}

static void test_acquire_all_registrants(void **state)
{
    (void)state;
    for (unsigned t = 5; t <= 6; t++) {
        struct nvmf_resv r;
        reg_hosts(&r, 2);
        assert_int_equal(acq(&r, A, 0, t, 0xA0, 0), NVMF_SC_SUCCESS);
        assert_int_equal(r.type, t);
        assert_int_equal(r.holder, -1);
        /* B is a holder too: the same type succeeds, another conflicts. */
        assert_int_equal(acq(&r, B, 0, t, 0xA1, 0), NVMF_SC_SUCCESS);
        assert_false(g_changed);
        assert_int_equal(acq(&r, B, 0, 1, 0xA1, 0), NVMF_SC_RESERVATION_CONFLICT);
        /* A host registering later is a holder as well. */
        assert_int_equal(reg(&r, C, 0xA2), NVMF_SC_SUCCESS);
        assert_int_equal(acq(&r, C, 0, t, 0xA2, 0), NVMF_SC_SUCCESS);
    }
}

/* ---- Preempt ---- */

static void test_preempt_no_reservation(void **state)
{
    (void)state;
    struct nvmf_resv r;
    reg_hosts(&r, 3);
    assert_int_equal(reg_full(&r, C, 2, 0, 0, 0xA2, 0xA1), NVMF_SC_SUCCESS); /* C shares B's key */
    uint32_t gen = r.generation;

    /* PRKEY matching nobody: conflict. */
    assert_int_equal(acq(&r, A, 1, 1, 0xA0, 0x99), NVMF_SC_RESERVATION_CONFLICT);
    assert_false(g_changed);
    assert_int_equal(r.generation, gen);
    expect_notices(0);

    /* Every registrant with the key goes; no reservation is created. */
    assert_int_equal(acq(&r, A, 1, NVMF_RESV_EXCLUSIVE_ACCESS, 0xA0, 0xA1), NVMF_SC_SUCCESS);
    assert_true(g_changed);
    assert_int_equal(r.generation, gen + 1);
    assert_int_equal(r.n_regs, 1);
    assert_int_equal(r.type, NVMF_RESV_NONE);
    expect_notices(2, B, 1, C, 1);
    expect_aborts(0);

    /* Preempting one's own key: the issuer is unregistered, and told nothing. */
    assert_int_equal(acq(&r, A, 1, 1, 0xA0, 0xA0), NVMF_SC_SUCCESS);
    assert_int_equal(r.n_regs, 0);
    expect_notices(0);
}

static void test_preempt_holder(void **state)
{
    (void)state;
    struct nvmf_resv r;
    reg_hosts(&r, 4);
    /* D shares A's key. A holds Write Exclusive. */
    assert_int_equal(reg_full(&r, D, 2, 0, 0, 0xA3, 0xA0), NVMF_SC_SUCCESS);
    assert_int_equal(acq(&r, A, 0, NVMF_RESV_WRITE_EXCLUSIVE, 0xA0, 0), NVMF_SC_SUCCESS);
    uint32_t gen = r.generation;

    /* B preempts the holder's key, taking Exclusive Access: A and D go, C stays and is
     * told the old reservation was released since the type changed. */
    assert_int_equal(acq(&r, B, 1, NVMF_RESV_EXCLUSIVE_ACCESS, 0xA1, 0xA0), NVMF_SC_SUCCESS);
    assert_true(g_changed);
    assert_int_equal(r.generation, gen + 1);
    assert_int_equal(r.type, NVMF_RESV_EXCLUSIVE_ACCESS);
    assert_int_equal(holder_host(&r), B);
    assert_false(is_reg(&r, A));
    assert_false(is_reg(&r, D));
    assert_true(is_reg(&r, C));
    expect_notices(3, A, 1, D, 1, C, 2);
    expect_aborts(0);

    /* C preempts B keeping the type: B goes; the type unchanged, nobody is told
     * "released". */
    assert_int_equal(acq(&r, C, 1, NVMF_RESV_EXCLUSIVE_ACCESS, 0xA2, 0xA1), NVMF_SC_SUCCESS);
    assert_int_equal(holder_host(&r), C);
    expect_notices(1, B, 1);
}

static void test_preempt_self(void **state)
{
    (void)state;
    struct nvmf_resv r;
    reg_hosts(&r, 3);
    assert_int_equal(reg_full(&r, C, 2, 0, 0, 0xA2, 0xA0), NVMF_SC_SUCCESS); /* C has A's key */
    assert_int_equal(acq(&r, A, 0, NVMF_RESV_WRITE_EXCLUSIVE_REG_ONLY, 0xA0, 0), NVMF_SC_SUCCESS);
    uint32_t gen = r.generation;

    /* The holder preempting its own key changes the type: the others with that key go,
     * the issuer stays holder, the remaining registrants hear "released". */
    assert_int_equal(acq(&r, A, 1, NVMF_RESV_EXCLUSIVE_ACCESS, 0xA0, 0xA0), NVMF_SC_SUCCESS);
    assert_int_equal(r.type, NVMF_RESV_EXCLUSIVE_ACCESS);
    assert_int_equal(holder_host(&r), A);
    assert_true(is_reg(&r, A));
    assert_false(is_reg(&r, C));
    expect_notices(2, C, 1, B, 2);
    assert_int_equal(r.generation, gen + 1);

    /* Same type again: nothing to tell; still a counted preempt. */
    assert_int_equal(acq(&r, A, 1, NVMF_RESV_EXCLUSIVE_ACCESS, 0xA0, 0xA0), NVMF_SC_SUCCESS);
    expect_notices(0);
    assert_int_equal(r.generation, gen + 2);
    assert_int_equal(holder_host(&r), A);
}

static void test_preempt_registrant_only(void **state)
{
    (void)state;
    struct nvmf_resv r;
    reg_hosts(&r, 3);
    assert_int_equal(acq(&r, A, 0, NVMF_RESV_WRITE_EXCLUSIVE, 0xA0, 0), NVMF_SC_SUCCESS);
    uint32_t gen = r.generation;

    /* PRKEY another registrant's (not the holder's): that registration goes, the
     * reservation stays, whoever issues it. */
    assert_int_equal(acq(&r, B, 1, NVMF_RESV_EXCLUSIVE_ACCESS, 0xA1, 0xA2), NVMF_SC_SUCCESS);
    assert_int_equal(r.type, NVMF_RESV_WRITE_EXCLUSIVE);
    assert_int_equal(holder_host(&r), A);
    assert_false(is_reg(&r, C));
    expect_notices(1, C, 1);
    assert_int_equal(r.generation, gen + 1);
    /* Matching nobody: conflict. */
    assert_int_equal(acq(&r, B, 1, 1, 0xA1, 0x1234), NVMF_SC_RESERVATION_CONFLICT);
    assert_int_equal(r.generation, gen + 1);
    /* PRKEY 0, not the holder's key: Invalid Field in Command. */
    assert_int_equal(acq(&r, B, 1, 1, 0xA1, 0), NVMF_SC_INVALID_FIELD);
    assert_false(g_changed);
    assert_int_equal(r.generation, gen + 1);
    expect_notices(0);
    assert_int_equal(r.n_regs, 2);

    /* A holder whose key is 0: PRKEY 0 is then its key, and preempts it. */
    assert_int_equal(reg_full(&r, A, 2, 0, 0, 0xA0, 0), NVMF_SC_SUCCESS);
    assert_int_equal(acq(&r, B, 1, NVMF_RESV_WRITE_EXCLUSIVE, 0xA1, 0), NVMF_SC_SUCCESS);
    assert_int_equal(holder_host(&r), B);
    expect_notices(1, A, 1);
}

static void test_preempt_all_registrants(void **state)
{
    (void)state;
    for (unsigned t = 5; t <= 6; t++) {
        struct nvmf_resv r;
        reg_hosts(&r, 4);
        assert_int_equal(reg_full(&r, D, 2, 0, 0, 0xA3, 0xA2), NVMF_SC_SUCCESS); /* D has C's key */
        assert_int_equal(acq(&r, A, 0, t, 0xA0, 0), NVMF_SC_SUCCESS);
        uint32_t gen = r.generation;

        /* PRKEY nonzero: the registrants with that key go, the reservation stays. */
        assert_int_equal(acq(&r, B, 1, NVMF_RESV_WRITE_EXCLUSIVE, 0xA1, 0xA2), NVMF_SC_SUCCESS);
        assert_int_equal(r.type, t);
        assert_int_equal(r.n_regs, 2);
        expect_notices(2, C, 1, D, 1);
        assert_int_equal(acq(&r, B, 1, 1, 0xA1, 0x777), NVMF_SC_RESERVATION_CONFLICT);
        assert_int_equal(r.generation, gen + 1);

        /* PRKEY 0: every other registrant goes and the issuer holds a new reservation
         * of RTYPE. */
        assert_int_equal(reg(&r, C, 0xC0), NVMF_SC_SUCCESS);
        gen = r.generation;
        assert_int_equal(acq(&r, B, 1, NVMF_RESV_WRITE_EXCLUSIVE, 0xA1, 0), NVMF_SC_SUCCESS);
        assert_int_equal(r.type, NVMF_RESV_WRITE_EXCLUSIVE);
        assert_int_equal(holder_host(&r), B);
        assert_int_equal(r.n_regs, 1);
        expect_notices(2, A, 1, C, 1);
        assert_int_equal(r.generation, gen + 1);
    }
    /* An All Registrants reservation whose registrants are all preempted is gone. */
    struct nvmf_resv r;
    reg_hosts(&r, 2);
    assert_int_equal(reg_full(&r, B, 2, 0, 0, 0xA1, 0xA0), NVMF_SC_SUCCESS);
    assert_int_equal(acq(&r, A, 0, 6, 0xA0, 0), NVMF_SC_SUCCESS);
    assert_int_equal(acq(&r, A, 1, 6, 0xA0, 0xA0), NVMF_SC_SUCCESS);
    assert_int_equal(r.n_regs, 0);
    assert_int_equal(r.type, NVMF_RESV_NONE);
    expect_notices(1, B, 1);
    /* PRKEY 0 keeping the All Registrants type: the issuer alone holds it. */
    reg_hosts(&r, 2);
    assert_int_equal(acq(&r, A, 0, 5, 0xA0, 0), NVMF_SC_SUCCESS);
    assert_int_equal(acq(&r, B, 1, 5, 0xA1, 0), NVMF_SC_SUCCESS);
    assert_int_equal(r.type, 5);
    assert_int_equal(r.holder, -1);
    assert_int_equal(r.n_regs, 1);
    expect_notices(1, A, 1);
}

static void test_preempt_and_abort(void **state)
{
    (void)state;
    struct nvmf_resv r;
    reg_hosts(&r, 4);
    assert_int_equal(reg_full(&r, D, 2, 0, 0, 0xA3, 0xA0), NVMF_SC_SUCCESS);
    assert_int_equal(acq(&r, A, 0, NVMF_RESV_EXCLUSIVE_ACCESS, 0xA0, 0), NVMF_SC_SUCCESS);
    assert_int_equal(acq(&r, B, 2, NVMF_RESV_EXCLUSIVE_ACCESS, 0xA1, 0xA0), NVMF_SC_SUCCESS);
    assert_int_equal(holder_host(&r), B);
    expect_notices(2, A, 1, D, 1);
    expect_aborts(2, A, D);
    /* A failure reports nothing to abort. */
    assert_int_equal(acq(&r, B, 2, 1, 0xA1, 0x4444), NVMF_SC_RESERVATION_CONFLICT);
    expect_notices(0);
    expect_aborts(0);
    /* The issuer's own registration going is not an abort of its commands. */
    assert_int_equal(reg_full(&r, C, 2, 0, 0, 0xA2, 0xA1), NVMF_SC_SUCCESS);
    assert_int_equal(acq(&r, B, 2, 2, 0xA1, 0xA1), NVMF_SC_SUCCESS); /* B's key is the holder's */
    expect_aborts(1, C);
    assert_int_equal(holder_host(&r), B);
}

/* ---- Release ---- */

static void test_release_checks(void **state)
{
    (void)state;
    struct nvmf_resv r, before;
    reg_hosts(&r, 2);
    assert_int_equal(acq(&r, A, 0, NVMF_RESV_WRITE_EXCLUSIVE, 0xA0, 0), NVMF_SC_SUCCESS);
    before = r;
    assert_int_equal(rel(&r, C, 0, 1, 0xA0), NVMF_SC_RESERVATION_CONFLICT);
    assert_int_equal(rel(&r, A, 0, 1, 0xA1), NVMF_SC_RESERVATION_CONFLICT);
    assert_int_equal(rel(&r, C, 1, 0, 0), NVMF_SC_RESERVATION_CONFLICT); /* clear too */
    for (unsigned a = 2; a <= 7; a++)
        assert_int_equal(rel(&r, A, a, 1, 0xA0), NVMF_SC_INVALID_FIELD);
    uint8_t d[8];
    wr_le64(d, 0xA0);
    assert_int_equal(nvmf_resv_release(&r, host(A), cdw10(0, 1, 1, 0), d, 8, &g_out, &g_changed),
                     NVMF_SC_INVALID_FIELD); /* IEKEY */
    assert_int_equal(nvmf_resv_release(&r, host(A), cdw10(0, 0, 1, 0), d, 7, &g_out, &g_changed),
                     NVMF_SC_DATA_SGL_LENGTH_INVALID);
    assert_int_equal(nvmf_resv_release(&r, host(A), cdw10(0, 0, 1, 0), NULL, 8, &g_out,
                                       &g_changed),
                     NVMF_SC_DATA_SGL_LENGTH_INVALID);
    /* The holder naming another type. */
    assert_int_equal(rel(&r, A, 0, 2, 0xA0), NVMF_SC_INVALID_FIELD);
    assert_int_equal(rel(&r, A, 0, 0, 0xA0), NVMF_SC_INVALID_FIELD);
    assert_false(g_changed);
    /* A registrant that is not the holder: success, no effect, whatever the type. */
    assert_int_equal(rel(&r, B, 0, 1, 0xA1), NVMF_SC_SUCCESS);
    assert_int_equal(rel(&r, B, 0, 4, 0xA1), NVMF_SC_SUCCESS);
    assert_false(g_changed);
    expect_notices(0);
    assert_memory_equal(&r, &before, sizeof(r));

    /* No reservation at all: success, no effect. */
    reg_hosts(&r, 1);
    before = r;
    assert_int_equal(rel(&r, A, 0, 3, 0xA0), NVMF_SC_SUCCESS);
    assert_false(g_changed);
    assert_memory_equal(&r, &before, sizeof(r));
}

static void test_release_each_type(void **state)
{
    (void)state;
    for (unsigned t = 1; t <= 6; t++) {
        struct nvmf_resv r;
        reg_hosts(&r, 3);
        assert_int_equal(acq(&r, A, 0, t, 0xA0, 0), NVMF_SC_SUCCESS);
        uint32_t gen = r.generation;
        /* For the All Registrants types B is a holder and may release it. */
        int who = t >= 5 ? B : A;
        assert_int_equal(rel(&r, who, 0, t, 0xA0 + (uint64_t)who), NVMF_SC_SUCCESS);
        assert_true(g_changed);
        assert_int_equal(r.type, NVMF_RESV_NONE);
        assert_int_equal(r.holder, -1);
        assert_int_equal(r.n_regs, 3); /* registrations stay */
        assert_int_equal(r.generation, gen); /* a release does not count */
        if (t <= 2)
            expect_notices(0);
        else if (who == A)
            expect_notices(2, B, 2, C, 2);
        else
            expect_notices(2, A, 2, C, 2);
        /* Free again: anybody may acquire. */
        assert_int_equal(acq(&r, C, 0, 1, 0xA2, 0), NVMF_SC_SUCCESS);
    }
}

static void test_clear(void **state)
{
    (void)state;
    struct nvmf_resv r;
    reg_hosts(&r, 3);
    r.ptpl = true;
    assert_int_equal(acq(&r, A, 0, NVMF_RESV_EXCLUSIVE_ACCESS_REG_ONLY, 0xA0, 0), NVMF_SC_SUCCESS);
    uint32_t gen = r.generation;
    /* Any registrant may clear, holder or not; RTYPE does not matter. */
    assert_int_equal(rel(&r, B, 1, 0x77, 0xA1), NVMF_SC_SUCCESS);
    assert_true(g_changed);
    assert_int_equal(r.n_regs, 0);
    assert_int_equal(r.type, NVMF_RESV_NONE);
    assert_int_equal(r.holder, -1);
    assert_int_equal(r.generation, gen + 1);
    assert_true(r.ptpl); /* PTPL is not a registration */
    expect_notices(2, A, 3, C, 3);
    /* Now nobody is a registrant. */
    assert_int_equal(rel(&r, B, 1, 0, 0xA1), NVMF_SC_RESERVATION_CONFLICT);

    /* Clear without a reservation still unregisters everyone. */
    reg_hosts(&r, 2);
    assert_int_equal(rel(&r, A, 1, 0, 0xA0), NVMF_SC_SUCCESS);
    assert_int_equal(r.n_regs, 0);
    expect_notices(1, B, 3);
}

/* ---- access ---- */

static void test_access_tables(void **state)
{
    (void)state;
    /* NVM Command Set "Command Behavior in the Presence of a Reservation":
     * {holder read, holder write, registrant read, registrant write, other read,
     * other write} for types 1..6. */
    static const bool table[7][6] = {
        [1] = {1, 1, 1, 0, 1, 0}, /* Write Exclusive */
        [2] = {1, 1, 0, 0, 0, 0}, /* Exclusive Access */
        [3] = {1, 1, 1, 1, 1, 0}, /* Write Exclusive - Registrants Only */
        [4] = {1, 1, 1, 1, 0, 0}, /* Exclusive Access - Registrants Only */
        [5] = {1, 1, 1, 1, 1, 0}, /* Write Exclusive - All Registrants */
        [6] = {1, 1, 1, 1, 0, 0}, /* Exclusive Access - All Registrants */
    };
    for (unsigned t = 1; t <= 6; t++) {
        struct nvmf_resv r;
        reg_hosts(&r, 2);
        assert_int_equal(acq(&r, A, 0, t, 0xA0, 0), NVMF_SC_SUCCESS);
        const int who[3] = {A, B, C};
        for (int w = 0; w < 3; w++)
            for (int wr = 0; wr < 2; wr++)
                if (nvmf_resv_access(&r, host(who[w]), wr) != table[t][w * 2 + wr]) {
                    print_error("type %u host %d %s: expected %d\n", t, who[w],
                                wr ? "write" : "read", table[t][w * 2 + wr]);
                    fail();
                }
    }
    /* No reservation: everyone may do anything, registered or not. */
    struct nvmf_resv r;
    reg_hosts(&r, 1);
    for (int wr = 0; wr < 2; wr++) {
        assert_true(nvmf_resv_access(&r, host(A), wr));
        assert_true(nvmf_resv_access(&r, host(C), wr));
    }
}

/* ---- Report ---- */

static uint16_t cntlid_of(const uint8_t hostid[16], void *ctx)
{
    (void)ctx;
    return hostid[0] == B ? 0xFFFF : (uint16_t)(0x100 + hostid[0]);
}

static void check_header(const uint8_t *p, uint32_t gen, uint8_t type, uint16_t regctl, uint8_t ptpls)
{
    assert_int_equal(rd_le(p, 4), gen);
    assert_int_equal(p[4], type);
    assert_int_equal(rd_le(p + 5, 2), regctl);
    assert_int_equal(p[7] | p[8], 0);
    assert_int_equal(p[9], ptpls);
    for (int i = 10; i < 64; i++)
        assert_int_equal(p[i], 0);
}

static void check_entry(const uint8_t *e, uint16_t cntlid, uint8_t rcsts, uint64_t rkey, int h)
{
    assert_int_equal(rd_le(e, 2), cntlid);
    assert_int_equal(e[2], rcsts);
    for (int i = 3; i < 8; i++)
        assert_int_equal(e[i], 0);
    assert_int_equal(rd_le(e + 8, 8), rkey);
    assert_memory_equal(e + 16, host(h), 16);
    for (int i = 32; i < 64; i++)
        assert_int_equal(e[i], 0);
}

static void test_report(void **state)
{
    (void)state;
    struct nvmf_resv r;
    reg_hosts(&r, 3);
    assert_int_equal(reg_full(&r, C, 2, 0, 3, 0xA2, 0xFEDCBA9876543210ull), NVMF_SC_SUCCESS);
    assert_int_equal(acq(&r, B, 0, NVMF_RESV_EXCLUSIVE_ACCESS_REG_ONLY, 0xA1, 0), NVMF_SC_SUCCESS);
    r.generation = 0x01020304;

    uint8_t buf[512];
    memset(buf, 0xAA, sizeof(buf));
    size_t len = 64 + 3 * 64 + 8; /* room to spare: zeroed */
    assert_int_equal(nvmf_resv_report(&r, 1, buf, len, cntlid_of, NULL), NVMF_SC_SUCCESS);
    check_header(buf, 0x01020304, 4, 3, 1);
    check_entry(buf + 64, 0x100, 0, 0xA0, A);
    check_entry(buf + 128, 0xFFFF, 1, 0xA1, B);
    check_entry(buf + 192, 0x102, 0, 0xFEDCBA9876543210ull, C);
    for (size_t i = 256; i < len; i++)
        assert_int_equal(buf[i], 0);
    for (size_t i = len; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0xAA);
    /* Exact bytes of the header. */
    const uint8_t hdr[10] = {0x04, 0x03, 0x02, 0x01, 0x04, 0x03, 0x00, 0x00, 0x00, 0x01};
    assert_memory_equal(buf, hdr, sizeof(hdr));

    /* Truncated: REGCTL still counts all; nothing is written past buf_len. */
    size_t cuts[] = {0, 1, 9, 63, 64, 65, 64 + 17, 128, 128 + 40, 255};
    for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
        uint8_t full[256], part[256];
        assert_int_equal(nvmf_resv_report(&r, 1, full, sizeof(full), cntlid_of, NULL), 0);
        memset(part, 0xAA, sizeof(part));
        assert_int_equal(nvmf_resv_report(&r, 1, part, cuts[c], cntlid_of, NULL), 0);
        assert_memory_equal(part, full, cuts[c]);
        for (size_t i = cuts[c]; i < sizeof(part); i++)
            assert_int_equal(part[i], 0xAA);
    }
    assert_int_equal(nvmf_resv_report(&r, 1, NULL, 0, cntlid_of, NULL), NVMF_SC_SUCCESS);

    /* Without a cntlid callback every registrant reports FFFFh. */
    assert_int_equal(nvmf_resv_report(&r, 1, buf, 256, NULL, NULL), NVMF_SC_SUCCESS);
    for (int i = 0; i < 3; i++)
        assert_int_equal(rd_le(buf + 64 + 64 * i, 2), 0xFFFF);

    /* Without EDS: Host Identifier Inconsistent Format, the buffer untouched. The
     * 24-byte format can not carry a 128-bit host identifier. */
    memset(buf, 0xAA, sizeof(buf));
    assert_int_equal(nvmf_resv_report(&r, 0, buf, sizeof(buf), cntlid_of, NULL),
                     NVMF_SC_HOSTID_INCONSISTENT);
    assert_int_equal(nvmf_resv_report(&r, 0xFFFFFFFEu, buf, sizeof(buf), cntlid_of, NULL),
                     NVMF_SC_HOSTID_INCONSISTENT);
    for (size_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0xAA);
    struct nvmf_resv empty;
    nvmf_resv_init(&empty);
    assert_int_equal(nvmf_resv_report(&empty, 0, buf, sizeof(buf), NULL, NULL),
                     NVMF_SC_HOSTID_INCONSISTENT);
}

static void test_report_all_registrants_and_empty(void **state)
{
    (void)state;
    struct nvmf_resv r;
    reg_hosts(&r, 2);
    assert_int_equal(acq(&r, B, 0, NVMF_RESV_WRITE_EXCLUSIVE_ALL_REGS, 0xA1, 0), NVMF_SC_SUCCESS);
    uint8_t buf[192];
    assert_int_equal(nvmf_resv_report(&r, 1, buf, sizeof(buf), cntlid_of, NULL), 0);
    check_header(buf, r.generation, 5, 2, 0);
    check_entry(buf + 64, 0x100, 1, 0xA0, A); /* every registrant holds it */
    check_entry(buf + 128, 0xFFFF, 1, 0xA1, B);

    nvmf_resv_init(&r);
    memset(buf, 0xAA, sizeof(buf));
    assert_int_equal(nvmf_resv_report(&r, 1, buf, sizeof(buf), cntlid_of, NULL), 0);
    check_header(buf, 0, 0, 0, 0);
    for (size_t i = 64; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0);

    /* A full house: 64 entries, REGCTL 64. */
    reg_hosts(&r, NVMF_RESV_MAX_REGISTRANTS);
    size_t len = 64 + 64 * NVMF_RESV_MAX_REGISTRANTS;
    uint8_t *big = malloc(len);
    assert_non_null(big);
    assert_int_equal(nvmf_resv_report(&r, 1, big, len, NULL, NULL), 0);
    assert_int_equal(rd_le(big + 5, 2), NVMF_RESV_MAX_REGISTRANTS);
    check_entry(big + len - 64, 0xFFFF, 0, 0xA0 + NVMF_RESV_MAX_REGISTRANTS - 1,
                NVMF_RESV_MAX_REGISTRANTS - 1);
    free(big);
}

/* ---- JSON ---- */

static void assert_same_state(const struct nvmf_resv *a, const struct nvmf_resv *b)
{
    assert_int_equal(a->generation, b->generation);
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->holder, b->holder);
    assert_int_equal(a->ptpl, b->ptpl);
    assert_int_equal(a->n_regs, b->n_regs);
    for (size_t i = 0; i < a->n_regs; i++) {
        assert_memory_equal(a->regs[i].hostid, b->regs[i].hostid, 16);
        assert_int_equal(a->regs[i].rkey, b->regs[i].rkey);
    }
}

#define DEV "3fa85f64-5717-4562-b3fc-2c963f66afa6"

/* What survives a file: everything but the generation, which restarts at 0. */
static void roundtrip(const struct nvmf_resv *r)
{
    char *text = nvmf_resv_to_ptpl(r, DEV);
    assert_non_null(text);
    struct nvmf_resv back, want = *r;
    char err[200];
    memset(&back, 0x5A, sizeof(back));
    assert_int_equal(nvmf_resv_from_ptpl(&back, text, DEV, err, sizeof(err)), 0);
    want.generation = 0;
    if (!want.ptpl)
        nvmf_resv_init(&want);
    assert_same_state(&want, &back);
    /* The text is canonical: writing it again gives the same bytes. */
    char *again = nvmf_resv_to_ptpl(&back, DEV);
    assert_string_equal(text, again);
    free(again);
    free(text);
}

static void test_ptpl_roundtrip(void **state)
{
    (void)state;
    struct nvmf_resv r;
    nvmf_resv_init(&r);
    roundtrip(&r);
    char *text = nvmf_resv_to_ptpl(&r, DEV);
    assert_string_equal(text, ""); /* persistence off: an empty file, as SPDK leaves it */
    free(text);

    /* persistence on with nobody registered survives too */
    r.ptpl = true;
    roundtrip(&r);

    reg_hosts(&r, 5);
    assert_int_equal(reg_full(&r, D, 2, 0, 3, 0xA3, 0xFFFFFFFFFFFFFFFFull), NVMF_SC_SUCCESS);
    assert_int_equal(reg_full(&r, B, 2, 0, 0, 0xA1, 0), NVMF_SC_SUCCESS);
    assert_int_equal(acq(&r, C, 0, NVMF_RESV_EXCLUSIVE_ACCESS, 0xA2, 0), NVMF_SC_SUCCESS);
    roundtrip(&r);

    /* The exact bytes SPDK's writer produces for this state. */
    text = nvmf_resv_to_ptpl(&r, DEV);
    assert_string_equal(
        text, "{\"ptpl\":true,\"rtype\":2,\"crkey\":162,\"bdev_uuid\":\"" DEV "\","
              "\"holder_uuid\":\"02111213-1415-1617-1819-1a1b1c1d1ef2\",\"registrants\":["
              "{\"rkey\":160,\"host_uuid\":\"00111213-1415-1617-1819-1a1b1c1d1ef0\"},"
              "{\"rkey\":0,\"host_uuid\":\"01111213-1415-1617-1819-1a1b1c1d1ef1\"},"
              "{\"rkey\":162,\"host_uuid\":\"02111213-1415-1617-1819-1a1b1c1d1ef2\"},"
              "{\"rkey\":18446744073709551615,\"host_uuid\":\"03111213-1415-1617-1819-1a1b1c1d1ef3\"},"
              "{\"rkey\":164,\"host_uuid\":\"04111213-1415-1617-1819-1a1b1c1d1ef4\"}]}");
    free(text);

    /* all registrants: no holder, the key is the first registrant's */
    assert_int_equal(acq(&r, C, 1, NVMF_RESV_EXCLUSIVE_ACCESS_ALL_REGS, 0xA2, 0xA2),
                     NVMF_SC_SUCCESS);
    assert_int_equal(r.holder, -1);
    roundtrip(&r);
    text = nvmf_resv_to_ptpl(&r, DEV);
    assert_non_null(strstr(text, "\"rtype\":6,\"crkey\":160,"));
    assert_non_null(strstr(text, "\"holder_uuid\":\"\""));
    free(text);

    reg_hosts(&r, NVMF_RESV_MAX_REGISTRANTS);
    r.ptpl = true;
    roundtrip(&r);
}

/* A file as SPDK writes it, pretty-printed by hand, with a key beyond INT64_MAX. */
static void test_ptpl_reads_spdk_file(void **state)
{
    (void)state;
    const char *file =
        "{\n  \"ptpl\" : true,\n  \"rtype\": 1,\n  \"crkey\": 18446744073709551614,\n"
        "  \"bdev_uuid\": \"3FA85F64-5717-4562-B3FC-2C963F66AFA6\",\n"
        "  \"holder_uuid\": \"01111213-1415-1617-1819-1a1b1c1d1ef1\",\n"
        "  \"registrants\": [\n"
        "    {\"rkey\": 7, \"host_uuid\": \"00111213-1415-1617-1819-1a1b1c1d1ef0\"},\n"
        "    {\"host_uuid\": \"01111213-1415-1617-1819-1a1b1c1d1ef1\", \"rkey\": 18446744073709551614}\n"
        "  ]\n}\n";
    struct nvmf_resv r;
    char err[200] = "";
    assert_int_equal(nvmf_resv_from_ptpl(&r, file, DEV, err, sizeof(err)), 0);
    assert_true(r.ptpl);
    assert_int_equal(r.type, NVMF_RESV_WRITE_EXCLUSIVE);
    assert_int_equal(r.n_regs, 2);
    assert_int_equal(r.holder, 1);
    assert_true(r.regs[1].rkey == 0xFFFFFFFFFFFFFFFEull);
    assert_true(r.regs[0].rkey == 7);
    assert_memory_equal(r.regs[0].hostid, host(A), 16);
    /* the restored holder's access rules hold again */
    assert_true(nvmf_resv_access(&r, host(B), true));
    assert_false(nvmf_resv_access(&r, host(A), true));
    assert_true(nvmf_resv_access(&r, host(A), false));

    /* persistence switched off, emptied, blank or missing: nothing restored */
    static const char *off[] = {
        NULL, "", " \n\t",
        "{\"ptpl\":false,\"rtype\":0,\"crkey\":0,\"bdev_uuid\":\"" DEV "\",\"holder_uuid\":\"\","
        "\"registrants\":[]}",
        "{\"ptpl\":false,\"bdev_uuid\":\"" DEV "\"}",
    };
    for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
        memset(&r, 0x5A, sizeof(r));
        assert_int_equal(nvmf_resv_from_ptpl(&r, off[i], DEV, err, sizeof(err)), 0);
        struct nvmf_resv init;
        nvmf_resv_init(&init);
        assert_same_state(&r, &init);
    }
}

static void test_ptpl_malformed(void **state)
{
    (void)state;
    struct nvmf_resv r, before;
    reg_hosts(&r, 2);
    assert_int_equal(acq(&r, B, 0, 1, 0xA1, 0), NVMF_SC_SUCCESS);
    before = r;

#define H0 "00111213-1415-1617-1819-1a1b1c1d1ef0"
#define H1 "01111213-1415-1617-1819-1a1b1c1d1ef1"
#define HEAD "{\"ptpl\":true,\"bdev_uuid\":\"" DEV "\","
#define REGS "\"registrants\":[{\"rkey\":160,\"host_uuid\":\"" H0 "\"}]"
    static const char *bad[] = {
        "{", "[]", "null", "42", "{}", "\"x\"",
        /* ptpl or the device missing, of the wrong kind, or another device */
        "{\"bdev_uuid\":\"" DEV "\",\"rtype\":0,\"registrants\":[]}",
        "{\"ptpl\":1,\"bdev_uuid\":\"" DEV "\",\"rtype\":0,\"registrants\":[]}",
        "{\"ptpl\":true,\"rtype\":0,\"registrants\":[]}",
        "{\"ptpl\":true,\"bdev_uuid\":7,\"rtype\":0,\"registrants\":[]}",
        "{\"ptpl\":true,\"bdev_uuid\":\"" H0 "\",\"rtype\":0,\"registrants\":[]}",
        "{\"ptpl\":false,\"bdev_uuid\":\"" H0 "\"}",
        /* rtype missing or out of range */
        HEAD "\"registrants\":[]}",
        HEAD "\"rtype\":\"1\"," REGS "}",
        HEAD "\"rtype\":7," REGS "}",
        HEAD "\"rtype\":-1," REGS "}",
        HEAD "\"rtype\":1.0," REGS "}",
        /* keys that are no unsigned 64-bit integers */
        HEAD "\"rtype\":0,\"crkey\":-1," REGS "}",
        HEAD "\"rtype\":0,\"crkey\":18446744073709551616," REGS "}",
        HEAD "\"rtype\":0,\"crkey\":1.5," REGS "}",
        HEAD "\"rtype\":0,\"crkey\":true," REGS "}",
        HEAD "\"rtype\":0,\"registrants\":[{\"rkey\":1e3,\"host_uuid\":\"" H0 "\"}]}",
        HEAD "\"rtype\":0,\"registrants\":[{\"rkey\":\"abc\",\"host_uuid\":\"" H0 "\"}]}",
        HEAD "\"rtype\":0,\"registrants\":[{\"rkey\":-5,\"host_uuid\":\"" H0 "\"}]}",
        /* bad registrants */
        HEAD "\"rtype\":0}",
        HEAD "\"rtype\":0,\"registrants\":{}}",
        HEAD "\"rtype\":0,\"registrants\":[1]}",
        HEAD "\"rtype\":0,\"registrants\":[{\"host_uuid\":\"" H0 "\"}]}",
        HEAD "\"rtype\":0,\"registrants\":[{\"rkey\":1}]}",
        HEAD "\"rtype\":0,\"registrants\":[{\"rkey\":1,\"host_uuid\":\"00111213-1415\"}]}",
        HEAD "\"rtype\":0,\"registrants\":[{\"rkey\":1,\"host_uuid\":"
             "\"00111213-1415-1617-1819-1a1b1c1d1eX0\"}]}",
        HEAD "\"rtype\":0,\"registrants\":[{\"rkey\":1,\"host_uuid\":\"" H0 "\"},"
             "{\"rkey\":2,\"host_uuid\":\"" H0 "\"}]}",
        /* a reservation with no registrant, a key that is nobody's, a holder that is not
         * a registrant */
        HEAD "\"rtype\":6,\"crkey\":0,\"registrants\":[]}",
        HEAD "\"rtype\":1,\"crkey\":5,\"holder_uuid\":\"" H0 "\"," REGS "}",
        HEAD "\"rtype\":1,\"crkey\":160,\"holder_uuid\":\"" H1 "\"," REGS "}",
        HEAD "\"rtype\":1,\"crkey\":160,\"holder_uuid\":\"\"," REGS "}",
        HEAD "\"rtype\":1,\"crkey\":160," REGS "}",
        HEAD "\"rtype\":1,\"crkey\":160,\"holder_uuid\":3," REGS "}",
        /* a member given twice */
        HEAD "\"rtype\":0,\"rtype\":1," REGS "}",
    };
    char err[200];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        if (nvmf_resv_from_ptpl(&r, bad[i], DEV, err, sizeof(err)) != -EINVAL) {
            print_error("accepted: %s\n", bad[i]);
            fail();
        }
        assert_true(err[0] != 0); /* a reason for the operator */
        assert_memory_equal(&r, &before, sizeof(r));
    }

    /* Too many registrants. */
    size_t cap = 200 + 80 * (NVMF_RESV_MAX_REGISTRANTS + 1);
    char *text = malloc(cap);
    assert_non_null(text);
    int n = snprintf(text, cap, HEAD "\"rtype\":0,\"registrants\":[");
    for (int i = 0; i <= NVMF_RESV_MAX_REGISTRANTS; i++)
        n += snprintf(text + n, cap - (size_t)n,
                      "%s{\"rkey\":1,\"host_uuid\":\"%02x111213-1415-1617-1819-1a1b1c1d1e00\"}",
                      i ? "," : "", i);
    snprintf(text + n, cap - (size_t)n, "]}");
    assert_int_equal(nvmf_resv_from_ptpl(&r, text, DEV, err, sizeof(err)), -EINVAL);
    assert_memory_equal(&r, &before, sizeof(r));
    free(text);

    /* Unknown members are ignored; a key in a string is read too. */
    const char *good = HEAD "\"rtype\":3,\"crkey\":161,\"holder_uuid\":\"" H1 "\","
                       "\"future\":[1,{\"rkey\":-1}],\"registrants\":[{\"rkey\":160,\"host_uuid\":\"" H0
                       "\"},{\"rkey\":\"161\",\"host_uuid\":\"" H1 "\"}]}";
    assert_int_equal(nvmf_resv_from_ptpl(&r, good, DEV, err, sizeof(err)), 0);
    assert_int_equal(r.type, NVMF_RESV_WRITE_EXCLUSIVE_REG_ONLY);
    assert_int_equal(r.holder, 1);
    assert_int_equal(r.generation, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_register),
        cmocka_unit_test(test_register_reserved_and_short),
        cmocka_unit_test(test_cptpl),
        cmocka_unit_test(test_unregister),
        cmocka_unit_test(test_replace),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_generation_wraps),
        cmocka_unit_test(test_unregister_holder),
        cmocka_unit_test(test_holder_index_moves),
        cmocka_unit_test(test_acquire),
        cmocka_unit_test(test_acquire_all_registrants),
        cmocka_unit_test(test_preempt_no_reservation),
        cmocka_unit_test(test_preempt_holder),
        cmocka_unit_test(test_preempt_self),
        cmocka_unit_test(test_preempt_registrant_only),
        cmocka_unit_test(test_preempt_all_registrants),
        cmocka_unit_test(test_preempt_and_abort),
        cmocka_unit_test(test_release_checks),
        cmocka_unit_test(test_release_each_type),
        cmocka_unit_test(test_clear),
        cmocka_unit_test(test_access_tables),
        cmocka_unit_test(test_report),
        cmocka_unit_test(test_report_all_registrants_and_empty),
        cmocka_unit_test(test_ptpl_roundtrip),
        cmocka_unit_test(test_ptpl_reads_spdk_file),
        cmocka_unit_test(test_ptpl_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
