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

}  // namespace capibara::kernels::neon
