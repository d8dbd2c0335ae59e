/* CRC-32C (Castagnoli), shared by the blobstore's metadata pages and the NVMe/TCP header
 * and data digests. Uses the SSE4.2 instruction when the CPU has it. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRC32C_INIT 0xFFFFFFFFu

/* Raw update of a running CRC (start with CRC32C_INIT, finish with crc32c_final), so a
 * digest can be computed over scattered buffers. */
uint32_t crc32c_update(uint32_t crc, const void *buf, size_t len);
static inline uint32_t crc32c_final(uint32_t crc) { return crc ^ 0xFFFFFFFFu; }
/* Standard CRC-32C of one buffer: "123456789" -> 0xE3069283. */
static inline uint32_t crc32c(const void *buf, size_t len)
{
    return crc32c_final(crc32c_update(CRC32C_INIT, buf, len));
}
/* The bitwise implementation (always available; for tests). */
uint32_t crc32c_update_sw(uint32_t crc, const void *buf, size_t len);
/* True if crc32c_update uses the CPU instruction. */
bool crc32c_hw_available(void);
