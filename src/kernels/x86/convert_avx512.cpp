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

}  // namespace capibara::kernels::avx512
