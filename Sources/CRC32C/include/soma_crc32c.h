// CRC-32C (Castagnoli), as LevelDB and TensorFlow's checkpoints use it: the SSE4.2 or
// ARMv8 CRC instruction where the CPU has one, a slicing-by-8 table otherwise.
#ifndef SOMA_CRC32C_H
#define SOMA_CRC32C_H

#include <stddef.h>
#include <stdint.h>

// The CRC of `crc`'s data followed by `data[0..<count]` (crc32c::Extend; Value(d) = Extend(0, d)).
uint32_t soma_crc32c_extend(uint32_t crc, const uint8_t *data, size_t count);
// The same with the table, whatever the CPU: the reference, and for measuring.
uint32_t soma_crc32c_extend_portable(uint32_t crc, const uint8_t *data, size_t count);
// 1 when soma_crc32c_extend uses a CPU instruction.
int soma_crc32c_uses_hardware(void);

#endif
