// What the AVX-512 packed kernels share: <immintrin.h> without GCC 12's false warnings, the
// broadcast operand of `vpdpbusd`, a register pin, and the split of a batch into passes
// (token_passes.hpp).
//
// Include only from translation units compiled with the AVX-512 flags (x86/*_avx512.cpp). The
// helpers have internal linkage (`static`), so no copy compiled with other flags can stand in
// for them at link time.
#pragma once

// GCC 12's AVX-512 headers fill the unused lanes of `_mm512_insert*` / `_mm512_extract*` /
// `_mm512_cvtepi32_ps` from `_mm512_undefined_*()` and then warn that they are uninitialized
// (GCC bug 105593, fixed in GCC 13); the warning points into the header, so it is silenced for it.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif

#include <cstdint>
#include <cstring>

#include "kernels/token_passes.hpp"

namespace capibara::kernels::avx512 {

// Four activation bytes in every 32-bit lane: the operand that makes one `vpdpbusd` advance the
// dot products of the sixteen rows of a packed group.
static inline __m512i broadcast_quads(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return _mm512_set1_epi32(v);
}

// Makes `sum` a value that an empty asm reads and rewrites here, so the adds before and after it
// stay one chain in one register (the 512-bit twin of `x86::keep_in_register`, which says why).
static inline void keep_in_register(__m512i& sum) { asm("" : "+v"(sum)); }

}  // namespace capibara::kernels::avx512
