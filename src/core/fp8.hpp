// fp8 E4M3 (bias 7, no infinities, largest finite 448, 0x7F / 0xFF NaN) decoding, exact, usable
// from any translation unit without ISA flags: the reference of the kernel tables' `fp8_to_f32`
// and of the KV cache's fp8 tiles.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

namespace capibara {

inline float e4m3_to_f32(uint8_t x) {
  const int exp = (x >> 3) & 0xF;
  const int man = x & 0x7;
  float v = exp == 0 ? std::ldexp(static_cast<float>(man), -9)
                     : std::ldexp(1.0f + static_cast<float>(man) / 8.0f, exp - 7);
  if ((x & 0x7F) == 0x7F) v = std::numeric_limits<float>::quiet_NaN();
  return (x & 0x80) != 0 ? -v : v;
}

}  // namespace capibara
