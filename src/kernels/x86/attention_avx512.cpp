// AVX-512 tile attention kernels: a score row of kAttnTileKeys = 16 keys is one register, so
// four query heads' four chains (16 accumulators) advance with each row of the key tile; values
// keep four heads' 64 output dimensions in registers across the keys; the online softmax between
// them takes a head's row in one register.
#include "kernels/x86/attention_avx512.hpp"

#include <algorithm>
#include <cmath>

#include "kernels/attention_tiles.hpp"
#include "kernels/x86/avx512_common.hpp"
#include "kernels/x86/exp_simd.hpp"

namespace capibara::kernels::avx512 {
namespace {

static_assert(kAttnTileKeys == 16, "one score row per 512-bit register");

template <int kHeads>
void scores_heads(const float* q, const float* kt, int64_t hd, float scale, float* s) {
  __m512 acc[kHeads][4];
  for (int h = 0; h < kHeads; ++h) {
    for (int c = 0; c < 4; ++c) acc[h][c] = _mm512_setzero_ps();
  }
  int64_t i = 0;
  for (; i + 4 <= hd; i += 4) {
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const __m512 k = _mm512_loadu_ps(kt + (i + c) * 16);
#pragma GCC unroll 4
      for (int h = 0; h < kHeads; ++h) {
        acc[h][c] = _mm512_fmadd_ps(_mm512_set1_ps(q[h * hd + i + c]), k, acc[h][c]);
      }
    }
  }
  // The last dimensions continue chains 0, 1, 2 (i is a multiple of four here).
#pragma GCC unroll 3
  for (int c = 0; c < 3; ++c) {
    if (i + c >= hd) break;
    const __m512 k = _mm512_loadu_ps(kt + (i + c) * 16);
    for (int h = 0; h < kHeads; ++h) {
      acc[h][c] = _mm512_fmadd_ps(_mm512_set1_ps(q[h * hd + i + c]), k, acc[h][c]);
    }
  }
  const __m512 vscale = _mm512_set1_ps(scale);
  for (int h = 0; h < kHeads; ++h) {
    const __m512 sum =
        _mm512_add_ps(_mm512_add_ps(acc[h][0], acc[h][1]), _mm512_add_ps(acc[h][2], acc[h][3]));
    _mm512_storeu_ps(s + h * 16, _mm512_mul_ps(sum, vscale));
  }
}

// Dimensions [i, i + 16 kChunks) of kHeads heads over every key: kHeads x kChunks accumulators,
// so that each key's kChunks value vectors serve every head and each head's weight, broadcast
// once, serves every chunk (loads per fma: (kChunks + kHeads) / (kHeads kChunks), against 9/8
// for eight heads of one chunk). `last` masks the dimensions of the last chunk. Each output
// element is still one fma chain over the keys in order, as in the reference.
template <int kHeads, int kChunks>
void values_block(const float* p, size_t p_stride, const float* v, int64_t n_keys, int64_t hd,
                  int64_t i, __mmask16 last, float* o) {
  constexpr __mmask16 kAll = 0xFFFF;
  __m512 acc[kHeads][kChunks];
#pragma GCC unroll 8
  for (int h = 0; h < kHeads; ++h) {
#pragma GCC unroll 4
    for (int c = 0; c < kChunks; ++c) {
      acc[h][c] = _mm512_maskz_loadu_ps(c + 1 == kChunks ? last : kAll, o + h * hd + i + 16 * c);
    }
  }
  for (int64_t j = 0; j < n_keys; ++j) {
    __m512 vj[kChunks];
#pragma GCC unroll 4
    for (int c = 0; c < kChunks; ++c) {
      vj[c] = _mm512_maskz_loadu_ps(c + 1 == kChunks ? last : kAll, v + j * hd + i + 16 * c);
    }
#pragma GCC unroll 8
    for (int h = 0; h < kHeads; ++h) {
      const __m512 ph = _mm512_set1_ps(p[static_cast<size_t>(h) * p_stride + j]);
#pragma GCC unroll 4
      for (int c = 0; c < kChunks; ++c) acc[h][c] = _mm512_fmadd_ps(ph, vj[c], acc[h][c]);
    }
  }
#pragma GCC unroll 8
  for (int h = 0; h < kHeads; ++h) {
#pragma GCC unroll 4
    for (int c = 0; c < kChunks; ++c) {
      _mm512_mask_storeu_ps(o + h * hd + i + 16 * c, c + 1 == kChunks ? last : kAll, acc[h][c]);
    }
  }
}

// Heads per `values_block`: 16 accumulators and the key's four value vectors leave registers to
// spare. `Ops/attention_tile:8x16x64/avx512` (scores, softmax and values of one block), medians of
// three: 259-267 ns against 287-300 for eight heads of one chunk; six heads read 268-272.
constexpr int kValueHeads = 4;

// Every head over dimensions [i, i + 16 kChunks).
template <int kChunks>
void values_chunks(const float* p, size_t p_stride, int64_t n_q, const float* v, int64_t n_keys,
                   int64_t hd, int64_t i, __mmask16 last, float* o) {
  int64_t h = 0;
  for (; h + kValueHeads <= n_q; h += kValueHeads) {
    values_block<kValueHeads, kChunks>(p + h * p_stride, p_stride, v, n_keys, hd, i, last,
                                       o + h * hd);
  }
  for (; h + 2 <= n_q; h += 2) {
    values_block<2, kChunks>(p + h * p_stride, p_stride, v, n_keys, hd, i, last, o + h * hd);
  }
  if (h < n_q)
    values_block<1, kChunks>(p + h * p_stride, p_stride, v, n_keys, hd, i, last, o + h * hd);
}

// The window's weights of one head summed as the reference does: lanes j and j + 8, then j + 4,
// j + 2, j + 1.
inline float tree_sum(__m512 e) {
  const __m256 t8 = _mm256_add_ps(_mm512_castps512_ps256(e),
                                  _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1)));
  const __m128 t4 = _mm_add_ps(_mm256_castps256_ps128(t8), _mm256_extractf128_ps(t8, 1));
  const __m128 t2 = _mm_add_ps(t4, _mm_movehl_ps(t4, t4));
  return _mm_cvtss_f32(_mm_add_ss(t2, _mm_movehdup_ps(t2)));
}

}  // namespace

void attn_softmax(float* s, int64_t n_q, int64_t lo, int64_t n, float* run_max, float* run_sum,
                  float* o, int64_t hd) {
  // A head's score row is one register; the lanes outside the window read as -inf, whose
  // weight is 0.
  const auto window = static_cast<__mmask16>(((1u << n) - 1u) << lo);
  const __m512 neg_inf = _mm512_set1_ps(-INFINITY);
  for (int64_t h = 0; h < n_q; ++h) {
    float* sh = s + h * 16;
    const __m512 x = _mm512_mask_loadu_ps(neg_inf, window, sh);
    const float m = std::max(run_max[h], _mm512_reduce_max_ps(x));
    const float c = m == run_max[h] ? 1.0f : std::exp(run_max[h] - m);
    if (c != 1.0f) {
      float* oh = o + h * hd;
      const __m512 vc = _mm512_set1_ps(c);
      for (int64_t i = 0; i < hd; i += 16) {
        const auto mask = static_cast<__mmask16>(hd - i >= 16 ? 0xFFFF : (1u << (hd - i)) - 1);
        _mm512_mask_storeu_ps(oh + i, mask, _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, oh + i), vc));
      }
    }
    const __m512 e = x86::exp16(_mm512_sub_ps(x, _mm512_set1_ps(m)));
    _mm512_mask_storeu_ps(sh, window, e);
    run_sum[h] = std::fma(run_sum[h], c, tree_sum(e));
    run_max[h] = m;
  }
}

void attn_scores(const float* q, int64_t n_q, const float* kt, int64_t hd, float scale, float* s) {
  int64_t h = 0;
  for (; h + 4 <= n_q; h += 4) scores_heads<4>(q + h * hd, kt, hd, scale, s + h * 16);
  if (n_q - h == 3) scores_heads<3>(q + h * hd, kt, hd, scale, s + h * 16);
  if (n_q - h == 2) scores_heads<2>(q + h * hd, kt, hd, scale, s + h * 16);
  if (n_q - h == 1) scores_heads<1>(q + h * hd, kt, hd, scale, s + h * 16);
}

void attn_values(const float* p, size_t p_stride, int64_t n_q, const float* v, int64_t n_keys,
                 int64_t hd, float* o) {
  constexpr int64_t kSpan = 64;  // four chunks of 16 dimensions
  int64_t i = 0;
  for (; i + kSpan <= hd; i += kSpan)
    values_chunks<4>(p, p_stride, n_q, v, n_keys, hd, i, 0xFFFF, o);
  if (i == hd) return;
  const int64_t rest = hd - i;
  const auto last = static_cast<__mmask16>(rest % 16 == 0 ? 0xFFFF : (1u << (rest % 16)) - 1);
  switch ((rest + 15) / 16) {
    case 1:
      values_chunks<1>(p, p_stride, n_q, v, n_keys, hd, i, last, o);
      break;
    case 2:
      values_chunks<2>(p, p_stride, n_q, v, n_keys, hd, i, last, o);
      break;
    case 3:
      values_chunks<3>(p, p_stride, n_q, v, n_keys, hd, i, last, o);
      break;
    default:
      values_chunks<4>(p, p_stride, n_q, v, n_keys, hd, i, last, o);
      break;
  }
}

}  // namespace capibara::kernels::avx512
