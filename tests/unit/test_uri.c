/*
 * Unit tests for the device URI parser (src/core/uri.h).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/uri.h"

#define UUID "0e1a5b3c-1f2d-4e5f-8a9b-0c1d2e3f4a5b"

/* Parses s, failing the test with the parser's message if it is rejected. */
static void parse_ok(const char *s, struct uri *u)
{
    char err[256] = "";
    int rc = uri_parse(s, u, err, sizeof(err));
    if (rc != 0)
        fail_msg("'%s' rejected (%d): %s", s, rc, err);
}

/* Expects s to be rejected with -EINVAL, a message, and *u left freed/empty. */
static void parse_bad(const char *s, const char *needle)
{
    struct uri u;
    char err[256] = "";
    int rc = uri_parse(s, &u, err, sizeof(err));
    if (rc == 0) {
        uri_free(&u);
        fail_msg("'%s' accepted", s);
    }
    assert_int_equal(rc, -EINVAL);
    if (!err[0])
        fail_msg("'%s' rejected without a message", s);
    if (needle && !strstr(err, needle))
        fail_msg("'%s': message '%s' does not mention '%s'", s, err, needle);
    /* Nothing is left allocated on failure. */
    assert_null(u.scheme);
    assert_null(u.host);
    assert_null(u.path);
    assert_int_equal(u.n_params, 0);
    assert_int_equal(u.port, -1);
    uri_free(&u); /* harmless */
}

static void test_malloc_uri(void **state)
{
    (void)state;
    struct uri u;
    parse_ok("malloc:///m0?size_mb=64&blk_size=4096", &u);
    assert_string_equal(u.scheme, "malloc");
    assert_string_equal(u.host, "");
    assert_int_equal(u.port, -1);
    assert_string_equal(u.path, "/m0");
    assert_int_equal(u.n_params, 2);
    assert_string_equal(u.params[0].key, "size_mb");
    assert_string_equal(u.params[0].value, "64");
    assert_string_equal(u.params[1].key, "blk_size");
    assert_string_equal(u.params[1].value, "4096");
    assert_string_equal(uri_param(&u, "size_mb"), "64");
    assert_string_equal(uri_param(&u, "blk_size"), "4096");
    assert_null(uri_param(&u, "uuid"));
    assert_null(uri_param(&u, "size"));    /* no prefix matching */
    assert_null(uri_param(&u, "SIZE_MB")); /* keys are case-sensitive */
    uri_free(&u);
    assert_null(u.scheme);
    assert_int_equal(u.n_params, 0);
    assert_int_equal(u.port, -1);
    uri_free(&u); /* a second free is harmless */
}

static void test_aio(void **state)
{
    (void)state;
    struct uri u;
    parse_ok("aio:///dev/sdb", &u);
    assert_string_equal(u.scheme, "aio");
    assert_string_equal(u.host, "");
    assert_int_equal(u.port, -1);
    assert_string_equal(u.path, "/dev/sdb");
    assert_int_equal(u.n_params, 0);
    assert_null(uri_param(&u, "blk_size"));
    uri_free(&u);

    /* A trailing '?' means no parameters. */
    parse_ok("aio:///dev/sdb?", &u);
    assert_string_equal(u.path, "/dev/sdb");
    assert_int_equal(u.n_params, 0);
    uri_free(&u);

    /* A fragment is not part of the path or the query. */
    parse_ok("aio:///dev/sdc?blk_size=512#frag", &u);
    assert_string_equal(u.path, "/dev/sdc");
    assert_int_equal(u.n_params, 1);
    assert_string_equal(uri_param(&u, "blk_size"), "512");
    uri_free(&u);
    parse_ok("aio:///dev/sdc#frag?x=1", &u);
    assert_string_equal(u.path, "/dev/sdc");
    assert_int_equal(u.n_params, 0);
    uri_free(&u);
}

static void test_uring_percent(void **state)
{
    (void)state;
    struct uri u;
    parse_ok("uring:///tmp/file%20x?blk_size=512", &u);
    assert_string_equal(u.scheme, "uring");
    assert_string_equal(u.path, "/tmp/file x");
    assert_string_equal(uri_param(&u, "blk_size"), "512");
    uri_free(&u);

    /* Escapes in keys and values are decoded; hex digits in either case. */
    parse_ok("uring:///a%2Fb%2fc?k%3D=v%26w&x=%41%62", &u);
    assert_string_equal(u.path, "/a/b/c");
    assert_int_equal(u.n_params, 2);
    assert_string_equal(u.params[0].key, "k=");
    assert_string_equal(u.params[0].value, "v&w");
    assert_string_equal(uri_param(&u, "x"), "Ab");
    uri_free(&u);

    /* An escape right at the end of the path. */
    parse_ok("uring:///tmp/x%25", &u);
    assert_string_equal(u.path, "/tmp/x%");
    uri_free(&u);
}

static void test_nvmf(void **state)
{
    (void)state;
    struct uri u;
    parse_ok("nvmf://127.0.0.1:8420/nqn.2019-05.io.openebs:r1?uuid=" UUID, &u);
    assert_string_equal(u.scheme, "nvmf");
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 8420);
    assert_string_equal(u.path, "/nqn.2019-05.io.openebs:r1");
    assert_int_equal(u.n_params, 1);
    assert_string_equal(uri_param(&u, "uuid"), UUID);
    uri_free(&u);

    parse_ok("nvmf+tcp://[::1]:4420/nqn.2019-05.io.openebs:nexus-1", &u);
    assert_string_equal(u.scheme, "nvmf+tcp");
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 4420);
    assert_string_equal(u.path, "/nqn.2019-05.io.openebs:nexus-1");
    uri_free(&u);

    /* IPv6 without a port. */
    parse_ok("nvmf://[fe80::1]/nqn.x", &u);
    assert_string_equal(u.host, "fe80::1");
    assert_int_equal(u.port, -1);
    uri_free(&u);

    /* Host without port or path. */
    parse_ok("nvmf://10.0.0.1", &u);
    assert_string_equal(u.host, "10.0.0.1");
    assert_int_equal(u.port, -1);
    assert_string_equal(u.path, "");
    uri_free(&u);

    /* Host name and user info (dropped). */
    parse_ok("nvmf://user@target.local:4421/nqn.y?a=1", &u);
    assert_string_equal(u.host, "target.local");
    assert_int_equal(u.port, 4421);
    assert_string_equal(uri_param(&u, "a"), "1");
    uri_free(&u);

    /* Port limits. */
    parse_ok("nvmf://h:65535/x", &u);
    assert_int_equal(u.port, 65535);
    uri_free(&u);
    parse_ok("nvmf://h:1/x", &u);
    assert_int_equal(u.port, 1);
    uri_free(&u);
}

static void test_bdev(void **state)
{
    (void)state;
    struct uri u;
    parse_ok("bdev:///name?uuid=" UUID, &u);
    assert_string_equal(u.scheme, "bdev");
    assert_string_equal(u.path, "/name");
    assert_string_equal(uri_param(&u, "uuid"), UUID);
    uri_free(&u);

    /* "k" and "k=" both give an empty value; empty pairs are skipped. */
    parse_ok("bdev:///name?uuid=&flag&&x=1&", &u);
    assert_int_equal(u.n_params, 3);
    assert_string_equal(uri_param(&u, "uuid"), "");
    assert_string_equal(uri_param(&u, "flag"), "");
    assert_string_equal(uri_param(&u, "x"), "1");
    uri_free(&u);

    /* '=' inside a value is kept. */
    parse_ok("bdev:///n?opt=a=b", &u);
    assert_string_equal(uri_param(&u, "opt"), "a=b");
    uri_free(&u);
}

static void test_scheme_lowercased(void **state)
{
    (void)state;
    struct uri u;
    parse_ok("MALLOC:///M0?SIZE_MB=1", &u);
    assert_string_equal(u.scheme, "malloc");
    /* Only the scheme is lower-cased. */
    assert_string_equal(u.path, "/M0");
    assert_string_equal(u.params[0].key, "SIZE_MB");
    uri_free(&u);
    parse_ok("NVMF+TCP://Host:1/x", &u);
    assert_string_equal(u.scheme, "nvmf+tcp");
    assert_string_equal(u.host, "Host");
    uri_free(&u);
}

static void test_unknown_param(void **state)
{
    (void)state;
    struct uri u;
    static const char *const malloc_params[] = {"size_mb", "blk_size", "uuid", "num_blocks", NULL};
    static const char *const none[] = {NULL};

    parse_ok("malloc:///m0?size_mb=64&blk_size=4096", &u);
    assert_null(uri_unknown_param(&u, malloc_params));
    assert_string_equal(uri_unknown_param(&u, none), "size_mb");
    uri_free(&u);

    parse_ok("malloc:///m0?size_mb=64&bogus=1&other=2", &u);
    assert_string_equal(uri_unknown_param(&u, malloc_params), "bogus"); /* the first one */
    uri_free(&u);

    parse_ok("malloc:///m0", &u);
    assert_null(uri_unknown_param(&u, none));
    uri_free(&u);
}

static void test_duplicates(void **state)
{
    (void)state;
    parse_bad("malloc:///m0?size_mb=64&size_mb=32", "size_mb");
    parse_bad("malloc:///m0?a=1&b=2&a", "'a'");
    /* Duplicates after decoding. */
    parse_bad("malloc:///m0?ab=1&a%62=2", "ab");
}

static void test_too_many_params(void **state)
{
    (void)state;
    char s[512] = "malloc:///m0?";
    for (int i = 0; i < URI_MAX_PARAMS; i++)
        snprintf(s + strlen(s), sizeof(s) - strlen(s), "k%d=%d&", i, i);
    struct uri u;
    parse_ok(s, &u);
    assert_int_equal(u.n_params, URI_MAX_PARAMS);
    assert_string_equal(uri_param(&u, "k15"), "15");
    uri_free(&u);
    strcat(s, "one=more");
    parse_bad(s, "too many");
}

static void test_bad_port(void **state)
{
    (void)state;
    parse_bad("nvmf://127.0.0.1:0x10/nqn", "port");
    parse_bad("nvmf://127.0.0.1:70000/nqn", "port");
    parse_bad("nvmf://127.0.0.1:65536/nqn", "port");
    parse_bad("nvmf://127.0.0.1:99999999999999999999/nqn", "port");
    parse_bad("nvmf://127.0.0.1:/nqn", "port");
    parse_bad("nvmf://127.0.0.1:", "port");
    parse_bad("nvmf://127.0.0.1:-1/nqn", "port");
    parse_bad("nvmf://127.0.0.1:+1/nqn", "port");
    parse_bad("nvmf://[::1]:/nqn", "port");
    parse_bad("nvmf://[::1]:x/nqn", "port");
    parse_bad("nvmf://::1:4420/nqn", "port"); /* unbracketed IPv6 */
}

static void test_bad_host(void **state)
{
    (void)state;
    parse_bad("nvmf://[::1/nqn", "host");
    parse_bad("nvmf://[::1]4420/nqn", "host");
}

static void test_bad_escapes(void **state)
{
    (void)state;
    parse_bad("uring:///tmp/%zz", NULL);
    parse_bad("uring:///tmp/%2", NULL);
    parse_bad("uring:///tmp/%", NULL);
    parse_bad("uring:///tmp/%00x", NULL);
    parse_bad("uring:///tmp/%g0", NULL);
    parse_bad("uring:///tmp/x?a=%zz", NULL);
    parse_bad("uring:///tmp/x?a=%2", NULL);
    parse_bad("uring:///tmp/x?a=%00", NULL);
    parse_bad("uring:///tmp/x?%zz=1", NULL);
    parse_bad("uring:///tmp/x?%2=1", NULL);
    /* '%2' followed by the next pair must not borrow its characters. */
    parse_bad("uring:///tmp/x?a=%2&b=1", NULL);
}

static void test_whitespace_and_controls(void **state)
{
    (void)state;
    parse_bad("aio:///dev/sd b", "whitespace");
    parse_bad("aio:///dev/sdb ", "whitespace");
    parse_bad(" aio:///dev/sdb", NULL);
    parse_bad("aio:///dev/sdb\t", "whitespace");
    parse_bad("aio:///dev/sdb\n", "whitespace");
    parse_bad("aio:///dev/sdb?a=1 2", "whitespace");
    parse_bad("aio:///dev/sdb\x7f", "whitespace");
}

static void test_missing_scheme(void **state)
{
    (void)state;
    parse_bad("/dev/sdb", "/dev/sdb");
    parse_bad("", NULL);
    parse_bad("://x", NULL);
    parse_bad("malloc:/m0", NULL);
    parse_bad("malloc:m0", NULL);
    parse_bad("1aio:///dev/sdb", NULL);
    parse_bad("a_b:///x", NULL);
    parse_bad("a b:///x", NULL);

    struct uri u;
    char err[64] = "";
    assert_int_equal(uri_parse(NULL, &u, err, sizeof(err)), -EINVAL);
    /* err may be NULL. */
    assert_int_equal(uri_parse("/dev/sdb", &u, NULL, 0), -EINVAL);
    assert_int_equal(uri_parse("nvmf://h:x/", &u, NULL, 0), -EINVAL);
    /* A tiny err buffer is truncated, not overrun. */
    char tiny[4] = "abc";
    assert_int_equal(uri_parse("/dev/sdb", &u, tiny, sizeof(tiny)), -EINVAL);
    assert_int_equal(strlen(tiny), 3);
}

static void test_has_scheme(void **state)
{
    (void)state;
    assert_true(uri_has_scheme("aio:///dev/sdb"));
    assert_true(uri_has_scheme("nvmf+tcp://h/x"));
    assert_true(uri_has_scheme("a.b-c://x"));
    assert_true(uri_has_scheme("M://"));
    assert_false(uri_has_scheme("/dev/sdb"));
    assert_false(uri_has_scheme("dev/sdb"));
    assert_false(uri_has_scheme(""));
    assert_false(uri_has_scheme("://x"));
    assert_false(uri_has_scheme("aio:/dev/sdb"));
    assert_false(uri_has_scheme("aio:dev"));
    assert_false(uri_has_scheme("1aio://x"));
    assert_false(uri_has_scheme("+aio://x"));
    assert_false(uri_has_scheme("a_io://x"));
    assert_false(uri_has_scheme("a io://x"));
    assert_false(uri_has_scheme("/path/with://inside"));
}

static void test_empty_authority_and_path(void **state)
{
    (void)state;
    struct uri u;
    parse_ok("malloc://", &u);
    assert_string_equal(u.scheme, "malloc");
    assert_string_equal(u.host, "");
    assert_string_equal(u.path, "");
    assert_int_equal(u.port, -1);
    uri_free(&u);

    parse_ok("malloc://?size_mb=1", &u);
    assert_string_equal(u.path, "");
    assert_string_equal(uri_param(&u, "size_mb"), "1");
    uri_free(&u);

    /* An empty parameter name is rejected. */
    parse_bad("malloc:///m?=1", "name");
}

/* The parser never reads or writes out of bounds; re-parse into a used struct is fine
 * after uri_free. */
static void test_reuse(void **state)
{
    (void)state;
    struct uri u;
    for (int i = 0; i < 3; i++) {
        parse_ok("nvmf://[::1]:4420/nqn?uuid=" UUID "&x=%41", &u);
        assert_string_equal(uri_param(&u, "x"), "A");
        uri_free(&u);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malloc_uri),
        cmocka_unit_test(test_aio),
        cmocka_unit_test(test_uring_percent),
        cmocka_unit_test(test_nvmf),
        cmocka_unit_test(test_bdev),
        cmocka_unit_test(test_scheme_lowercased),
        cmocka_unit_test(test_unknown_param),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_too_many_params),
        cmocka_unit_test(test_bad_port),
        cmocka_unit_test(test_bad_host),
        cmocka_unit_test(test_bad_escapes),
        cmocka_unit_test(test_whitespace_and_controls),
        cmocka_unit_test(test_missing_scheme),
        cmocka_unit_test(test_has_scheme),
        cmocka_unit_test(test_empty_authority_and_path),
        cmocka_unit_test(test_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
