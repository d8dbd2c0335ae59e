/* The byte-exact worked example of docs/on-disk-format.md §11 (64 MiB device, 512-byte
 * blocks, pool1 with thin r1 and thick r2), as the hex dumps printed there: non-zero rows
 * "offset: bytes" of a 4 KiB page (rows not listed are zero). Generated from the
 * document's text. */
#pragma once
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char EX_SUPER_CLEAN_512[] =
    "0000: 53 50 44 4b 42 4c 4f 42 03 00 00 00 00 10 00 00\n"
    "0010: 01 00 00 00 00 00 00 00 01 00 00 00 00 00 40 00\n"
    "0020: 01 00 00 00 01 00 00 00 02 00 00 00 01 00 00 00\n"
    "0030: 04 00 00 00 10 00 00 00 4c 56 4f 4c 53 54 4f 52\n"
    "0040: 45 00 00 00 00 00 00 00 03 00 00 00 01 00 00 00\n"
    "0050: 00 00 00 04 00 00 00 00 00 02 00 00 00 00 00 00\n"
    "0ff0: 00 00 00 00 00 00 00 00 00 00 00 00 65 22 ff 33\n";

static const char EX_MD0_SUPER_BLOB[] =
    "0000: 00 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00\n"
    "0010: 03 18 00 00 00 04 00 00 00 00 00 00 00 00 00 00\n"
    "0020: 00 00 00 00 00 00 00 00 00 00 00 00 00 02 2d 00\n"
    "0030: 00 00 04 00 25 00 75 75 69 64 36 63 37 61 31 65\n"
    "0040: 32 66 2d 33 62 34 64 2d 34 65 35 66 2d 38 61 39\n"
    "0050: 62 2d 30 63 31 64 32 65 33 66 34 61 35 62 00 02\n"
    "0060: 0e 00 00 00 04 00 06 00 6e 61 6d 65 70 6f 6f 6c\n"
    "0070: 31 00 05 08 00 00 00 00 00 00 00 00 00 00 00 00\n"
    "0ff0: 00 00 00 00 00 00 00 00 ff ff ff ff 7a 43 04 08\n";

static const char EX_MD1_R1[] =
    "0000: 01 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00\n"
    "0010: 03 18 00 00 00 05 00 00 00 00 00 00 00 00 00 00\n"
    "0020: 00 00 00 00 00 02 00 00 00 00 00 00 00 02 48 00\n"
    "0030: 00 00 04 00 40 00 6e 61 6d 65 72 31 00 00 00 00\n"
    "0070: 00 00 00 00 00 00 00 00 00 00 02 2d 00 00 00 04\n"
    "0080: 00 25 00 75 75 69 64 31 31 31 31 31 31 31 31 2d\n"
    "0090: 32 32 32 32 2d 34 33 33 33 2d 38 34 34 34 2d 35\n"
    "00a0: 35 35 35 35 35 35 35 35 35 35 35 00 05 10 00 00\n"
    "00b0: 00 02 00 00 00 00 00 00 00 00 00 00 00 01 00 00\n"
    "0ff0: 00 00 00 00 00 00 00 00 ff ff ff ff 4e 2e 9b fd\n";

static const char EX_MD2_R2[] =
    "0000: 02 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00\n"
    "0010: 03 18 00 00 00 04 00 00 00 00 00 00 00 00 00 00\n"
    "0020: 00 00 00 00 00 02 00 00 00 00 00 00 00 02 48 00\n"
    "0030: 00 00 04 00 40 00 6e 61 6d 65 72 32 00 00 00 00\n"
    "0070: 00 00 00 00 00 00 00 00 00 00 02 2d 00 00 00 04\n"
    "0080: 00 25 00 75 75 69 64 61 61 61 61 61 61 61 61 2d\n"
    "0090: 62 62 62 62 2d 34 63 63 63 2d 38 64 64 64 2d 65\n"
    "00a0: 65 65 65 65 65 65 65 65 65 65 65 00 05 10 00 00\n"
    "00b0: 00 02 00 00 00 00 00 00 00 03 00 00 00 01 00 00\n"
    "0ff0: 00 00 00 00 00 00 00 00 ff ff ff ff 4a e7 cc c6\n";

static const char EX_MD3_R2_EP[] =
    "0000: 02 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00\n"
    "0010: 06 0c 00 00 00 00 00 00 00 01 00 00 00 02 00 00\n"
    "0ff0: 00 00 00 00 00 00 00 00 ff ff ff ff 3a d5 31 4e\n";

/* Masks of §11.3: the first 6 bytes of disk pages 1, 2, 3 (the rest is zero). */
static const uint8_t EX_MASK_MD[6] = {0x00, 0x10, 0x00, 0x00, 0x00, 0x0f};
static const uint8_t EX_MASK_CLUSTERS[6] = {0x01, 0x10, 0x00, 0x00, 0x00, 0x07};
static const uint8_t EX_MASK_BLOBIDS[6] = {0x02, 0x10, 0x00, 0x00, 0x00, 0x07};

/* Parses a hex dump into a zeroed 4 KiB page. */
static inline void ex_page(const char *text, uint8_t *page)
{
    memset(page, 0, 4096);
    const char *p = text;
    while (*p) {
        char *end;
        unsigned long off = strtoul(p, &end, 16);
        p = end + 1; /* ':' */
        while (*p == ' ') {
            page[off++] = (uint8_t)strtoul(p, &end, 16);
            p = end;
        }
        if (*p == '\n')
            p++;
    }
}

/* Identities of the example */
#define EX_POOL_UUID "6c7a1e2f-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
#define EX_R1_UUID "11111111-2222-4333-8444-555555555555"
#define EX_R2_UUID "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
#define EX_S1_UUID "cccccccc-dddd-4eee-8fff-000000000000"
#define EX_C1_UUID "dddddddd-eeee-4fff-8000-111111111111"
