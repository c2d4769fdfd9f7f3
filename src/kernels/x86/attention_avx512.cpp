// AVX-512 tile attention kernels: a score row of kAttnTileKeys = 16 keys is one register, so
// four query heads' four chains (16 accumulators) advance with each row of the key tile; values
// keep four heads' 64 output dimensions in registers across the keys; the online softmax between
// them takes a head's row in one register, and up to 16 heads' rows at once. The score and value
// kernels also read an fp16 / bf16 cache's tiles as stored, widening each row in the register
// that uses it.
#include "kernels/x86/attention_avx512.hpp"

#include <cmath>

#include "kernels/attention_tiles.hpp"
#include "kernels/x86/avx512_common.hpp"
#include "kernels/x86/exp_simd.hpp"

namespace capibara::kernels::avx512 {
namespace {

static_assert(kAttnTileKeys == 16, "one score row per 512-bit register");

// How the kernels read 16 elements of a tile as floats: an f32 tile, or the cache's own fp16 /
// bf16 tile widened in the register that uses it (exact, so every format gives the f32 tile's
// bits), which spares decoding the pass that widens each tile to memory and reads it back.
struct F32Elems {
  using Elem = float;
  static __m512 load(const float* p) { return _mm512_loadu_ps(p); }
  static __m512 load(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
};
struct F16Elems {
  using Elem = uint16_t;
  static __m512 load(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static __m512 load(const uint16_t* p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
  }
};
struct Bf16Elems {
  using Elem = uint16_t;
  static __m512 load(const uint16_t* p) {
    return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static __m512 load(const uint16_t* p, __mmask16 m) {
    return widen(_mm256_maskz_loadu_epi16(m, p));
  }
  static __m512 widen(__m256i x) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(x), 16));
  }
};

template <int kHeads, class Elems>
void scores_heads(const float* q, const typename Elems::Elem* kt, int64_t hd, float scale,
                  float* s) {
  __m512 acc[kHeads][4];
#pragma GCC unroll 4
  for (int h = 0; h < kHeads; ++h) {
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) acc[h][c] = _mm512_setzero_ps();
  }
  int64_t i = 0;
  for (; i + 4 <= hd; i += 4) {
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const __m512 k = Elems::load(kt + (i + c) * 16);
#pragma GCC unroll 4
      for (int h = 0; h < kHeads; ++h) {
        acc[h][c] = _mm512_fmadd_ps(_mm512_set1_ps(q[h * hd + i + c]), k, acc[h][c]);
      }
    }
  }
  // The last dimensions continue chains 0, 1, 2 (i is a multiple of four here). Every loop over
  // `acc` is unrolled and this one has no `break`: GCC 12 otherwise kept the accumulators in an
  // array on the stack, zeroed, stored and reloaded around the main loop (69 stack accesses of
  // 64 bytes in the 4-head kernel; removing the `break` alone left 67).
#pragma GCC unroll 3
  for (int c = 0; c < 3; ++c) {
    if (i + c < hd) {
      const __m512 k = Elems::load(kt + (i + c) * 16);
#pragma GCC unroll 4
      for (int h = 0; h < kHeads; ++h) {
        acc[h][c] = _mm512_fmadd_ps(_mm512_set1_ps(q[h * hd + i + c]), k, acc[h][c]);
      }
    }
  }
  const __m512 vscale = _mm512_set1_ps(scale);
#pragma GCC unroll 4
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
template <int kHeads, int kChunks, class Elems>
void values_block(const float* p, size_t p_stride, const typename Elems::Elem* v, int64_t n_keys,
                  int64_t hd, int64_t i, __mmask16 last, float* o) {
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
      vj[c] = Elems::load(v + j * hd + i + 16 * c, c + 1 == kChunks ? last : kAll);
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
template <int kChunks, class Elems>
void values_chunks(const float* p, size_t p_stride, int64_t n_q, const typename Elems::Elem* v,
                   int64_t n_keys, int64_t hd, int64_t i, __mmask16 last, float* o) {
  int64_t h = 0;
  for (; h + kValueHeads <= n_q; h += kValueHeads) {
    values_block<kValueHeads, kChunks, Elems>(p + h * p_stride, p_stride, v, n_keys, hd, i, last,
                                              o + h * hd);
  }
  for (; h + 2 <= n_q; h += 2) {
    values_block<2, kChunks, Elems>(p + h * p_stride, p_stride, v, n_keys, hd, i, last, o + h * hd);
  }
  if (h < n_q) {
    values_block<1, kChunks, Elems>(p + h * p_stride, p_stride, v, n_keys, hd, i, last, o + h * hd);
  }
}

template <class Elems>
void scores(const float* q, int64_t n_q, const typename Elems::Elem* kt, int64_t hd, float scale,
            float* s) {
  int64_t h = 0;
  for (; h + 4 <= n_q; h += 4) scores_heads<4, Elems>(q + h * hd, kt, hd, scale, s + h * 16);
  if (n_q - h == 3) scores_heads<3, Elems>(q + h * hd, kt, hd, scale, s + h * 16);
  if (n_q - h == 2) scores_heads<2, Elems>(q + h * hd, kt, hd, scale, s + h * 16);
  if (n_q - h == 1) scores_heads<1, Elems>(q + h * hd, kt, hd, scale, s + h * 16);
}

template <class Elems>
void values(const float* p, size_t p_stride, int64_t n_q, const typename Elems::Elem* v,
            int64_t n_keys, int64_t hd, float* o) {
  constexpr int64_t kSpan = 64;  // four chunks of 16 dimensions
  int64_t i = 0;
  for (; i + kSpan <= hd; i += kSpan)
    values_chunks<4, Elems>(p, p_stride, n_q, v, n_keys, hd, i, 0xFFFF, o);
  if (i == hd) return;
  const int64_t rest = hd - i;
  const auto last = static_cast<__mmask16>(rest % 16 == 0 ? 0xFFFF : (1u << (rest % 16)) - 1);
  switch ((rest + 15) / 16) {
    case 1:
      values_chunks<1, Elems>(p, p_stride, n_q, v, n_keys, hd, i, last, o);
      break;
    case 2:
      values_chunks<2, Elems>(p, p_stride, n_q, v, n_keys, hd, i, last, o);
      break;
    case 3:
      values_chunks<3, Elems>(p, p_stride, n_q, v, n_keys, hd, i, last, o);
      break;
    default:
      values_chunks<4, Elems>(p, p_stride, n_q, v, n_keys, hd, i, last, o);
      break;
  }
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

// o[i] *= c over one head's outputs.
void scale_head(float* oh, int64_t hd, float c) {
  const __m512 vc = _mm512_set1_ps(c);
  for (int64_t i = 0; i < hd; i += 16) {
    const auto mask = static_cast<__mmask16>(hd - i >= 16 ? 0xFFFF : (1u << (hd - i)) - 1);
    _mm512_mask_storeu_ps(oh + i, mask, _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, oh + i), vc));
  }
}

// kRows (8 or 16) rows of 16 lanes reduced with `op` at once, pairing lanes as `tree_sum` does
// (j and j + 8, then j + 4, j + 2, j + 1): rounds of two shuffles and one op for every two
// vectors, where one row alone takes four rounds of a shuffle and an op. Lane r of the result
// holds row r's total (lanes past kRows: unspecified). Eight rows take 16 shuffles and 8 ops
// against 31 and 15 for sixteen, and a GQA group is mostly 4 to 8 heads. Always inlined, with
// every loop unrolled, so that the rows stay in registers: as a function of its own GCC 12 passed
// them through the stack.
template <int kRows, class Op>
[[gnu::always_inline]] inline __m512 reduce_rows(const __m512 (&rows)[kRows], Op op) {
  static_assert(kRows == 8 || kRows == 16);
  // Each round halves the vectors and the lanes per row: 2 rows x 8 lanes, 4 x 4, 8 x 2, ...
  __m512 v1[kRows / 2], v2[kRows / 4], v3[kRows / 8];
#pragma GCC unroll 8
  for (int i = 0; i < kRows / 2; ++i) {
    v1[i] = op(_mm512_shuffle_f32x4(rows[2 * i], rows[2 * i + 1], 0x44),
               _mm512_shuffle_f32x4(rows[2 * i], rows[2 * i + 1], 0xEE));
  }
#pragma GCC unroll 4
  for (int i = 0; i < kRows / 4; ++i) {
    v2[i] = op(_mm512_shuffle_f32x4(v1[2 * i], v1[2 * i + 1], 0x88),
               _mm512_shuffle_f32x4(v1[2 * i], v1[2 * i + 1], 0xDD));
  }
  // v2[i]'s 128-bit lane k holds row 4i + k's four lanes.
#pragma GCC unroll 2
  for (int i = 0; i < kRows / 8; ++i) {
    v3[i] = op(_mm512_shuffle_ps(v2[2 * i], v2[2 * i + 1], 0x44),
               _mm512_shuffle_ps(v2[2 * i], v2[2 * i + 1], 0xEE));
  }
  if constexpr (kRows == 16) {
    const __m512 v4 =
        op(_mm512_shuffle_ps(v3[0], v3[1], 0x88), _mm512_shuffle_ps(v3[0], v3[1], 0xDD));
    // Lane 4q + k of v4 holds row 4k + q.
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_ps(order, v4);
  } else {
    // Lanes 4k, 4k + 1 of v3 hold row k's two lanes, 4k + 2, 4k + 3 row 4 + k's: each lane with
    // its odd neighbour, then rows to their lanes.
    const __m512 v4 = op(v3[0], _mm512_permute_ps(v3[0], 0xB1));
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_permutexvar_ps(order, v4);
  }
}

// Lane h of v (rarely: a head whose reference maximum moves).
float lane(__m512 v, int h) {
  return _mm512_cvtss_f32(_mm512_permutexvar_ps(_mm512_set1_epi32(h), v));
}

// One head's row in one register, as the reference does it.
void softmax_head(float* sh, __mmask16 window, float& run_max, float& run_sum, float* oh,
                  int64_t hd) {
  const __m512 x = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), window, sh);
  const float m = attn_next_max(run_max, _mm512_reduce_max_ps(x));
  const float c = attn_rescale(run_max, m);
  if (c != 1.0f) scale_head(oh, hd, c);
  const __m512 e = x86::exp16(_mm512_sub_ps(x, _mm512_set1_ps(m)));
  _mm512_mask_storeu_ps(sh, window, e);
  run_sum = std::fma(run_sum, c, tree_sum(e));
  run_max = m;
}

// The factors of the heads whose reference maximum moves (`moved`, rarely), their outputs
// rescaled. Out of line: its std::exp calls would otherwise make `softmax_heads` keep its rows on
// the stack (a call clobbers every vector register).
[[gnu::noinline]] __m512 rescale_moved(__mmask16 moved, __m512 m, const float* run_max, float* o,
                                       int64_t hd) {
  __m512 c = _mm512_set1_ps(1.0f);
  for (unsigned bits = moved; bits != 0; bits &= bits - 1) {
    const int h = __builtin_ctz(bits);
    const float c_h = attn_rescale(run_max[h], lane(m, h));
    if (c_h != 1.0f) scale_head(o + h * hd, hd, c_h);
    c = _mm512_mask_mov_ps(c, static_cast<__mmask16>(1u << h), _mm512_set1_ps(c_h));
  }
  return c;
}

// kRows rows of scores (lanes outside `window` and rows past n_heads read as -inf).
template <int kRows>
[[gnu::always_inline]] inline void load_rows(const float* s, int n_heads, __mmask16 window,
                                             __m512 (&rows)[kRows]) {
  const __m512 neg_inf = _mm512_set1_ps(-INFINITY);
#pragma GCC unroll 16
  for (int h = 0; h < kRows; ++h) {
    rows[h] = _mm512_mask_loadu_ps(neg_inf, h < n_heads ? window : __mmask16{0}, s + h * 16);
  }
}

// Up to kRows (8 or 16) heads (`n_heads`) at once: their maxima, reference maxima and sums as
// vectors, the rows' maxima and sums by `reduce_rows`. The arithmetic is the reference's, head by
// head: the same maxima, the same std::exp corrections (taken per head, rarely: see
// kAttnMaxSlack), the same polynomial for the weights and the same order of their sums.
//
// The block where some head's reference maximum moves (a segment's first, mostly) is the rare
// case: `softmax_heads` assumes none does and takes the weights against the old maxima while it
// finds the block's (the two are independent, so the rows' maxima leave the path from scores to
// weights), and hands the block to this function, with the moves and the new maxima, when one
// did.
template <int kRows>
[[gnu::noinline]] void softmax_heads_moved(float* s, int n_heads, __mmask16 window, float* run_max,
                                           float* run_sum, float* o, int64_t hd, __mmask16 moved,
                                           __m512 m) {
  const auto heads = static_cast<__mmask16>((1u << n_heads) - 1u);
  __m512 rows[kRows];
  const __m512 c = rescale_moved(moved, m, run_max, o, hd);
  // Loaded after the call, not kept across it. Rows past n_heads weigh nothing in the
  // sums (their maxima are -inf, and exp would give NaN).
  load_rows(s, n_heads, window, rows);
#pragma GCC unroll 16
  for (int h = 0; h < kRows; ++h) {
    if (h < n_heads) {
      const __m512 m_h = _mm512_permutexvar_ps(_mm512_set1_epi32(h), m);
      rows[h] = x86::exp16(_mm512_sub_ps(rows[h], m_h));
      _mm512_mask_storeu_ps(s + h * 16, window, rows[h]);
    } else {
      rows[h] = _mm512_setzero_ps();
    }
  }
  const __m512 sums = reduce_rows(rows, [](__m512 a, __m512 b) { return _mm512_add_ps(a, b); });
  const __m512 old_sum = _mm512_maskz_loadu_ps(heads, run_sum);
  _mm512_mask_storeu_ps(run_sum, heads, _mm512_fmadd_ps(old_sum, c, sums));
  _mm512_mask_storeu_ps(run_max, heads, m);
}

template <int kRows>
void softmax_heads(float* s, int n_heads, __mmask16 window, float* run_max, float* run_sum,
                   float* o, int64_t hd) {
  const __m512 neg_inf = _mm512_set1_ps(-INFINITY);
  const auto heads = static_cast<__mmask16>((1u << n_heads) - 1u);
  __m512 rows[kRows], weights[kRows];
  load_rows(s, n_heads, window, rows);
#pragma GCC unroll 16
  for (int h = 0; h < kRows; ++h) {
    weights[h] = h < n_heads ? x86::exp16(_mm512_sub_ps(rows[h], _mm512_set1_ps(run_max[h])))
                             : _mm512_setzero_ps();
  }
  const __m512 tile_max = reduce_rows(rows, [](__m512 a, __m512 b) { return _mm512_max_ps(a, b); });
  const __m512 old_max = _mm512_mask_loadu_ps(neg_inf, heads, run_max);
  // attn_next_max for every head: the block's maximum where it passes the old by the slack.
  const __mmask16 moved = _mm512_mask_cmp_ps_mask(
      heads, tile_max, _mm512_add_ps(old_max, _mm512_set1_ps(kAttnMaxSlack)), _CMP_GT_OQ);
  if (moved != 0) {
    softmax_heads_moved<kRows>(s, n_heads, window, run_max, run_sum, o, hd, moved,
                               _mm512_mask_blend_ps(moved, old_max, tile_max));
    return;
  }
  // Every maximum holds: the factors are 1, the outputs and maxima stay, and fma(sum, 1, x) is
  // sum + x.
#pragma GCC unroll 16
  for (int h = 0; h < kRows; ++h) {
    if (h < n_heads) _mm512_mask_storeu_ps(s + h * 16, window, weights[h]);
  }
  const __m512 sums = reduce_rows(weights, [](__m512 a, __m512 b) { return _mm512_add_ps(a, b); });
  _mm512_mask_storeu_ps(run_sum, heads, _mm512_add_ps(_mm512_maskz_loadu_ps(heads, run_sum), sums));
}

// Below this many heads a block's rows cost less one by one than `reduce_rows`' fixed rounds.
constexpr int64_t kMinBatchedHeads = 4;

}  // namespace

void attn_softmax(float* s, int64_t n_q, int64_t lo, int64_t n, float* run_max, float* run_sum,
                  float* o, int64_t hd) {
  // The lanes outside the window read as -inf, whose weight is 0, and are not written.
  const auto window = static_cast<__mmask16>(((1u << n) - 1u) << lo);
  int64_t h = 0;
  for (; h + 16 <= n_q; h += 16) {
    softmax_heads<16>(s + h * 16, 16, window, run_max + h, run_sum + h, o + h * hd, hd);
  }
  const auto rest = static_cast<int>(n_q - h);
  if (rest > 8) {
    softmax_heads<16>(s + h * 16, rest, window, run_max + h, run_sum + h, o + h * hd, hd);
    return;
  }
  if (rest >= kMinBatchedHeads) {
    softmax_heads<8>(s + h * 16, rest, window, run_max + h, run_sum + h, o + h * hd, hd);
    return;
  }
  for (; h < n_q; ++h) softmax_head(s + h * 16, window, run_max[h], run_sum[h], o + h * hd, hd);
}

void attn_scores(const float* q, int64_t n_q, const float* kt, int64_t hd, float scale, float* s) {
  scores<F32Elems>(q, n_q, kt, hd, scale, s);
}

void attn_values(const float* p, size_t p_stride, int64_t n_q, const float* v, int64_t n_keys,
                 int64_t hd, float* o) {
  values<F32Elems>(p, p_stride, n_q, v, n_keys, hd, o);
}

void attn_scores_f16(const float* q, int64_t n_q, const uint16_t* kt, int64_t hd, float scale,
                     float* s) {
  scores<F16Elems>(q, n_q, kt, hd, scale, s);
}

void attn_values_f16(const float* p, size_t p_stride, int64_t n_q, const uint16_t* v,
                     int64_t n_keys, int64_t hd, float* o) {
  values<F16Elems>(p, p_stride, n_q, v, n_keys, hd, o);
}

void attn_scores_bf16(const float* q, int64_t n_q, const uint16_t* kt, int64_t hd, float scale,
                      float* s) {
  scores<Bf16Elems>(q, n_q, kt, hd, scale, s);
}

void attn_values_bf16(const float* p, size_t p_stride, int64_t n_q, const uint16_t* v,
                      int64_t n_keys, int64_t hd, float* o) {
  values<Bf16Elems>(p, p_stride, n_q, v, n_keys, hd, o);
}

}  // namespace capibara::kernels::avx512
