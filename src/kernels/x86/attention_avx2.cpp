// AVX2 tile attention kernels: half a score row (8 keys) per register, two query heads' four
// chains (8 accumulators) per pass over the key tile; values keep up to eight heads' 8 output
// dimensions in registers across the keys.
#include "kernels/x86/attention_avx2.hpp"

#include <immintrin.h>

#include "kernels/attention_tiles.hpp"

namespace capibara::kernels::avx2 {
namespace {

constexpr int64_t kL = kAttnTileKeys;
static_assert(kL == 16, "two 8-lane halves per score row");

// Lanes [lane, lane + 8) of kHeads heads' score rows.
template <int kHeads>
void scores_heads(const float* q, const float* kt, int64_t hd, float scale, int64_t lane,
                  float* s) {
  __m256 acc[kHeads][4];
  for (int h = 0; h < kHeads; ++h) {
    for (int c = 0; c < 4; ++c) acc[h][c] = _mm256_setzero_ps();
  }
  int64_t i = 0;
  for (; i + 4 <= hd; i += 4) {
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const __m256 k = _mm256_loadu_ps(kt + (i + c) * kL + lane);
      for (int h = 0; h < kHeads; ++h) {
        acc[h][c] = _mm256_fmadd_ps(_mm256_set1_ps(q[h * hd + i + c]), k, acc[h][c]);
      }
    }
  }
  // The last dimensions continue chains 0, 1, 2 (i is a multiple of four here).
  for (int c = 0; c < 3 && i + c < hd; ++c) {
    const __m256 k = _mm256_loadu_ps(kt + (i + c) * kL + lane);
    for (int h = 0; h < kHeads; ++h) {
      acc[h][c] = _mm256_fmadd_ps(_mm256_set1_ps(q[h * hd + i + c]), k, acc[h][c]);
    }
  }
  const __m256 vscale = _mm256_set1_ps(scale);
  for (int h = 0; h < kHeads; ++h) {
    const __m256 sum =
        _mm256_add_ps(_mm256_add_ps(acc[h][0], acc[h][1]), _mm256_add_ps(acc[h][2], acc[h][3]));
    _mm256_storeu_ps(s + h * kL + lane, _mm256_mul_ps(sum, vscale));
  }
}

// Dimensions [i, i + 8) of kHeads heads, over every key.
template <int kHeads>
void values_heads(const float* p, size_t p_stride, const float* v, int64_t n_keys, int64_t hd,
                  int64_t i, float* o) {
  __m256 acc[kHeads];
  for (int h = 0; h < kHeads; ++h) acc[h] = _mm256_loadu_ps(o + h * hd + i);
  for (int64_t j = 0; j < n_keys; ++j) {
    const __m256 vj = _mm256_loadu_ps(v + j * hd + i);
#pragma GCC unroll 8
    for (int h = 0; h < kHeads; ++h) {
      acc[h] =
          _mm256_fmadd_ps(_mm256_set1_ps(p[static_cast<size_t>(h) * p_stride + j]), vj, acc[h]);
    }
  }
  for (int h = 0; h < kHeads; ++h) _mm256_storeu_ps(o + h * hd + i, acc[h]);
}

}  // namespace

void attn_scores(const float* q, int64_t n_q, const float* kt, int64_t hd, float scale, float* s) {
  for (int64_t lane = 0; lane < kL; lane += 8) {
    int64_t h = 0;
    for (; h + 2 <= n_q; h += 2) scores_heads<2>(q + h * hd, kt, hd, scale, lane, s + h * kL);
    if (h < n_q) scores_heads<1>(q + h * hd, kt, hd, scale, lane, s + h * kL);
  }
}

void attn_values(const float* p, size_t p_stride, int64_t n_q, const float* v, int64_t n_keys,
                 int64_t hd, float* o) {
  int64_t i = 0;
  for (; i + 8 <= hd; i += 8) {
    int64_t h = 0;
    for (; h + 8 <= n_q; h += 8) {
      values_heads<8>(p + h * p_stride, p_stride, v, n_keys, hd, i, o + h * hd);
    }
    for (; h + 4 <= n_q; h += 4) {
      values_heads<4>(p + h * p_stride, p_stride, v, n_keys, hd, i, o + h * hd);
    }
    for (; h < n_q; ++h) values_heads<1>(p + h * p_stride, p_stride, v, n_keys, hd, i, o + h * hd);
  }
  // The last dimensions (none for the usual head sizes): the reference's fma per element.
  if (i < hd) scalar::attn_values_from(p, p_stride, n_q, v, n_keys, hd, i, o);
}

}  // namespace capibara::kernels::avx2
