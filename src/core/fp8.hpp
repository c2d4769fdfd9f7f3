// fp8 E4M3 (bias 7, no infinities, largest finite 448, 0x7F / 0xFF NaN) decoding, exact, usable
// from any translation unit without ISA flags: the reference of the kernel tables' `fp8_to_f32`
// and of the KV cache's fp8 tiles.
#pragma once

#include <bit>
#include <cstdint>
#include <limits>

namespace capibara {

inline float e4m3_to_f32(uint8_t x) {
  // Built from bits, not ldexp: the scalar table widens fp8 KV tiles through this, per element.
  const uint32_t exp = (x >> 3) & 0xFu;
  const uint32_t man = x & 0x7u;
  float v;
  if ((x & 0x7F) == 0x7F) {
    v = std::numeric_limits<float>::quiet_NaN();
  } else if (exp == 0) {
    v = static_cast<float>(man) * 0x1p-9f;  // subnormal: man / 8 * 2^-6
  } else {
    // 2^(exp - 7) (1 + man / 8): f32 exponent exp - 7, mantissa's top three bits man.
    v = std::bit_cast<float>((exp - 7 + 127) << 23 | man << 20);
  }
  return (x & 0x80) != 0 ? -v : v;
}

// The IEEE half with the E4M3 code's value, exactly: every E4M3 value is a normal half (2^-9 to
// 448, 3 mantissa bits), so a tile widened to halves never holds a subnormal one (which some
// CPUs' `vcvtph2ps` widen through a microcode assist). NaN codes give a quiet NaN half.
inline uint16_t e4m3_to_f16_bits(uint8_t x) {
  const auto sign = static_cast<uint16_t>((x & 0x80u) << 8);
  const uint32_t exp = (x >> 3) & 0xFu;
  const uint32_t man = x & 0x7u;
  if ((x & 0x7F) == 0x7F) return static_cast<uint16_t>(sign | 0x7E00u);
  if (exp == 0) {
    if (man == 0) return sign;
    // man 2^-9 = (1 + (man - 2^top) / 2^top) 2^(top - 9), top = man's highest set bit.
    const int top = std::bit_width(man) - 1;
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(top - 9 + 15) << 10 |
                                 (man - (1u << top)) << (10 - top));
  }
  // 2^(exp - 7) (1 + man / 8): half exponent field exp - 7 + 15, mantissa's top three bits man.
  return static_cast<uint16_t>(sign | (exp + 8) << 10 | man << 7);
}

}  // namespace capibara
