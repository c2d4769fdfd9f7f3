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
// A query head's results depend only on its own query, the keys and its weights: not on how
// many heads or queries share the tile.
#pragma once

#include <cstddef>
#include <cstdint>

namespace capibara::kernels {

// Keys per tile: the lanes of a score row (one KV cache block).
inline constexpr int64_t kAttnTileKeys = 16;

// q: [n_q, hd] query heads; kt: [hd, kAttnTileKeys]; s: [n_q, kAttnTileKeys]. Every lane is
// computed: callers ignore the lanes of slots that hold no key.
using AttnScoresFn = void (*)(const float* q, int64_t n_q, const float* kt, int64_t hd, float scale,
                              float* s);
// p: weights of head h at p[h * p_stride + j], j < n_keys; v: [n_keys, hd]; o: [n_q, hd].
using AttnValuesFn = void (*)(const float* p, size_t p_stride, int64_t n_q, const float* v,
                              int64_t n_keys, int64_t hd, float* o);

namespace scalar {
void attn_scores(const float* q, int64_t n_q, const float* kt, int64_t hd, float scale, float* s);
void attn_values(const float* p, size_t p_stride, int64_t n_q, const float* v, int64_t n_keys,
                 int64_t hd, float* o);
// `attn_values` for output dimensions [first, hd) only: the tail the vector kernels leave.
void attn_values_from(const float* p, size_t p_stride, int64_t n_q, const float* v, int64_t n_keys,
                      int64_t hd, int64_t first, float* o);
}  // namespace scalar

}  // namespace capibara::kernels
