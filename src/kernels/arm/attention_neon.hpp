// NEON tile attention kernels (attention_neon.cpp): only the NEON table, after the CPU check,
// may call them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace capibara::kernels::neon {

// `AttnScoresFn` / `AttnValuesFn` (attention_tiles.hpp), bit for bit the scalar references.
void attn_scores(const float* q, int64_t n_q, const float* kt, int64_t hd, float scale, float* s);
void attn_values(const float* p, size_t p_stride, int64_t n_q, const float* v, int64_t n_keys,
                 int64_t hd, float* o);
// `AttnScoresHalfFn` / `AttnValuesHalfFn` on fp16 and bf16 tiles: bit for bit the f32 kernels on
// the widened tiles.
void attn_scores_f16(const float* q, int64_t n_q, const uint16_t* kt, int64_t hd, float scale,
                     float* s);
void attn_values_f16(const float* p, size_t p_stride, int64_t n_q, const uint16_t* v,
                     int64_t n_keys, int64_t hd, float* o);
void attn_scores_bf16(const float* q, int64_t n_q, const uint16_t* kt, int64_t hd, float scale,
                      float* s);
void attn_values_bf16(const float* p, size_t p_stride, int64_t n_q, const uint16_t* v,
                      int64_t n_keys, int64_t hd, float* o);
// `AttnSoftmaxFn`: the reference's maxima and order of sums, its exp within a few ulps.
void attn_softmax(float* s, int64_t n_q, int64_t lo, int64_t n, float* run_max, float* run_sum,
                  float* o, int64_t hd);

}  // namespace capibara::kernels::neon
