// Flash-style attention over paged KV blocks. Work items are (query tile, KV head): a query tile
// is a run of up to `kQueryTile` consecutive batch entries of one sequence, so a prefill converts
// each K/V tile once per query tile instead of once per query.
#include "model/attention.hpp"

#include <algorithm>
#include <atomic>
#include <limits>

#include "kernels/kernel_table.hpp"

namespace capibara {
namespace {

// Queries sharing one conversion of each K/V tile. 16 amortises the conversion well below the
// per-query dots and keeps a prefill of one 512-token batch at 32 tiles per KV head, enough
// items to balance the pool's threads.
constexpr int64_t kQueryTile = 16;
constexpr int64_t kB = kKvBlockTokens;
static_assert(kB == kernels::kAttnTileKeys, "a KV block is one tile of the score kernels");

// First position `pos` may see: causal, then limited to the last `window_tokens` positions.
int64_t first_visible(const AttentionShape& shape, int64_t pos) {
  return shape.window_tokens > 0 ? std::max<int64_t>(0, pos - shape.window_tokens + 1) : 0;
}

// The running softmax state of the query heads of one batch entry that share a KV head.
struct QueryState {
  float* acc;      // [n_gqa, head_dim] unnormalised outputs
  float* run_max;  // [n_gqa]
  float* run_sum;  // [n_gqa]
};

// Folds the keys of slots [lo, lo + n) of a block (`k_t`: the transposed key tile, [hd, kB];
// `v`: the value rows of those slots, [n, head_dim]) into `st` for the `n_gqa` query heads at
// `qg` ([n_gqa, head_dim]). `scores` is [n_gqa, kB]. Everything here depends only on this query
// and these keys, never on the other queries of its tile: a query gets bit-identical results
// whichever batch it is part of.
void fold_block(const kernels::KernelTable& kt, const float* qg, const float* k_t, const float* v,
                int64_t lo, int64_t n, int64_t n_gqa, int64_t hd, float scale, float* scores,
                const QueryState& st) {
  kt.attn_scores(qg, n_gqa, k_t, hd, scale, scores);
  kt.attn_softmax(scores, n_gqa, lo, n, st.run_max, st.run_sum, st.acc, hd);
  kt.attn_values(scores + lo, kB, n_gqa, v, n, hd, st.acc);
}

// Batch entries [begin, end) of the query tile that starts at `begin`: consecutive entries of
// one sequence, at most `kQueryTile` of them.
int64_t tile_end(std::span<const BatchToken> batch, int64_t begin) {
  const auto size = static_cast<int64_t>(batch.size());
  const int32_t seq = batch[static_cast<size_t>(begin)].seq;
  int64_t end = begin + 1;
  while (end < size && end - begin < kQueryTile && batch[static_cast<size_t>(end)].seq == seq) {
    ++end;
  }
  return end;
}

}  // namespace

int64_t attention_scratch_per_thread(const AttentionShape& shape) {
  const int64_t n_gqa = shape.n_head / shape.n_head_kv;
  // Transposed K tile, V rows, scores of a GQA group, then per query of a tile: accumulators,
  // running max and sum.
  return 2 * kB * shape.head_dim + n_gqa * kB + kQueryTile * (n_gqa * shape.head_dim + 2 * n_gqa);
}

void attend(const AttentionShape& shape, int64_t layer, std::span<const BatchToken> batch,
            std::span<SequenceKvCache* const> caches, const float* q, float* out, float* scratch,
            ThreadPool& pool) {
  const int64_t hd = shape.head_dim;
  const int64_t n_gqa = shape.n_head / shape.n_head_kv;
  const int64_t q_dim = shape.n_head * hd;
  const int64_t state_floats = n_gqa * hd + 2 * n_gqa;
  const auto& kt = kernels::active_kernels();
  const int64_t per_thread = attention_scratch_per_thread(shape);
  const auto n_batch = static_cast<int64_t>(batch.size());
  int64_t n_tiles = 0;
  for (int64_t t = 0; t < n_batch; t = tile_end(batch, t)) ++n_tiles;
  const int64_t n_items = n_tiles * shape.n_head_kv;

  // Items differ widely in cost (a causal prefill's last tile sees the whole prompt), so threads
  // take them one at a time instead of in fixed slices. Which thread runs an item does not
  // change its result.
  std::atomic<int64_t> next_item{0};
  pool.parallel_for(pool.size(), [&](int64_t, int64_t, int thread) {
    float* k_t = scratch + static_cast<int64_t>(thread) * per_thread;  // [head_dim, kB]
    float* v_tile = k_t + kB * hd;                                     // [kB, head_dim]
    float* scores = v_tile + kB * hd;                                  // [n_gqa, kB]
    float* states = scores + n_gqa * kB;                               // [kQueryTile, state_floats]
    // Items are taken in increasing order, so this thread finds its tiles by scanning forward.
    int64_t tile = 0, t0 = 0, t1 = n_batch > 0 ? tile_end(batch, 0) : 0;
    for (int64_t item = next_item.fetch_add(1, std::memory_order_relaxed); item < n_items;
         item = next_item.fetch_add(1, std::memory_order_relaxed)) {
      for (; tile < item / shape.n_head_kv; ++tile) {
        t0 = t1;
        t1 = tile_end(batch, t0);
      }
      const int64_t g = item % shape.n_head_kv;
      const SequenceKvCache& cache =
          *caches[static_cast<size_t>(batch[static_cast<size_t>(t0)].seq)];
      const KvBlockPool& kv = cache.pool();
      const std::span<const int32_t> table = cache.blocks();
      auto state = [&](int64_t t) {
        float* base = states + (t - t0) * state_floats;
        return QueryState{base, base + n_gqa * hd, base + n_gqa * hd + n_gqa};
      };
      int64_t b_first = std::numeric_limits<int64_t>::max(), b_last = -1;
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t pos = batch[static_cast<size_t>(t)].pos;
        b_first = std::min(b_first, first_visible(shape, pos) / kB);
        b_last = std::max(b_last, pos / kB);
        const QueryState st = state(t);
        std::fill(st.acc, st.acc + n_gqa * hd, 0.0f);
        std::fill(st.run_max, st.run_max + n_gqa, -std::numeric_limits<float>::infinity());
        std::fill(st.run_sum, st.run_sum + n_gqa, 0.0f);
      }
      for (int64_t b = b_first; b <= b_last; ++b) {
        // Each query sees slots [lo, hi] of this block (none when lo > hi); the tile reads the
        // union once.
        auto slots = [&](int64_t t, int64_t& lo, int64_t& hi) {
          const int64_t pos = batch[static_cast<size_t>(t)].pos;
          lo = std::max(first_visible(shape, pos), b * kB) - b * kB;
          hi = std::min(pos, b * kB + kB - 1) - b * kB;
        };
        int64_t lo_all = kB, hi_all = -1;
        for (int64_t t = t0; t < t1; ++t) {
          int64_t lo, hi;
          slots(t, lo, hi);
          if (lo > hi) continue;
          lo_all = std::min(lo_all, lo);
          hi_all = std::max(hi_all, hi);
        }
        if (lo_all > hi_all) continue;
        const int32_t block = table[static_cast<size_t>(b)];
        if (b < b_last) kv.prefetch_tiles(table[static_cast<size_t>(b + 1)], layer, g);
        // Every key lane is read (the slots outside [lo_all, hi_all] are scored and ignored).
        kv.read_keys(block, layer, g, k_t);
        kv.read_values(block, layer, g, lo_all, hi_all - lo_all + 1, v_tile);
        for (int64_t t = t0; t < t1; ++t) {
          int64_t lo, hi;
          slots(t, lo, hi);
          if (lo > hi) continue;
          fold_block(kt, q + t * q_dim + g * n_gqa * hd, k_t, v_tile + (lo - lo_all) * hd, lo,
                     hi - lo + 1, n_gqa, hd, shape.scale, scores, state(t));
        }
      }
      for (int64_t t = t0; t < t1; ++t) {
        const QueryState st = state(t);
        float* o = out + t * q_dim + g * n_gqa * hd;
        for (int64_t h = 0; h < n_gqa; ++h) {
          const float inv = 1.0f / st.run_sum[h];
          for (int64_t i = 0; i < hd; ++i) o[h * hd + i] = st.acc[h * hd + i] * inv;
        }
      }
    }
  });
}

}  // namespace capibara
