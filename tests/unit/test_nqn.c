/*
 * Unit tests for NVMe Qualified Names (src/core/nqn.h).
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

#include "core/nqn.h"

#define UUID "0e1a5b3c-1f2d-4e5f-8a9b-0c1d2e3f4a5b"

static int clear_env(void **state)
{
    (void)state;
    unsetenv("HOSTNQN");
    return 0;
}

static void test_for_target(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(nqn_for_target("replica-1", out, sizeof(out)), 0);
    assert_string_equal(out, "nqn.2019-05.io.openebs:replica-1");
    assert_true(nqn_is_valid(out));
    assert_int_equal(nqn_for_target(UUID, out, sizeof(out)), 0);
    assert_string_equal(out, NQN_PREFIX ":" UUID);
    assert_true(nqn_is_valid(out));

    assert_int_equal(nqn_for_target("", out, sizeof(out)), -EINVAL);
    assert_int_equal(nqn_for_target(NULL, out, sizeof(out)), -EINVAL);

    /* 223 bytes total is the limit: the prefix and ':' take 23, leaving 200. */
    char name[260];
    size_t room = NQN_MAX_LEN - strlen(NQN_PREFIX ":");
    assert_int_equal(room, 200);
    memset(name, 'n', room);
    name[room] = 0;
    assert_int_equal(nqn_for_target(name, out, sizeof(out)), 0);
    assert_int_equal(strlen(out), NQN_MAX_LEN);
    assert_true(nqn_is_valid(out));
    name[room] = 'n';
    name[room + 1] = 0;
    assert_int_equal(nqn_for_target(name, out, sizeof(out)), -ENAMETOOLONG);

    /* An output buffer too small is an error, never an overrun. */
    char small[16];
    assert_int_equal(nqn_for_target("r", small, sizeof(small)), -ENAMETOOLONG);
    char exact[sizeof(NQN_PREFIX ":r")];
    assert_int_equal(nqn_for_target("r", exact, sizeof(exact)), 0);
    assert_string_equal(exact, NQN_PREFIX ":r");
    char one_short[sizeof(NQN_PREFIX ":r") - 1];
    assert_int_equal(nqn_for_target("r", one_short, sizeof(one_short)), -ENAMETOOLONG);
}

static void test_for_host(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(nqn_for_host("node-a", out, sizeof(out)), 0);
    assert_string_equal(out, "nqn.2019-05.io.openebs:node-name:node-a");
    assert_true(nqn_is_valid(out));

    /* HOSTNQN wins over the node name. */
    assert_int_equal(setenv("HOSTNQN", "nqn.2014-08.org.nvmexpress:uuid:" UUID, 1), 0);
    assert_int_equal(nqn_for_host("node-a", out, sizeof(out)), 0);
    assert_string_equal(out, "nqn.2014-08.org.nvmexpress:uuid:" UUID);

    assert_int_equal(setenv("HOSTNQN", "nqn.2020-01.com.example:host-1", 1), 0);
    assert_int_equal(nqn_for_host("node-a", out, sizeof(out)), 0);
    assert_string_equal(out, "nqn.2020-01.com.example:host-1");

    /* An invalid HOSTNQN is an error, not silently replaced. */
    assert_int_equal(setenv("HOSTNQN", "not-an-nqn", 1), 0);
    assert_int_equal(nqn_for_host("node-a", out, sizeof(out)), -EINVAL);
    assert_int_equal(setenv("HOSTNQN", "nqn.2014-08.org.nvmexpress:uuid:nope", 1), 0);
    assert_int_equal(nqn_for_host("node-a", out, sizeof(out)), -EINVAL);

    /* An empty HOSTNQN counts as unset. */
    assert_int_equal(setenv("HOSTNQN", "", 1), 0);
    assert_int_equal(nqn_for_host("node-b", out, sizeof(out)), 0);
    assert_string_equal(out, "nqn.2019-05.io.openebs:node-name:node-b");

    unsetenv("HOSTNQN");
    assert_int_equal(nqn_for_host("node-c", out, sizeof(out)), 0);
    assert_string_equal(out, "nqn.2019-05.io.openebs:node-name:node-c");

    /* A node name that makes the NQN too long. */
    char node[256];
    memset(node, 'x', 250);
    node[250] = 0;
    assert_int_equal(nqn_for_host(node, out, sizeof(out)), -ENAMETOOLONG);
    char small[8];
    assert_int_equal(nqn_for_host("n", small, sizeof(small)), -ENAMETOOLONG);
}

static void test_valid_forms(void **state)
{
    (void)state;
    static const char *const good[] = {
        "nqn.2019-05.io.openebs:r1",
        "nqn.2019-05.io.openebs:node-name:worker-1",
        "nqn.2014-08.org.nvmexpress.discovery",
        NQN_DISCOVERY,
        "nqn.2014-08.org.nvmexpress:uuid:" UUID,
        "nqn.2014-08.org.nvmexpress:uuid:0E1A5B3C-1F2D-4E5F-8A9B-0C1D2E3F4A5B",
        "nqn.2016-06.io.spdk:cnode1",
        "nqn.1999-12.com",
        "nqn.2000-01.a-b.c:x y",  /* anything printable after ':' */
        "nqn.2019-05.io.openebs:a:b:c",
        NULL,
    };
    for (const char *const *g = good; *g; g++)
        if (!nqn_is_valid(*g))
            fail_msg("'%s' rejected", *g);
}

static void test_invalid_forms(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "nqn.",
        "nqn.2019-05",
        "nqn.2019-05.",
        "nqn.2019-05.:x",
        "NQN.2019-05.io.openebs:r1",
        "nqn-2019-05.io.openebs:r1",
        "nqn.19-05.io.openebs:r1",
        "nqn.2019-5.io.openebs:r1",
        "nqn.2019/05.io.openebs:r1",
        "nqn.2019-00.io.openebs:r1",
        "nqn.2019-13.io.openebs:r1",
        "nqn.2019-05io.openebs:r1",
        "nqn.2019-05..io.openebs:r1",
        "nqn.2019-05.io.openebs.:r1",
        "nqn.2019-05.io..openebs:r1", /* empty label inside the domain */
        "nqn.2019-05.io_openebs:r1",
        "nqn.2019-05.io openebs:r1",
        "nqn.2019-05.io.openebs:",
        "nqn.2019-05.io.openebs:r1\n",
        "nqn.2019-05.io.openebs:r\x01",
        "nqn.2019-05.io.openebs:r\x7f",
        "nqn.2014-08.org.nvmexpress:uuid:",
        "nqn.2014-08.org.nvmexpress:uuid:not-a-uuid",
        "nqn.2014-08.org.nvmexpress:uuid:" UUID "0",
        "nqn.2014-08.org.nvmexpress:uuid:0e1a5b3c1f2d4e5f8a9b0c1d2e3f4a5b",
        "iqn.2019-05.io.openebs:r1",
        "replica-1",
        NULL,
    };
    for (const char *const *b = bad; *b; b++)
        if (nqn_is_valid(*b))
            fail_msg("'%s' accepted", *b);
}

static void test_length_limit(void **state)
{
    (void)state;
    char nqn[300];
    size_t pre = strlen(NQN_PREFIX ":");
    memcpy(nqn, NQN_PREFIX ":", pre);
    memset(nqn + pre, 'a', NQN_MAX_LEN - pre);
    nqn[NQN_MAX_LEN] = 0;
    assert_int_equal(strlen(nqn), 223);
    assert_true(nqn_is_valid(nqn));
    nqn[NQN_MAX_LEN] = 'a';
    nqn[NQN_MAX_LEN + 1] = 0;
    assert_int_equal(strlen(nqn), 224);
    assert_false(nqn_is_valid(nqn));
}

static void test_target_name(void **state)
{
    (void)state;
    assert_string_equal(nqn_target_name("nqn.2019-05.io.openebs:r1"), "r1");
    assert_string_equal(nqn_target_name("nqn.2019-05.io.openebs:" UUID), UUID);
    assert_string_equal(nqn_target_name("nqn.2019-05.io.openebs:node-name:n"), "node-name:n");
    assert_null(nqn_target_name("nqn.2019-05.io.openebs:"));
    assert_null(nqn_target_name("nqn.2019-05.io.openebs"));
    assert_null(nqn_target_name("nqn.2019-05.io.openebsX:r1"));
    assert_null(nqn_target_name("nqn.2016-06.io.spdk:cnode1"));
    assert_null(nqn_target_name(""));

    /* Round trip. */
    char out[256];
    assert_int_equal(nqn_for_target("nexus-7", out, sizeof(out)), 0);
    const char *n = nqn_target_name(out);
    assert_non_null(n);
    assert_string_equal(n, "nexus-7");
    assert_ptr_equal(n, out + strlen(NQN_PREFIX ":"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_for_target, clear_env),
        cmocka_unit_test_setup(test_for_host, clear_env),
        cmocka_unit_test_setup(test_valid_forms, clear_env),
        cmocka_unit_test_setup(test_invalid_forms, clear_env),
        cmocka_unit_test_setup(test_length_limit, clear_env),
        cmocka_unit_test_setup(test_target_name, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, clear_env);
}
