// Sixteen halves per instruction and one 64-byte store, the tail masked. Attention widens every
// K / V tile it reads (kv_cache.hpp), a decoding step at depth 4096 some 4 MiB per layer. With the
// tiles in cache, the AVX2 loop's two conversions, extract and two stores per 16 values were a
// fifth of that step's time; with them coming from memory, the wait for them hides either loop
// (docs/PERFORMANCE.md, "Decoding attention deep in a context").
#include "kernels/x86/convert_avx512.hpp"

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
  // exponent: NaN.
  const __m512 k = _mm512_set1_ps(scale * 256.0f);
  const auto half_of = [](__m256i code) {
    const __m256i mag = _mm256_and_si256(code, _mm256_set1_epi16(0x7F));
    const __m256i sign = _mm256_slli_epi16(_mm256_and_si256(code, _mm256_set1_epi16(0x80)), 8);
    const __m256i nan = _mm256_and_si256(_mm256_cmpeq_epi16(mag, _mm256_set1_epi16(0x7F)),
                                         _mm256_set1_epi16(0x7C00));
    return _mm256_or_si256(_mm256_or_si256(_mm256_slli_epi16(mag, 7), sign), nan);
  };
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i code =
        _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
    _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_cvtph_ps(half_of(code)), k));
  }
  if (i < n) {
    const __mmask16 m = first_lanes(n - i);
    const __m256i code = _mm256_cvtepu8_epi16(_mm_maskz_loadu_epi8(m, x + i));
    _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_cvtph_ps(half_of(code)), k));
  }
}

}  // namespace capibara::kernels::avx512
