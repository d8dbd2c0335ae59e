/* Command Retry Delay index of a failed command (src/nvmf/crd.h, behaviour §6). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "nvmf/crd.h"

enum {
    OK = 0x000, INTERNAL = 0x006, ABORTED_SQ = 0x008, CONFLICT = 0x083, CAPACITY = 0x081,
    LBA_RANGE = 0x080, WRITE_FAULT = 0x280,
};

static void test_no_delay_without_acre_or_when_final(void **state)
{
    (void)state;
    const uint16_t all[] = {INTERNAL, ABORTED_SQ, CONFLICT, CAPACITY, LBA_RANGE, WRITE_FAULT};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        for (int k = 0; k < 2; k++) {
            /* the host did not enable Advanced Command Retry */
            assert_int_equal(nvmf_crd_index(false, k, all[i], false), 0);
            /* Do Not Retry: no delay to wait for */
            assert_int_equal(nvmf_crd_index(true, k, all[i], true), 0);
        }
    assert_int_equal(nvmf_crd_index(true, NVMF_SUBSYS_REPLICA, OK, false), 0);
    assert_int_equal(nvmf_crd_index(true, NVMF_SUBSYS_NEXUS, OK, false), 0);
}

static void test_replica_waits_longest(void **state)
{
    (void)state;
    const uint16_t all[] = {INTERNAL, ABORTED_SQ, CONFLICT, CAPACITY, WRITE_FAULT};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        assert_int_equal(nvmf_crd_index(true, NVMF_SUBSYS_REPLICA, all[i], false), 3);
}

static void test_nexus_conflict_and_capacity_use_the_second(void **state)
{
    (void)state;
    assert_int_equal(nvmf_crd_index(true, NVMF_SUBSYS_NEXUS, CONFLICT, false), 2);
    assert_int_equal(nvmf_crd_index(true, NVMF_SUBSYS_NEXUS, CAPACITY, false), 2);
    assert_int_equal(nvmf_crd_index(true, NVMF_SUBSYS_NEXUS, INTERNAL, false), 1);
    assert_int_equal(nvmf_crd_index(true, NVMF_SUBSYS_NEXUS, WRITE_FAULT, false), 1);
    assert_int_equal(nvmf_crd_index(true, NVMF_SUBSYS_NEXUS, ABORTED_SQ, false), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_delay_without_acre_or_when_final),
        cmocka_unit_test(test_replica_waits_longest),
        cmocka_unit_test(test_nexus_conflict_and_capacity_use_the_second),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
