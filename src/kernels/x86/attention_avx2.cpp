// AVX2 tile attention kernels: half a score row (8 keys) per register, two query heads' four
// chains (8 accumulators) per pass over the key tile; values keep four heads' 16 output
// dimensions in registers across the keys; the online softmax takes a head's row in two, and
// up to 8 heads' rows at once. The score and value kernels also read an fp16 / bf16 cache's
// tiles as stored, widening each row in the register that uses it.
#include "kernels/x86/attention_avx2.hpp"

#include <immintrin.h>

#include <cmath>

#include "kernels/attention_tiles.hpp"
#include "kernels/x86/exp_simd.hpp"

namespace capibara::kernels::avx2 {
namespace {

constexpr int64_t kL = kAttnTileKeys;
static_assert(kL == 16, "two 8-lane halves per score row");

// How the kernels read 8 elements of a tile as floats: an f32 tile, or the cache's own fp16 /
// bf16 tile widened in the register that uses it (exact, so every format gives the f32 tile's
// bits), which spares decoding the pass that widens each tile to memory and reads it back.
struct F32Elems {
  using Elem = float;
  static __m256 load(const float* p) { return _mm256_loadu_ps(p); }
};
struct F16Elems {
  using Elem = uint16_t;
  static __m256 load(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
};
struct Bf16Elems {
  using Elem = uint16_t;
  static __m256 load(const uint16_t* p) {
    const __m256i x = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(x, 16));
  }
};

// Lanes [lane, lane + 8) of kHeads heads' score rows.
template <int kHeads, class Elems>
void scores_heads(const float* q, const typename Elems::Elem* kt, int64_t hd, float scale,
                  int64_t lane, float* s) {
  __m256 acc[kHeads][4];
  for (int h = 0; h < kHeads; ++h) {
    for (int c = 0; c < 4; ++c) acc[h][c] = _mm256_setzero_ps();
  }
  int64_t i = 0;
  for (; i + 4 <= hd; i += 4) {
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const __m256 k = Elems::load(kt + (i + c) * kL + lane);
      for (int h = 0; h < kHeads; ++h) {
        acc[h][c] = _mm256_fmadd_ps(_mm256_set1_ps(q[h * hd + i + c]), k, acc[h][c]);
      }
    }
  }
  // The last dimensions continue chains 0, 1, 2 (i is a multiple of four here).
  for (int c = 0; c < 3 && i + c < hd; ++c) {
    const __m256 k = Elems::load(kt + (i + c) * kL + lane);
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
template <int kHeads, int kChunks, class Elems>
void values_block(const float* p, size_t p_stride, const typename Elems::Elem* v, int64_t n_keys,
                  int64_t hd, int64_t i, float* o) {
  __m256 acc[kHeads][kChunks];
#pragma GCC unroll 8
  for (int h = 0; h < kHeads; ++h) {
#pragma GCC unroll 4
    for (int c = 0; c < kChunks; ++c) acc[h][c] = _mm256_loadu_ps(o + h * hd + i + 8 * c);
  }
  for (int64_t j = 0; j < n_keys; ++j) {
    __m256 vj[kChunks];
#pragma GCC unroll 4
    for (int c = 0; c < kChunks; ++c) vj[c] = Elems::load(v + j * hd + i + 8 * c);
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
template <int kChunks, class Elems>
void values_chunks(const float* p, size_t p_stride, int64_t n_q, const typename Elems::Elem* v,
                   int64_t n_keys, int64_t hd, int64_t i, float* o) {
  int64_t h = 0;
  for (; h + kValueHeads <= n_q; h += kValueHeads) {
    values_block<kValueHeads, kChunks, Elems>(p + h * p_stride, p_stride, v, n_keys, hd, i,
                                              o + h * hd);
  }
  for (; h + 2 <= n_q; h += 2) {
    values_block<2, kChunks, Elems>(p + h * p_stride, p_stride, v, n_keys, hd, i, o + h * hd);
  }
  for (; h < n_q; ++h) {
    values_block<1, kChunks, Elems>(p + h * p_stride, p_stride, v, n_keys, hd, i, o + h * hd);
  }
}

template <class Elems>
void scores(const float* q, int64_t n_q, const typename Elems::Elem* kt, int64_t hd, float scale,
            float* s) {
  for (int64_t lane = 0; lane < kL; lane += 8) {
    int64_t h = 0;
    for (; h + 2 <= n_q; h += 2) {
      scores_heads<2, Elems>(q + h * hd, kt, hd, scale, lane, s + h * kL);
    }
    if (h < n_q) scores_heads<1, Elems>(q + h * hd, kt, hd, scale, lane, s + h * kL);
  }
}

// Every dimension but the last hd % 8, which `tail` (the reference's fma per element) takes:
// none for the usual head sizes.
template <class Elems, class Tail>
void values(const float* p, size_t p_stride, int64_t n_q, const typename Elems::Elem* v,
            int64_t n_keys, int64_t hd, float* o, Tail tail) {
  int64_t i = 0;
  for (; i + 8 * kValueChunks <= hd; i += 8 * kValueChunks) {
    values_chunks<kValueChunks, Elems>(p, p_stride, n_q, v, n_keys, hd, i, o);
  }
  for (; i + 8 <= hd; i += 8) values_chunks<1, Elems>(p, p_stride, n_q, v, n_keys, hd, i, o);
  if (i < hd) tail(p, p_stride, n_q, v, n_keys, hd, i, o);
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

// The window's lanes of a score row: lo <= lane < lo + n, for lanes 0-7 and 8-15.
struct Window {
  __m256 in_lo, in_hi;
};

Window window_lanes(int64_t lo, int64_t n) {
  const __m256i lane_lo = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i lane_hi = _mm256_add_epi32(lane_lo, _mm256_set1_epi32(8));
  const __m256i first = _mm256_set1_epi32(static_cast<int>(lo) - 1);
  const __m256i end = _mm256_set1_epi32(static_cast<int>(lo + n));
  auto inside = [&](__m256i lane) {
    return _mm256_castsi256_ps(
        _mm256_and_si256(_mm256_cmpgt_epi32(lane, first), _mm256_cmpgt_epi32(end, lane)));
  };
  return Window{inside(lane_lo), inside(lane_hi)};
}

// o[i] *= c over one head's outputs.
void scale_head(float* oh, int64_t hd, float c) {
  const __m256 vc = _mm256_set1_ps(c);
  int64_t i = 0;
  for (; i + 8 <= hd; i += 8) _mm256_storeu_ps(oh + i, _mm256_mul_ps(_mm256_loadu_ps(oh + i), vc));
  for (; i < hd; ++i) oh[i] *= c;
}

// One head's row in two registers, as the reference does it.
void softmax_head(float* sh, const Window& w, float& run_max, float& run_sum, float* oh,
                  int64_t hd) {
  const __m256 neg_inf = _mm256_set1_ps(-INFINITY);
  const __m256 s_lo = _mm256_loadu_ps(sh);
  const __m256 s_hi = _mm256_loadu_ps(sh + 8);
  const __m256 x_lo = _mm256_blendv_ps(neg_inf, s_lo, w.in_lo);
  const __m256 x_hi = _mm256_blendv_ps(neg_inf, s_hi, w.in_hi);
  const float m = attn_next_max(run_max, max16(x_lo, x_hi));
  const float c = attn_rescale(run_max, m);
  if (c != 1.0f) scale_head(oh, hd, c);
  const __m256 vm = _mm256_set1_ps(m);
  const __m256 e_lo = x86::exp8(_mm256_sub_ps(x_lo, vm));
  const __m256 e_hi = x86::exp8(_mm256_sub_ps(x_hi, vm));
  _mm256_storeu_ps(sh, _mm256_blendv_ps(s_lo, e_lo, w.in_lo));
  _mm256_storeu_ps(sh + 8, _mm256_blendv_ps(s_hi, e_hi, w.in_hi));
  run_sum = std::fma(run_sum, c, tree_sum(e_lo, e_hi));
  run_max = m;
}

// Eight rows (each the op of its two halves, so lanes j and j + 8 already paired) reduced with
// `op` at once, pairing lanes j and j + 4, then j + 2, j + 1 as `tree_sum` does: three rounds of
// two shuffles and one op for all rows. Lane r of the result holds row r's total.
template <class Op>
__m256 reduce_rows(const __m256 (&rows)[8], Op op) {
  __m256 u[4], v[2];
  for (int i = 0; i < 4; ++i) {  // 2 rows x 4 lanes per vector
    u[i] = op(_mm256_permute2f128_ps(rows[2 * i], rows[2 * i + 1], 0x20),
              _mm256_permute2f128_ps(rows[2 * i], rows[2 * i + 1], 0x31));
  }
  for (int i = 0; i < 2; ++i) {  // 4 rows x 2 lanes
    v[i] = op(_mm256_shuffle_ps(u[2 * i], u[2 * i + 1], 0x44),
              _mm256_shuffle_ps(u[2 * i], u[2 * i + 1], 0xEE));
  }
  const __m256 t = op(_mm256_shuffle_ps(v[0], v[1], 0x88), _mm256_shuffle_ps(v[0], v[1], 0xDD));
  // t holds rows 0, 2, 4, 6, 1, 3, 5, 7.
  return _mm256_permutevar8x32_ps(t, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// Up to 8 heads (`n_heads`) at once: their maxima, reference maxima and sums as vectors, the
// rows' maxima and sums by `reduce_rows`; the arithmetic is the reference's, head by head (see
// the AVX-512 kernel).
void softmax_heads(float* s, int n_heads, const Window& w, float* run_max, float* run_sum, float* o,
                   int64_t hd) {
  const __m256 neg_inf = _mm256_set1_ps(-INFINITY);
  const auto max_op = [](__m256 a, __m256 b) { return _mm256_max_ps(a, b); };
  const auto add_op = [](__m256 a, __m256 b) { return _mm256_add_ps(a, b); };
  const __m256i heads =
      _mm256_cmpgt_epi32(_mm256_set1_epi32(n_heads), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  __m256 x_lo[8], x_hi[8], rows[8];
  for (int h = 0; h < 8; ++h) {
    x_lo[h] =
        h < n_heads ? _mm256_blendv_ps(neg_inf, _mm256_loadu_ps(s + h * kL), w.in_lo) : neg_inf;
    x_hi[h] =
        h < n_heads ? _mm256_blendv_ps(neg_inf, _mm256_loadu_ps(s + h * kL + 8), w.in_hi) : neg_inf;
    rows[h] = _mm256_max_ps(x_lo[h], x_hi[h]);
  }
  const __m256 tile_max = reduce_rows(rows, max_op);
  const __m256 old_max =
      _mm256_blendv_ps(neg_inf, _mm256_maskload_ps(run_max, heads), _mm256_castsi256_ps(heads));
  // attn_next_max for every head: the block's maximum where it passes the old by the slack.
  const __m256 moved = _mm256_and_ps(
      _mm256_cmp_ps(tile_max, _mm256_add_ps(old_max, _mm256_set1_ps(kAttnMaxSlack)), _CMP_GT_OQ),
      _mm256_castsi256_ps(heads));
  const __m256 m = _mm256_blendv_ps(old_max, tile_max, moved);
  alignas(32) float c[8] = {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f};
  for (auto bits = static_cast<unsigned>(_mm256_movemask_ps(moved)); bits != 0; bits &= bits - 1) {
    const int h = __builtin_ctz(bits);
    const float m_h = _mm256_cvtss_f32(_mm256_permutevar8x32_ps(m, _mm256_set1_epi32(h)));
    c[h] = attn_rescale(run_max[h], m_h);
    if (c[h] != 1.0f) scale_head(o + h * hd, hd, c[h]);
  }
  for (int h = 0; h < n_heads; ++h) {
    float* sh = s + h * kL;
    const __m256 m_h = _mm256_permutevar8x32_ps(m, _mm256_set1_epi32(h));
    const __m256 e_lo = x86::exp8(_mm256_sub_ps(x_lo[h], m_h));
    const __m256 e_hi = x86::exp8(_mm256_sub_ps(x_hi[h], m_h));
    _mm256_storeu_ps(sh, _mm256_blendv_ps(_mm256_loadu_ps(sh), e_lo, w.in_lo));
    _mm256_storeu_ps(sh + 8, _mm256_blendv_ps(_mm256_loadu_ps(sh + 8), e_hi, w.in_hi));
    rows[h] = _mm256_add_ps(e_lo, e_hi);
  }
  for (int h = n_heads; h < 8; ++h) rows[h] = _mm256_setzero_ps();
  const __m256 sums = reduce_rows(rows, add_op);
  const __m256 old_sum = _mm256_maskload_ps(run_sum, heads);
  _mm256_maskstore_ps(run_sum, heads, _mm256_fmadd_ps(old_sum, _mm256_load_ps(c), sums));
  _mm256_maskstore_ps(run_max, heads, m);
}

// Below this many heads a block's rows cost less one by one than `reduce_rows`' fixed rounds.
constexpr int64_t kMinBatchedHeads = 4;

}  // namespace

void attn_softmax(float* s, int64_t n_q, int64_t lo, int64_t n, float* run_max, float* run_sum,
                  float* o, int64_t hd) {
  // The lanes outside the window read as -inf, whose weight is 0, and are written back unchanged.
  const Window w = window_lanes(lo, n);
  int64_t h = 0;
  for (; h + 8 <= n_q; h += 8) {
    softmax_heads(s + h * kL, 8, w, run_max + h, run_sum + h, o + h * hd, hd);
  }
  if (n_q - h >= kMinBatchedHeads) {
    softmax_heads(s + h * kL, static_cast<int>(n_q - h), w, run_max + h, run_sum + h, o + h * hd,
                  hd);
    return;
  }
  for (; h < n_q; ++h) softmax_head(s + h * kL, w, run_max[h], run_sum[h], o + h * hd, hd);
}

void attn_scores(const float* q, int64_t n_q, const float* kt, int64_t hd, float scale, float* s) {
  scores<F32Elems>(q, n_q, kt, hd, scale, s);
}

void attn_values(const float* p, size_t p_stride, int64_t n_q, const float* v, int64_t n_keys,
                 int64_t hd, float* o) {
  values<F32Elems>(p, p_stride, n_q, v, n_keys, hd, o, scalar::attn_values_from);
}

void attn_scores_f16(const float* q, int64_t n_q, const uint16_t* kt, int64_t hd, float scale,
                     float* s) {
  scores<F16Elems>(q, n_q, kt, hd, scale, s);
}

void attn_values_f16(const float* p, size_t p_stride, int64_t n_q, const uint16_t* v,
                     int64_t n_keys, int64_t hd, float* o) {
  values<F16Elems>(p, p_stride, n_q, v, n_keys, hd, o, scalar::attn_values_f16_from);
}

void attn_scores_bf16(const float* q, int64_t n_q, const uint16_t* kt, int64_t hd, float scale,
                      float* s) {
  scores<Bf16Elems>(q, n_q, kt, hd, scale, s);
}

void attn_values_bf16(const float* p, size_t p_stride, int64_t n_q, const uint16_t* v,
                      int64_t n_keys, int64_t hd, float* o) {
  values<Bf16Elems>(p, p_stride, n_q, v, n_keys, hd, o, scalar::attn_values_bf16_from);
}

}  // namespace capibara::kernels::avx2
