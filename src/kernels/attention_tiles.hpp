// The tile kernels of attention (model/attention.cpp): the scores of the query heads that share a
// KV head against one KV block's keys, and the values those scores weigh.
//
// Why a transposed key tile: with the keys as columns (`kt`: [hd, kAttnTileKeys]) one vector
// register holds a dimension of all the block's keys, so the scores of a query head are a chain
// of broadcast-fmas with no horizontal sum, and the query heads of a GQA group share every load
// of the tile. The values keep their rows: `o += p[j] v_j` is already a vertical fma.
//
// Arithmetic, which every ISA's kernel reproduces bit for bit (the tests compare with the
// scalar reference below):
//   scores: for head h and key lane j, four chains c = 0..3 over the dimensions i = c, c + 4, ...
//     acc_c = fma(q[h][i], kt[i][j], acc_c) from 0, then s[h][j] = ((acc_0 + acc_1) +
//     (acc_2 + acc_3)) * scale. Four chains keep the fma latency hidden even for one head.
//   values: for head h, keys j = 0, 1, ... in order, o[h][i] = fma(p[h][j], v[j][i], o[h][i]).
// The online softmax between them (`attn_softmax`) takes exp, whose vector versions are a
// polynomial within ~2e-7 relative of `std::exp` (as the table's `exp`), so it matches its
// reference within a few ulps, not bit for bit; its reference maxima follow `attn_next_max`
// exactly, and its sums add the lanes in one order that every ISA's kernel follows (lanes j and
// j + 8, then j + 4, j + 2, j + 1).
// A query head's results depend only on its own query, the keys and its weights: not on how
// many heads or queries share the tile.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace capibara::kernels {

// Keys per tile: the lanes of a score row (one KV cache block).
inline constexpr int64_t kAttnTileKeys = 16;

// A head's weights are exp(score - m) against a reference maximum m that moves only when a
// block's scores pass it by more than this. Softmax is the same for any m; what a move costs is
// rescaling the outputs so far (a std::exp and a multiply of the head's outputs), and an exact
// running maximum moves in most of a context's first blocks (a fresh maximum in block b with
// odds 1/b on unordered scores), which every context segment of model/attention.cpp restarts.
// Weights stay below e^8 ~ 2981, so a sum over 2^20 keys stays far from float's range.
inline constexpr float kAttnMaxSlack = 8.0f;

// The reference maximum after a block whose window's scores peak at `tile_max`. A head that has
// seen no key (run_max = -inf) takes the block's maximum.
inline float attn_next_max(float run_max, float tile_max) {
  return tile_max > run_max + kAttnMaxSlack ? tile_max : run_max;
}

// The factor of a head's outputs and sum when its reference maximum moves from `from` to `to`:
// exactly 1 when it holds (and 0 from a state that has seen no key).
inline float attn_rescale(float from, float to) { return to == from ? 1.0f : std::exp(from - to); }

// q: [n_q, hd] query heads; kt: [hd, kAttnTileKeys]; s: [n_q, kAttnTileKeys]. Every lane is
// computed: callers ignore the lanes of slots that hold no key.
using AttnScoresFn = void (*)(const float* q, int64_t n_q, const float* kt, int64_t hd, float scale,
                              float* s);
// p: weights of head h at p[h * p_stride + j], j < n_keys; v: [n_keys, hd]; o: [n_q, hd].
using AttnValuesFn = void (*)(const float* p, size_t p_stride, int64_t n_q, const float* v,
                              int64_t n_keys, int64_t hd, float* o);

// The same two kernels reading an fp16 or bf16 tile of the KV cache as it is stored (kt: [hd,
// kAttnTileKeys] and v: [n_keys, hd] 16-bit elements), with the results, bit for bit, of
// `AttnScoresFn` / `AttnValuesFn` on the tile widened to f32 (widening is exact). A decoding step
// reads each tile once, so widening it in registers spares a pass through memory.
using AttnScoresHalfFn = void (*)(const float* q, int64_t n_q, const uint16_t* kt, int64_t hd,
                                  float scale, float* s);
using AttnValuesHalfFn = void (*)(const float* p, size_t p_stride, int64_t n_q, const uint16_t* v,
                                  int64_t n_keys, int64_t hd, float* o);

// Folds one KV block's scores into the running softmax of n_q query heads. s: [n_q,
// kAttnTileKeys] scores, of which lanes [lo, lo + n) are keys the query sees (n >= 1); run_max,
// run_sum: [n_q]; o: [n_q, hd] outputs not yet divided by run_sum. For each head h:
//   m = attn_next_max(run_max[h], max of the window's lanes);  c = attn_rescale(run_max[h], m)
//   (1 when the maximum holds, and then o[h] is left as it is, else o[h] *= c);
//   s[h][j] = exp(s[h][j] - m) for the lanes of the window (the weights `attn_values` applies;
//   the other lanes are left as they are);  run_sum[h] = fma(run_sum[h], c, the window's weights);
//   run_max[h] = m.
using AttnSoftmaxFn = void (*)(float* s, int64_t n_q, int64_t lo, int64_t n, float* run_max,
                               float* run_sum, float* o, int64_t hd);

namespace scalar {
void attn_softmax(float* s, int64_t n_q, int64_t lo, int64_t n, float* run_max, float* run_sum,
                  float* o, int64_t hd);
void attn_scores(const float* q, int64_t n_q, const float* kt, int64_t hd, float scale, float* s);
void attn_values(const float* p, size_t p_stride, int64_t n_q, const float* v, int64_t n_keys,
                 int64_t hd, float* o);
void attn_scores_f16(const float* q, int64_t n_q, const uint16_t* kt, int64_t hd, float scale,
                     float* s);
void attn_values_f16(const float* p, size_t p_stride, int64_t n_q, const uint16_t* v,
                     int64_t n_keys, int64_t hd, float* o);
void attn_scores_bf16(const float* q, int64_t n_q, const uint16_t* kt, int64_t hd, float scale,
                      float* s);
void attn_values_bf16(const float* p, size_t p_stride, int64_t n_q, const uint16_t* v,
                      int64_t n_keys, int64_t hd, float* o);
// `attn_values` for output dimensions [first, hd) only: the tail the vector kernels leave.
void attn_values_from(const float* p, size_t p_stride, int64_t n_q, const float* v, int64_t n_keys,
                      int64_t hd, int64_t first, float* o);
// The same on fp16 / bf16 value tiles.
void attn_values_f16_from(const float* p, size_t p_stride, int64_t n_q, const uint16_t* v,
                          int64_t n_keys, int64_t hd, int64_t first, float* o);
void attn_values_bf16_from(const float* p, size_t p_stride, int64_t n_q, const uint16_t* v,
                           int64_t n_keys, int64_t hd, int64_t first, float* o);
}  // namespace scalar

}  // namespace capibara::kernels
