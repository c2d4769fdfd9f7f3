// AVX-512 tile attention kernels: a score row of kAttnTileKeys = 16 keys is one register, so
// four query heads' four chains (16 accumulators) advance with each row of the key tile; values
// keep up to eight heads' 16 output dimensions in registers across the keys.
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

// Dimensions [i, i + 16) (`mask` of them present) of kHeads heads, over every key.
template <int kHeads>
void values_heads(const float* p, size_t p_stride, const float* v, int64_t n_keys, int64_t hd,
                  int64_t i, __mmask16 mask, float* o) {
  // Every loop over the heads is unrolled: with the first and last ones left rolled, GCC 12
  // made `acc` an array in memory and stored all of it after every key (eight 64-byte stores
  // per eight fmas), which held the kernel at half the speed of the score kernel.
  __m512 acc[kHeads];
#pragma GCC unroll 8
  for (int h = 0; h < kHeads; ++h) acc[h] = _mm512_maskz_loadu_ps(mask, o + h * hd + i);
  for (int64_t j = 0; j < n_keys; ++j) {
    const __m512 vj = _mm512_maskz_loadu_ps(mask, v + j * hd + i);
#pragma GCC unroll 8
    for (int h = 0; h < kHeads; ++h) {
      acc[h] =
          _mm512_fmadd_ps(_mm512_set1_ps(p[static_cast<size_t>(h) * p_stride + j]), vj, acc[h]);
    }
  }
#pragma GCC unroll 8
  for (int h = 0; h < kHeads; ++h) _mm512_mask_storeu_ps(o + h * hd + i, mask, acc[h]);
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
    run_sum[h] = run_sum[h] * c + tree_sum(e);
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
  for (int64_t i = 0; i < hd; i += 16) {
    const auto mask = static_cast<__mmask16>(hd - i >= 16 ? 0xFFFF : (1u << (hd - i)) - 1);
    int64_t h = 0;
    // Eight chains hide the fma latency; fewer heads run as one smaller group.
    for (; h + 8 <= n_q; h += 8) {
      values_heads<8>(p + h * p_stride, p_stride, v, n_keys, hd, i, mask, o + h * hd);
    }
    const int64_t rest = n_q - h;
    const float* ph = p + h * p_stride;
    float* oh = o + h * hd;
    if (rest >= 4) {
      values_heads<4>(ph, p_stride, v, n_keys, hd, i, mask, oh);
      ph += 4 * p_stride;
      oh += 4 * hd;
    }
    if ((rest & 3) >= 2) {
      values_heads<2>(ph, p_stride, v, n_keys, hd, i, mask, oh);
      ph += 2 * p_stride;
      oh += 2 * hd;
    }
    if ((rest & 1) != 0) values_heads<1>(ph, p_stride, v, n_keys, hd, i, mask, oh);
  }
}

}  // namespace capibara::kernels::avx512
