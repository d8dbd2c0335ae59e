/*
 * Unit tests for the pure parts of the host block-device module: the
 * availability rule and the /proc/self/mountinfo line parser.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "host/blk_device.h"

#define GPT_LINUX "0fc63daf-8483-4772-8e79-3d69d8477de4"
#define GPT_EFI "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"

/* A blank, unpartitioned SCSI disk: the reference "available" device that
 * each test perturbs in exactly one way. */
static struct blk_avail_input blank_disk(void)
{
    return (struct blk_avail_input){
        .size = 2048,
        .model = "QEMU HARDDISK",
        .major = 8,
    };
}

static struct blk_avail_input linux_partition(const char *scheme, const char *typeid)
{
    struct blk_avail_input in = blank_disk();
    in.major = 259;
    in.is_partition = true;
    in.part_scheme = scheme;
    in.part_typeid = typeid;
    return in;
}

/* ---- availability rule ---- */

static void test_avail_null_input(void **state)
{
    (void)state;
    assert_false(blk_device_is_available(NULL));
}

static void test_avail_blank_disk(void **state)
{
    (void)state;
    struct blk_avail_input in = blank_disk();
    assert_true(blk_device_is_available(&in));
    in.model = NULL; /* no model known at all is fine */
    assert_true(blk_device_is_available(&in));
    in.model = "";
    assert_true(blk_device_is_available(&in));
}

static void test_avail_size(void **state)
{
    (void)state;
    struct blk_avail_input in = blank_disk();
    in.size = 0;
    assert_false(blk_device_is_available(&in));
    in.size = 1;
    assert_true(blk_device_is_available(&in));
    in.size = UINT64_MAX;
    assert_true(blk_device_is_available(&in));
}

static void test_avail_mayastor_models(void **state)
{
    (void)state;
    const char *rejected[] = {"Mayastor NVMe controller", "Mayastor_NVMe_controller",
                              "Nexus_CAS_Driver", "mayastor", "NEXUS", "my Nexus disk"};
    for (size_t i = 0; i < sizeof(rejected) / sizeof(rejected[0]); i++) {
        struct blk_avail_input in = blank_disk();
        in.model = rejected[i];
        assert_false(blk_device_is_available(&in));
    }
    struct blk_avail_input in = blank_disk();
    in.model = "Samsung SSD 980 PRO";
    assert_true(blk_device_is_available(&in));
}

static void test_avail_majors(void **state)
{
    (void)state;
    const uint32_t ok[] = {7, 8, 43, 240, 241, 247, 252, 253, 254, 255, 259};
    const uint32_t bad[] = {0, 1, 2, 3, 9, 11, 65, 179, 239, 256, 258, 260, UINT32_MAX};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct blk_avail_input in = blank_disk();
        in.major = ok[i];
        assert_true(blk_device_is_available(&in));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct blk_avail_input in = blank_disk();
        in.major = bad[i];
        assert_false(blk_device_is_available(&in));
    }
}

static void test_avail_partitioned_disk(void **state)
{
    (void)state;
    struct blk_avail_input in = blank_disk();
    in.has_partitions = true;
    assert_false(blk_device_is_available(&in));
}

static void test_avail_gpt_partition(void **state)
{
    (void)state;
    struct blk_avail_input in = linux_partition("gpt", GPT_LINUX);
    assert_true(blk_device_is_available(&in));
    in.part_typeid = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"; /* case-insensitive */
    assert_true(blk_device_is_available(&in));
    in.part_typeid = GPT_EFI;
    assert_false(blk_device_is_available(&in));
    in.part_typeid = "0x83"; /* an MBR type under a GPT scheme is nonsense */
    assert_false(blk_device_is_available(&in));
    in.part_typeid = "0fc63daf-8483-4772-8e79-3d69d8477de"; /* truncated */
    assert_false(blk_device_is_available(&in));
}

static void test_avail_dos_partition(void **state)
{
    (void)state;
    struct blk_avail_input in = linux_partition("dos", "0x83");
    assert_true(blk_device_is_available(&in));
    in.part_typeid = "83";
    assert_true(blk_device_is_available(&in));
    in.part_typeid = "0X83";
    assert_true(blk_device_is_available(&in));
    const char *bad[] = {"0x82", "0x8e", "0x05", "0xfd", "0x830", "0x83 ", "-0x83", "",
                         GPT_LINUX};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        in.part_typeid = bad[i];
        assert_false(blk_device_is_available(&in));
    }
    in = linux_partition("mbr", "0x83");
    assert_true(blk_device_is_available(&in));
}

static void test_avail_partition_unknown_type(void **state)
{
    (void)state;
    struct blk_avail_input in = linux_partition("gpt", NULL);
    assert_false(blk_device_is_available(&in));
    in = linux_partition(NULL, NULL);
    assert_false(blk_device_is_available(&in));
    /* Unknown scheme, but the typeid spellings are unambiguous. */
    in = linux_partition(NULL, GPT_LINUX);
    assert_true(blk_device_is_available(&in));
    in = linux_partition("", "0x83");
    assert_true(blk_device_is_available(&in));
    in = linux_partition(NULL, GPT_EFI);
    assert_false(blk_device_is_available(&in));
    /* Other table formats are never offered. */
    in = linux_partition("bsd", "0x83");
    assert_false(blk_device_is_available(&in));
}

static void test_avail_partition_ignores_has_partitions(void **state)
{
    (void)state;
    /* has_partitions describes whole disks only. */
    struct blk_avail_input in = linux_partition("gpt", GPT_LINUX);
    in.has_partitions = true;
    assert_true(blk_device_is_available(&in));
}

static void test_avail_partition_other_rules(void **state)
{
    (void)state;
    struct blk_avail_input in = linux_partition("gpt", GPT_LINUX);
    in.size = 0;
    assert_false(blk_device_is_available(&in));
    in = linux_partition("gpt", GPT_LINUX);
    in.major = 9;
    assert_false(blk_device_is_available(&in));
    in = linux_partition("gpt", GPT_LINUX);
    in.model = "Mayastor NVMe controller";
    assert_false(blk_device_is_available(&in));
    in = linux_partition("gpt", GPT_LINUX);
    in.has_fs = true;
    assert_false(blk_device_is_available(&in));
    in = linux_partition("gpt", GPT_LINUX);
    in.mounted = true;
    assert_false(blk_device_is_available(&in));
}

static void test_avail_filesystem(void **state)
{
    (void)state;
    struct blk_avail_input in = blank_disk();
    in.has_fs = true;
    assert_false(blk_device_is_available(&in));
}

static void test_avail_mounted(void **state)
{
    (void)state;
    struct blk_avail_input in = blank_disk();
    in.mounted = true;
    assert_false(blk_device_is_available(&in));
}

/* ---- mountinfo parser ---- */

static void expect_mount(const char *line, uint32_t maj, uint32_t min, const char *mp)
{
    uint32_t major = 0, minor = 0;
    char *mountpoint = NULL;
    assert_int_equal(blk_parse_mountinfo_line(line, &major, &minor, &mountpoint), 0);
    assert_int_equal(major, maj);
    assert_int_equal(minor, min);
    assert_non_null(mountpoint);
    assert_string_equal(mountpoint, mp);
    free(mountpoint);
}

static void expect_invalid(const char *line)
{
    uint32_t major = 11, minor = 22;
    char *mountpoint = (char *)"untouched";
    assert_int_equal(blk_parse_mountinfo_line(line, &major, &minor, &mountpoint), -EINVAL);
    assert_int_equal(major, 11);
    assert_int_equal(minor, 22);
    assert_string_equal(mountpoint, "untouched");
}

static void test_mountinfo_basic(void **state)
{
    (void)state;
    expect_mount("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue",
                 98, 0, "/mnt2");
    expect_mount("29 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n", 8, 1, "/");
    expect_mount("44 27 259:0 / /tmp/pm rw,relatime - ext4 /dev/loop3p1 rw", 259, 0, "/tmp/pm");
}

static void test_mountinfo_optional_fields(void **state)
{
    (void)state;
    /* zero or several optional fields before the "-" separator */
    expect_mount("50 29 7:2 / /a rw - ext4 /dev/loop2 rw", 7, 2, "/a");
    expect_mount("50 29 7:2 / /a rw shared:5 master:3 propagate_from:2 unbindable - ext4 "
                 "/dev/loop2 rw",
                 7, 2, "/a");
}

static void test_mountinfo_large_numbers(void **state)
{
    (void)state;
    expect_mount("1 2 4095:1048575 / /x rw - xfs /dev/x rw", 4095, 1048575, "/x");
    expect_mount("1 2 4294967295:0 / /x rw - xfs /dev/x rw", UINT32_MAX, 0, "/x");
}

static void test_mountinfo_escapes(void **state)
{
    (void)state;
    expect_mount("60 29 7:2 / /tmp/mnt\\040a rw - ext4 /dev/loop2 rw", 7, 2, "/tmp/mnt a");
    expect_mount("60 29 7:2 / /t\\011b\\012c\\134d rw - ext4 /dev/loop2 rw", 7, 2,
                 "/t\tb\nc\\d");
    expect_mount("60 29 7:2 / /\\040\\040 rw - ext4 /dev/loop2 rw", 7, 2, "/  ");
    /* root field escapes do not leak into the mount point */
    expect_mount("60 29 7:2 /sub\\040dir /bind rw - ext4 /dev/loop2 rw", 7, 2, "/bind");
}

static void test_mountinfo_bad_escapes_kept(void **state)
{
    (void)state;
    /* Not a valid "\ooo" sequence: keep the text as is. */
    expect_mount("60 29 7:2 / /a\\09b rw - ext4 /dev/l rw", 7, 2, "/a\\09b");
    expect_mount("60 29 7:2 / /a\\04 rw - ext4 /dev/l rw", 7, 2, "/a\\04");
    expect_mount("60 29 7:2 / /a\\ rw - ext4 /dev/l rw", 7, 2, "/a\\");
    expect_mount("60 29 7:2 / /a\\000b rw - ext4 /dev/l rw", 7, 2, "/a\\000b"); /* no NUL */
    expect_mount("60 29 7:2 / /a\\400 rw - ext4 /dev/l rw", 7, 2, "/a\\400"); /* > 0xff */
    expect_mount("60 29 7:2 / /a\\1010 rw - ext4 /dev/l rw", 7, 2, "/aA0");
}

static void test_mountinfo_malformed(void **state)
{
    (void)state;
    expect_invalid(NULL);
    expect_invalid("");
    expect_invalid("\n");
    expect_invalid("36 35");
    expect_invalid("36 35 98:0 /mnt1");                    /* no mount point */
    expect_invalid("36 35 98:0 /mnt1 /mnt2 rw");           /* no separator */
    expect_invalid("36 35 98:0 /mnt1 /mnt2 rw -");         /* no fstype */
    expect_invalid("36 35 98:0 /mnt1 /mnt2 rw - ext4");    /* no source */
    expect_invalid("36 35 980 / /m rw - ext4 /dev/x rw");  /* no colon */
    expect_invalid("36 35 :0 / /m rw - ext4 /dev/x rw");   /* empty major */
    expect_invalid("36 35 8: / /m rw - ext4 /dev/x rw");   /* empty minor */
    expect_invalid("36 35 a:0 / /m rw - ext4 /dev/x rw");  /* not a number */
    expect_invalid("36 35 8:-1 / /m rw - ext4 /dev/x rw"); /* signed */
    expect_invalid("36 35 8:1:2 / /m rw - ext4 /dev/x rw");
    expect_invalid("36 35 4294967296:0 / /m rw - ext4 /dev/x rw"); /* overflow */
    expect_invalid("36 35 0:99999999999 / /m rw - ext4 /dev/x rw");
}

static void test_mountinfo_null_outputs(void **state)
{
    (void)state;
    const char *line = "1 2 8:1 / / rw - ext4 /dev/sda1 rw";
    uint32_t a, b;
    char *mp;
    assert_int_equal(blk_parse_mountinfo_line(line, NULL, &b, &mp), -EINVAL);
    assert_int_equal(blk_parse_mountinfo_line(line, &a, NULL, &mp), -EINVAL);
    assert_int_equal(blk_parse_mountinfo_line(line, &a, &b, NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_avail_null_input),
        cmocka_unit_test(test_avail_blank_disk),
        cmocka_unit_test(test_avail_size),
        cmocka_unit_test(test_avail_mayastor_models),
        cmocka_unit_test(test_avail_majors),
        cmocka_unit_test(test_avail_partitioned_disk),
        cmocka_unit_test(test_avail_gpt_partition),
        cmocka_unit_test(test_avail_dos_partition),
        cmocka_unit_test(test_avail_partition_unknown_type),
        cmocka_unit_test(test_avail_partition_ignores_has_partitions),
        cmocka_unit_test(test_avail_partition_other_rules),
        cmocka_unit_test(test_avail_filesystem),
        cmocka_unit_test(test_avail_mounted),
        cmocka_unit_test(test_mountinfo_basic),
        cmocka_unit_test(test_mountinfo_optional_fields),
        cmocka_unit_test(test_mountinfo_large_numbers),
        cmocka_unit_test(test_mountinfo_escapes),
        cmocka_unit_test(test_mountinfo_bad_escapes_kept),
        cmocka_unit_test(test_mountinfo_malformed),
        cmocka_unit_test(test_mountinfo_null_outputs),
    };
    return cmocka_run_group_tests_name("blk_device", tests, NULL, NULL);
}
