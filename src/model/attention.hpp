// Causal attention of a batch's queries over each sequence's paged KV cache: grouped KV heads
// (GQA), optionally restricted to a sliding window of the most recent positions (Mistral,
// Gemma 3, Cohere2). Flash-style: keys and values are read one block (tile) at a time straight
// from the pool and folded into a running (online) softmax, so no score row over the whole
// context exists and the scratch does not grow with the context. Consecutive batch entries of one
// sequence (a prefill) share each tile's read and conversion; every entry's output is still
// bit-identical to the one it gets alone in a batch.
//
// Thread safety: called by the model's thread; runs on its pool. The caches must hold every
// position up to each entry's `pos` for `layer` before the call.
#pragma once

#include <cstdint>
#include <span>

#include "core/thread_pool.hpp"
#include "model/batch.hpp"
#include "model/kv_cache.hpp"

namespace capibara {

struct AttentionShape {
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;
  float scale = 1.0f;         // multiplies q.k before the softmax
  int64_t window_tokens = 0;  // 0: every earlier position; else the last `window_tokens`
};

// Floats of scratch each pool thread needs (independent of the context length).
int64_t attention_scratch_per_thread(const AttentionShape& shape);

// out[t] ([n_head * head_dim]) = softmax(q[t] . K^T * scale) V over the positions of entry t's
// sequence that it may see. `q` and `out` are [batch.size(), n_head * head_dim]; `scratch` holds
// `attention_scratch_per_thread(shape)` floats per pool thread.
void attend(const AttentionShape& shape, int64_t layer, std::span<const BatchToken> batch,
            std::span<SequenceKvCache* const> caches, const float* q, float* out, float* scratch,
            ThreadPool& pool);

}  // namespace capibara
