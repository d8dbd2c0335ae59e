#include "core/crc32c.h"

#include <string.h>

uint32_t crc32c_update_sw(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t update_hw(uint32_t crc, const uint8_t *p,
                                                            size_t len)
{
    uint64_t c = crc;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}

bool crc32c_hw_available(void)
{
    static int cached = -1; /* benign race: every thread computes the same value */
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("sse4.2") ? 1 : 0;
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v == 1;
}

uint32_t crc32c_update(uint32_t crc, const void *buf, size_t len)
{
    if (crc32c_hw_available())
        return update_hw(crc, buf, len);
    return crc32c_update_sw(crc, buf, len);
}
#else
bool crc32c_hw_available(void) { return false; }
uint32_t crc32c_update(uint32_t crc, const void *buf, size_t len)
{
    return crc32c_update_sw(crc, buf, len);
}
#endif
