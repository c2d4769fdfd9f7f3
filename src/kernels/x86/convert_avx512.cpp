// Sixteen halves per instruction and one 64-byte store, the tail masked. Attention widens every
// K / V tile it reads (kv_cache.hpp), a decoding step at depth 4096 some 4 MiB per layer. With the
// tiles in cache, the AVX2 loop's two conversions, extract and two stores per 16 values were a
// fifth of that step's time; with them coming from memory, the wait for them hides either loop
// (docs/PERFORMANCE.md, "Decoding attention deep in a context").
#include "kernels/x86/convert_avx512.hpp"

#include <algorithm>

#include "kernels/x86/avx512_common.hpp"

namespace capibara::kernels::avx512 {
namespace {

__mmask16 first_lanes(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }

}  // namespace

void fp16_to_f32(const uint16_t* x, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(out + i,
                     _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i))));
  }
  if (i < n) {
    const __mmask16 m = first_lanes(n - i);
    _mm512_mask_storeu_ps(out + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i)));
  }
}

void bf16_to_f32(const uint16_t* x, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i w =
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i)));
    _mm512_storeu_ps(out + i, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
  }
  if (i < n) {
    const __mmask16 m = first_lanes(n - i);
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, x + i));
    _mm512_mask_storeu_ps(out + i, m, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
  }
}

void fp8_to_f32(const uint8_t* x, float scale, float* out, int64_t n) {
  // An E4M3 code's bits moved into a half's (sign to bit 15, exponent and mantissa to bits 13-7)
  // make a half worth the code's value times 2^-8, subnormals included; times 2^8 scale that is
  // the value times scale, rounded once, as the reference. Codes 0x7F / 0xFF get a half's all-ones
  // exponent: NaN. 32 codes per step: the bit moves are 16-bit lane operations, so a 512-bit
  // register takes 32 (`Ops/widen_fp8:16x64` 63-69 -> 53-57 ns of CPU time against 16 per step).
  const __m512 k = _mm512_set1_ps(scale * 256.0f);
  const auto halves_of = [](__m512i code) {
    const __m512i mag = _mm512_and_si512(code, _mm512_set1_epi16(0x7F));
    const __m512i sign = _mm512_and_si512(_mm512_slli_epi16(code, 8), _mm512_set1_epi16(-0x8000));
    const __mmask32 nan = _mm512_cmpeq_epi16_mask(mag, _mm512_set1_epi16(0x7F));
    const __m512i h = _mm512_or_si512(_mm512_slli_epi16(mag, 7), sign);
    return _mm512_mask_mov_epi16(h, nan, _mm512_or_si512(h, _mm512_set1_epi16(0x7C00)));
  };
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512i h = halves_of(
        _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i))));
    _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(h)), k));
    _mm512_storeu_ps(out + i + 16,
                     _mm512_mul_ps(_mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1)), k));
  }
  for (; i < n; i += 16) {
    const __mmask16 m = first_lanes(std::min<int64_t>(n - i, 16));
    const __m512i h =
        halves_of(_mm512_cvtepu8_epi16(_mm256_castsi128_si256(_mm_maskz_loadu_epi8(m, x + i))));
    _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(h)), k));
  }
}

}  // namespace capibara::kernels::avx512
