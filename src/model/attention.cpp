// Flash-style attention over paged KV blocks, one work item per (batch entry, KV head).
#include "model/attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/kernel_table.hpp"

namespace capibara {

int64_t attention_scratch_per_thread(const AttentionShape& shape) {
  const int64_t n_gqa = shape.n_head / shape.n_head_kv;
  // K tile, V tile, scores, accumulators, running max and sum.
  return 2 * kKvBlockTokens * shape.head_dim + n_gqa * kKvBlockTokens + n_gqa * shape.head_dim +
         2 * n_gqa;
}

void attend(const AttentionShape& shape, int64_t layer, std::span<const BatchToken> batch,
            std::span<SequenceKvCache* const> caches, const float* q, float* out, float* scratch,
            ThreadPool& pool) {
  const int64_t hd = shape.head_dim;
  const int64_t n_gqa = shape.n_head / shape.n_head_kv;
  const int64_t q_dim = shape.n_head * hd;
  const auto& kt = kernels::active_kernels();
  const int64_t per_thread = attention_scratch_per_thread(shape);
  const auto n_items = static_cast<int64_t>(batch.size()) * shape.n_head_kv;
  constexpr int64_t kB = kKvBlockTokens;

  // The K/V tiles of one KV head are read once for the whole group of query heads sharing them.
  pool.parallel_for(n_items, [&](int64_t begin, int64_t end, int thread) {
    float* k_tile = scratch + static_cast<int64_t>(thread) * per_thread;  // [kB, head_dim]
    float* v_tile = k_tile + kB * hd;                                     // [kB, head_dim]
    float* scores = v_tile + kB * hd;                                     // [n_gqa, kB]
    float* acc = scores + n_gqa * kB;                                     // [n_gqa, head_dim]
    float* run_max = acc + n_gqa * hd;                                    // [n_gqa]
    float* run_sum = run_max + n_gqa;                                     // [n_gqa]
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = item / shape.n_head_kv;
      const int64_t g = item % shape.n_head_kv;
      const BatchToken& entry = batch[static_cast<size_t>(t)];
      const SequenceKvCache& cache = *caches[static_cast<size_t>(entry.seq)];
      const KvBlockPool& kv = cache.pool();
      const std::span<const int32_t> table = cache.blocks();
      // Causal: positions first..pos; a sliding window keeps the last `window_tokens` of them.
      const int64_t first =
          shape.window_tokens > 0 ? std::max<int64_t>(0, entry.pos - shape.window_tokens + 1) : 0;
      const float* qg = q + t * q_dim + g * n_gqa * hd;
      std::fill(acc, acc + n_gqa * hd, 0.0f);
      std::fill(run_max, run_max + n_gqa, -std::numeric_limits<float>::infinity());
      std::fill(run_sum, run_sum + n_gqa, 0.0f);
      for (int64_t b = first / kB; b <= entry.pos / kB; ++b) {
        const int32_t block = table[static_cast<size_t>(b)];
        const int64_t lo = std::max(first, b * kB) - b * kB;
        const int64_t n = std::min(entry.pos, b * kB + kB - 1) - b * kB + 1 - lo;
        kv.read_tile(block, layer, 0, g, lo, n, k_tile);
        kv.read_tile(block, layer, 1, g, lo, n, v_tile);
        for (int64_t h = 0; h < n_gqa; ++h) {
          float* s = scores + h * kB;
          float tile_max = -std::numeric_limits<float>::infinity();
          for (int64_t j = 0; j < n; ++j) {
            s[j] = kt.dot_f32(qg + h * hd, k_tile + j * hd, hd) * shape.scale;
            tile_max = std::max(tile_max, s[j]);
          }
          // Online softmax: rescale what was accumulated under the old maximum.
          const float new_max = std::max(run_max[h], tile_max);
          const float correction = std::exp(run_max[h] - new_max);
          float* o = acc + h * hd;
          if (correction != 1.0f) {
            for (int64_t i = 0; i < hd; ++i) o[i] *= correction;
          }
          float sum = run_sum[h] * correction;
          for (int64_t j = 0; j < n; ++j) {
            const float p = std::exp(s[j] - new_max);
            sum += p;
            kt.axpy_f32(p, v_tile + j * hd, o, hd);
          }
          run_max[h] = new_max;
          run_sum[h] = sum;
        }
      }
      float* o = out + t * q_dim + g * n_gqa * hd;
      for (int64_t h = 0; h < n_gqa; ++h) {
        const float inv = 1.0f / run_sum[h];
        for (int64_t i = 0; i < hd; ++i) o[h * hd + i] = acc[h * hd + i] * inv;
      }
    }
  });
}

}  // namespace capibara
