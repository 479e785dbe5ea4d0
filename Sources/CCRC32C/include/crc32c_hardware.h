#ifndef PYFLARE_CRC32C_HARDWARE_H
#define PYFLARE_CRC32C_HARDWARE_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has a CRC-32C instruction (x86-64 SSE4.2, AArch64 CRC), else 0.
int pyflare_crc32c_hardware_available(void);

/// Continues a CRC-32C over `length` bytes with the CPU's instruction; `crc` is the raw
/// register (neither pre- nor post-inverted). Only call it when available() says 1.
uint32_t pyflare_crc32c_hardware(uint32_t crc, const void *data, size_t length);

#endif
