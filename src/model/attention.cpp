// Attention over the per-sequence KV caches, one work item per (batch entry, KV head).
#include "model/attention.hpp"

#include <algorithm>

#include "kernels/kernel_table.hpp"
#include "kernels/ops.hpp"

namespace capibara {

int64_t attention_scratch_per_thread(const AttentionShape& shape, int64_t n_ctx) {
  return shape.n_head / shape.n_head_kv * n_ctx + 2 * shape.head_dim;
}

void attend(const AttentionShape& shape, int64_t layer, std::span<const BatchToken> batch,
            std::span<SequenceKvCache* const> caches, const float* q, float* out, float* scratch,
            int64_t n_ctx, ThreadPool& pool) {
  const int64_t hd = shape.head_dim;
  const int64_t n_gqa = shape.n_head / shape.n_head_kv;
  const int64_t q_dim = shape.n_head * hd;
  const auto& kt = kernels::active_kernels();
  const int64_t per_thread = attention_scratch_per_thread(shape, n_ctx);
  const auto n_items = static_cast<int64_t>(batch.size()) * shape.n_head_kv;

  // The KV rows of one KV head are read once for the whole group of query heads sharing them.
  pool.parallel_for(n_items, [&](int64_t begin, int64_t end, int thread) {
    float* scores = scratch + static_cast<int64_t>(thread) * per_thread;  // [n_gqa, n_kv]
    float* row = scores + n_gqa * n_ctx;  // [head_dim] one K or V head, as f32
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = item / shape.n_head_kv;
      const int64_t g = item % shape.n_head_kv;
      const BatchToken& entry = batch[static_cast<size_t>(t)];
      const SequenceKvCache& cache = *caches[entry.seq];
      // Causal: positions first..pos; a sliding window keeps the last `window_tokens` of them.
      const int64_t first =
          shape.window_tokens > 0 ? std::max<int64_t>(0, entry.pos - shape.window_tokens + 1) : 0;
      const int64_t n_kv = entry.pos + 1 - first;
      const float* qg = q + t * q_dim + g * n_gqa * hd;
      for (int64_t j = 0; j < n_kv; ++j) {
        cache.read_k(layer, first + j, g * hd, hd, row);
        for (int64_t h = 0; h < n_gqa; ++h) {
          scores[h * n_kv + j] = kt.dot_f32(qg + h * hd, row, hd) * shape.scale;
        }
      }
      float* o = out + t * q_dim + g * n_gqa * hd;
      std::fill(o, o + n_gqa * hd, 0.0f);
      for (int64_t h = 0; h < n_gqa; ++h) kernels::softmax(scores + h * n_kv, n_kv);
      for (int64_t j = 0; j < n_kv; ++j) {
        cache.read_v(layer, first + j, g * hd, hd, row);
        for (int64_t h = 0; h < n_gqa; ++h) {
          kt.axpy_f32(scores[h * n_kv + j], row, o + h * hd, hd);
        }
      }
    }
  });
}

}  // namespace capibara
