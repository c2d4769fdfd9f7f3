// AVX2 tile attention kernels: half a score row (8 keys) per register, two query heads' four
// chains (8 accumulators) per pass over the key tile; values keep four heads' 16 output
// dimensions in registers across the keys; the online softmax takes a head's row in two.
#include "kernels/x86/attention_avx2.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/attention_tiles.hpp"
#include "kernels/x86/exp_simd.hpp"

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

// Dimensions [i, i + 8 kChunks) of kHeads heads over every key: kHeads x kChunks accumulators,
// so that each key's value vectors serve every head and each head's weight, broadcast once,
// serves every chunk (loads per fma: (kChunks + kHeads) / (kHeads kChunks)). Each output element
// is still one fma chain over the keys in order, as in the reference.
template <int kHeads, int kChunks>
void values_block(const float* p, size_t p_stride, const float* v, int64_t n_keys, int64_t hd,
                  int64_t i, float* o) {
  __m256 acc[kHeads][kChunks];
#pragma GCC unroll 8
  for (int h = 0; h < kHeads; ++h) {
#pragma GCC unroll 4
    for (int c = 0; c < kChunks; ++c) acc[h][c] = _mm256_loadu_ps(o + h * hd + i + 8 * c);
  }
  for (int64_t j = 0; j < n_keys; ++j) {
    __m256 vj[kChunks];
#pragma GCC unroll 4
    for (int c = 0; c < kChunks; ++c) vj[c] = _mm256_loadu_ps(v + j * hd + i + 8 * c);
#pragma GCC unroll 8
    for (int h = 0; h < kHeads; ++h) {
      const __m256 ph = _mm256_set1_ps(p[static_cast<size_t>(h) * p_stride + j]);
#pragma GCC unroll 4
      for (int c = 0; c < kChunks; ++c) acc[h][c] = _mm256_fmadd_ps(ph, vj[c], acc[h][c]);
    }
  }
#pragma GCC unroll 8
  for (int h = 0; h < kHeads; ++h) {
#pragma GCC unroll 4
    for (int c = 0; c < kChunks; ++c) _mm256_storeu_ps(o + h * hd + i + 8 * c, acc[h][c]);
  }
}

// Four heads of two chunks (eight accumulators): `Ops/attention_tile:8x16x64/avx2` (scores,
// softmax and values of one block), medians of three: 544-576 ns against 593-601 for eight heads
// of one chunk; two heads of four chunks 656-657, six of two 620-639, four of one 624-633.
constexpr int kValueHeads = 4;
constexpr int kValueChunks = 2;

// Every head over dimensions [i, i + 8 kChunks).
template <int kChunks>
void values_chunks(const float* p, size_t p_stride, int64_t n_q, const float* v, int64_t n_keys,
                   int64_t hd, int64_t i, float* o) {
  int64_t h = 0;
  for (; h + kValueHeads <= n_q; h += kValueHeads) {
    values_block<kValueHeads, kChunks>(p + h * p_stride, p_stride, v, n_keys, hd, i, o + h * hd);
  }
  for (; h + 2 <= n_q; h += 2) {
    values_block<2, kChunks>(p + h * p_stride, p_stride, v, n_keys, hd, i, o + h * hd);
  }
  for (; h < n_q; ++h)
    values_block<1, kChunks>(p + h * p_stride, p_stride, v, n_keys, hd, i, o + h * hd);
}

// The largest of sixteen lanes (order does not matter: max is exact).
inline float max16(__m256 a, __m256 b) {
  const __m256 m8 = _mm256_max_ps(a, b);
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

// The window's weights of one head (lanes 0-7 in `a`, 8-15 in `b`) summed as the reference does:
// lanes j and j + 8, then j + 4, j + 2, j + 1.
inline float tree_sum(__m256 a, __m256 b) {
  const __m256 t8 = _mm256_add_ps(a, b);
  const __m128 t4 = _mm_add_ps(_mm256_castps256_ps128(t8), _mm256_extractf128_ps(t8, 1));
  const __m128 t2 = _mm_add_ps(t4, _mm_movehl_ps(t4, t4));
  return _mm_cvtss_f32(_mm_add_ss(t2, _mm_movehdup_ps(t2)));
}

}  // namespace

void attn_softmax(float* s, int64_t n_q, int64_t lo, int64_t n, float* run_max, float* run_sum,
                  float* o, int64_t hd) {
  // A head's score row is two registers; the lanes outside the window read as -inf, whose weight
  // is 0, and are written back unchanged.
  const __m256i lane_lo = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i lane_hi = _mm256_add_epi32(lane_lo, _mm256_set1_epi32(8));
  const __m256i first = _mm256_set1_epi32(static_cast<int>(lo) - 1);
  const __m256i end = _mm256_set1_epi32(static_cast<int>(lo + n));
  // lo <= lane < lo + n
  const __m256 in_lo = _mm256_castsi256_ps(
      _mm256_and_si256(_mm256_cmpgt_epi32(lane_lo, first), _mm256_cmpgt_epi32(end, lane_lo)));
  const __m256 in_hi = _mm256_castsi256_ps(
      _mm256_and_si256(_mm256_cmpgt_epi32(lane_hi, first), _mm256_cmpgt_epi32(end, lane_hi)));
  const __m256 neg_inf = _mm256_set1_ps(-INFINITY);
  for (int64_t h = 0; h < n_q; ++h) {
    float* sh = s + h * kL;
    const __m256 s_lo = _mm256_loadu_ps(sh);
    const __m256 s_hi = _mm256_loadu_ps(sh + 8);
    const __m256 x_lo = _mm256_blendv_ps(neg_inf, s_lo, in_lo);
    const __m256 x_hi = _mm256_blendv_ps(neg_inf, s_hi, in_hi);
    const float m = std::max(run_max[h], max16(x_lo, x_hi));
    const float c = m == run_max[h] ? 1.0f : std::exp(run_max[h] - m);
    if (c != 1.0f) {
      float* oh = o + h * hd;
      const __m256 vc = _mm256_set1_ps(c);
      int64_t i = 0;
      for (; i + 8 <= hd; i += 8)
        _mm256_storeu_ps(oh + i, _mm256_mul_ps(_mm256_loadu_ps(oh + i), vc));
      for (; i < hd; ++i) oh[i] *= c;
    }
    const __m256 vm = _mm256_set1_ps(m);
    const __m256 e_lo = x86::exp8(_mm256_sub_ps(x_lo, vm));
    const __m256 e_hi = x86::exp8(_mm256_sub_ps(x_hi, vm));
    _mm256_storeu_ps(sh, _mm256_blendv_ps(s_lo, e_lo, in_lo));
    _mm256_storeu_ps(sh + 8, _mm256_blendv_ps(s_hi, e_hi, in_hi));
    run_sum[h] = std::fma(run_sum[h], c, tree_sum(e_lo, e_hi));
    run_max[h] = m;
  }
}

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
  for (; i + 8 * kValueChunks <= hd; i += 8 * kValueChunks) {
    values_chunks<kValueChunks>(p, p_stride, n_q, v, n_keys, hd, i, o);
  }
  for (; i + 8 <= hd; i += 8) values_chunks<1>(p, p_stride, n_q, v, n_keys, hd, i, o);
  // The last dimensions (none for the usual head sizes): the reference's fma per element.
  if (i < hd) scalar::attn_values_from(p, p_stride, n_q, v, n_keys, hd, i, o);
}

}  // namespace capibara::kernels::avx2
