// Flash-style attention over paged KV blocks. Work items are (query tile, KV head): a query tile
// is a run of up to `kQueryTile` consecutive batch entries of one sequence, so a prefill converts
// each K/V tile once per query tile instead of once per query.
//
// Context segments. A query's softmax is computed per segment of `kSegmentBlocks` blocks at fixed
// positions (0-255, 256-511, ... with 16-key blocks), each from a fresh state, and the segments'
// states are merged in order. When a batch has too few (tile, KV head) items to keep the pool
// busy (one decoding sequence has only n_head_kv of them, 1-8 in current models, against tens of
// cores on a server), such an item's segments run as several items, chunks of consecutive
// segments, and the last chunk to finish merges every segment's state ("flash-decoding").
// Segment bounds depend only on positions, and the merges run in the same order either way, so a
// query's output does not depend on whether its segments ran on one thread or on several.
#include "model/attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "kernels/attention_tiles.hpp"
#include "kernels/kernel_table.hpp"

namespace capibara {
namespace {

// Queries sharing one conversion of each K/V tile. 16 amortises the conversion well below the
// per-query dots and keeps a prefill of one 512-token batch at 32 tiles per KV head, enough
// items to balance the pool's threads.
constexpr int64_t kQueryTile = 16;
constexpr int64_t kB = kKvBlockTokens;
static_assert(kB == kernels::kAttnTileKeys, "a KV block is one tile of the score kernels");
// Blocks per context segment: 256 keys. Each segment restarts its running maximum, so its first
// blocks rescale more often (a std::exp and a multiply of the head's outputs each time), and
// ends in a merge: a decoding step's attention at 4096 positions takes 5-10 % longer on one
// thread than with no segments, 2-8 % with 512-key segments, but run apart on two threads a
// multi-query model's takes 1.64x less time with 256 against 1.44x with 512 (`Attend`
// micro-benchmark, docs/PERFORMANCE.md).
constexpr int64_t kSegmentBlocks = 16;
// Segments run apart only where whole (tile, KV head) items would leave the threads idle for more
// than 1/kMaxIdleShare of the time, counting items as equal (a decoding step's are): running apart
// costs the partial states' traffic and a merge, which measured about a tenth of the work.
constexpr int64_t kMaxIdleShare = 8;
// And only in batches of fewer items than this many per thread (the workspace's plan is that
// small); the chunks then number about this many per thread, for the dynamic hand-out to even
// out.
constexpr int64_t kSplitItemsPerThread = 4;
// Partial states the workspace holds per thread (one per query and segment of an item run
// apart): on 2 threads, a multi-query model's decoding sequence up to 128K positions; on 16, two
// decoding sequences of a Llama-3-8B shape (8 KV heads) at 64K. Items that do not fit run whole.
constexpr int64_t kPartialStatesPerThread = 128;

constexpr float kEmpty = -std::numeric_limits<float>::infinity();

// First position `pos` may see: causal, then limited to the last `window_tokens` positions.
int64_t first_visible(const AttentionShape& shape, int64_t pos) {
  return shape.window_tokens > 0 ? std::max<int64_t>(0, pos - shape.window_tokens + 1) : 0;
}

// The running softmax state of the query heads of one batch entry that share a KV head. A state
// that has seen no key has run_max = -inf.
struct QueryState {
  float* acc;      // [n_gqa, head_dim] unnormalised outputs
  float* run_max;  // [n_gqa]
  float* run_sum;  // [n_gqa]
};

QueryState state_at(float* base, int64_t n_gqa, int64_t hd) {
  return QueryState{base, base + n_gqa * hd, base + n_gqa * hd + n_gqa};
}

void clear_state(const QueryState& st, int64_t n_gqa, int64_t hd) {
  std::fill(st.acc, st.acc + n_gqa * hd, 0.0f);
  std::fill(st.run_max, st.run_max + n_gqa, kEmpty);
  std::fill(st.run_sum, st.run_sum + n_gqa, 0.0f);
}

// Folds a segment's state into the state of the segments before it, head by head: both
// rescaled to their common maximum. A head that saw no key on one side takes the other's state
// as it is. Kept out of line: a whole item and the last chunk of a split one then run the same
// instructions, which an inlined copy would not promise (GCC may contract `a * b + c * d` into
// an fma in one copy and not in another where the target has fma, as aarch64 always does).
[[gnu::noinline]] void merge_state(const QueryState& total, const QueryState& seg, int64_t n_gqa,
                                   int64_t hd) {
  for (int64_t h = 0; h < n_gqa; ++h) {
    const float m_seg = seg.run_max[h];
    if (m_seg == kEmpty) continue;
    float* acc = total.acc + h * hd;
    const float* add = seg.acc + h * hd;
    const float m_total = total.run_max[h];
    if (m_total == kEmpty) {
      std::copy(add, add + hd, acc);
      total.run_max[h] = m_seg;
      total.run_sum[h] = seg.run_sum[h];
      continue;
    }
    // The segments before keep their reference maximum unless this one's passes it by more than
    // the kernels' slack, as a block's would.
    const float m = kernels::attn_next_max(m_total, m_seg);
    const float c_total = kernels::attn_rescale(m_total, m);
    const float c_seg = kernels::attn_rescale(m_seg, m);
    total.run_sum[h] = total.run_sum[h] * c_total + seg.run_sum[h] * c_seg;
    for (int64_t i = 0; i < hd; ++i) acc[i] = acc[i] * c_total + add[i] * c_seg;
    total.run_max[h] = m;
  }
}

void write_output(const QueryState& st, int64_t n_gqa, int64_t hd, float* o) {
  for (int64_t h = 0; h < n_gqa; ++h) {
    const float inv = 1.0f / st.run_sum[h];
    for (int64_t i = 0; i < hd; ++i) o[h * hd + i] = st.acc[h * hd + i] * inv;
  }
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

// What every item of one `attend` call shares.
struct Pass {
  const AttentionShape& shape;
  int64_t layer;
  std::span<const BatchToken> batch;
  std::span<SequenceKvCache* const> caches;
  const float* q;
  float* out;
  const kernels::KernelTable& kt;
  int64_t n_gqa, hd, q_dim, state_floats;
};

// The blocks a query tile sees: [b_first, b_last], the union of its queries' windows.
struct TileBlocks {
  int64_t b_first, b_last;
};

TileBlocks tile_blocks(const Pass& p, int64_t t0, int64_t t1) {
  TileBlocks tb{std::numeric_limits<int64_t>::max(), -1};
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t pos = p.batch[static_cast<size_t>(t)].pos;
    tb.b_first = std::min(tb.b_first, first_visible(p.shape, pos) / kB);
    tb.b_last = std::max(tb.b_last, pos / kB);
  }
  return tb;
}

// A thread's scratch: the transposed K tile [hd, kB], the V rows [kB, hd], the scores of a GQA
// group [n_gqa, kB], then per query of a tile the state of the segment under way and the merged
// state of the segments before it; and apart, the K and V tiles of an fp8 cache as halves.
struct ThreadScratch {
  float *k_t, *v_tile, *scores, *states, *totals;
  uint16_t *k_half, *v_half;
};

// One query's softmax state over its GQA group ([n_gqa, hd] outputs, then maxima and sums),
// rounded up to whole cache lines: every state, and so every head's outputs where hd is a
// multiple of 16, starts on one (the workspace's buffers are 64-byte aligned), so no 512-bit
// load of the outputs splits across two lines.
int64_t state_floats_for(int64_t n_gqa, int64_t hd) {
  constexpr auto kLine = static_cast<int64_t>(kCacheLineBytes / sizeof(float));
  return (n_gqa * hd + 2 * n_gqa + kLine - 1) / kLine * kLine;
}

int64_t scratch_floats(int64_t n_gqa, int64_t hd) {
  return 2 * kB * hd + n_gqa * kB + 2 * kQueryTile * state_floats_for(n_gqa, hd);
}

// Halves of each thread's fp8 tiles, whole cache lines.
int64_t scratch_halves(int64_t hd) {
  constexpr auto kLine = static_cast<int64_t>(kCacheLineBytes / sizeof(uint16_t));
  return (2 * kB * hd + kLine - 1) / kLine * kLine;
}

ThreadScratch thread_scratch(float* base, uint16_t* halves, int64_t n_gqa, int64_t hd) {
  const int64_t state_floats = state_floats_for(n_gqa, hd);
  ThreadScratch s{};
  s.k_t = base;
  s.v_tile = s.k_t + kB * hd;
  s.scores = s.v_tile + kB * hd;
  s.states = s.scores + n_gqa * kB;
  s.totals = s.states + kQueryTile * state_floats;
  s.k_half = halves;
  s.v_half = halves + kB * hd;
  return s;
}

// The kernels that read a KV type's 16-bit tiles as stored, where the table has them: fp16 and
// bf16 tiles themselves, fp8 ones once converted to halves (exact, and half the bytes of f32).
struct HalfTileKernels {
  kernels::AttnScoresHalfFn scores = nullptr;
  kernels::AttnValuesHalfFn values = nullptr;
};

HalfTileKernels half_tile_kernels(const kernels::KernelTable& kt, KvType type) {
  if (type == KvType::kF16 || type == KvType::kFp8) return {kt.attn_scores_f16, kt.attn_values_f16};
  if (type == KvType::kBF16) return {kt.attn_scores_bf16, kt.attn_values_bf16};
  return {};
}

// Weights times an fp8 value tile's scale, for the lanes [lo, lo + n) of each head's row: the
// value kernels then multiply them by the tile's elements unscaled. The scale is a power of two,
// so p (v s) and (p s) v are the same float: each fma of the values gets the bits it would on
// the scaled tile (within float's normal range).
void scale_weights(float* s, int64_t n_q, int64_t lo, int64_t n, float tile_scale) {
  for (int64_t h = 0; h < n_q; ++h) {
    for (int64_t j = lo; j < lo + n; ++j) s[h * kB + j] *= tile_scale;
  }
}

// Folds the keys of blocks [b_lo, b_hi] into the states of the tile's queries (`states`: [t1 - t0,
// state_floats]) for KV head g. `b_prefetch_end`: the last block worth fetching ahead. Everything
// here depends only on each query and these keys, never on the other queries of its tile: a
// query gets bit-identical results whichever batch it is part of.
void fold_blocks(const Pass& p, int64_t t0, int64_t t1, int64_t g, int64_t b_lo, int64_t b_hi,
                 int64_t b_prefetch_end, const ThreadScratch& s, float* states) {
  const SequenceKvCache& cache =
      *p.caches[static_cast<size_t>(p.batch[static_cast<size_t>(t0)].seq)];
  const KvBlockPool& kv = cache.pool();
  const std::span<const int32_t> table = cache.blocks();
  const bool fp8 = kv.type() == KvType::kFp8;
  const HalfTileKernels half =
      t1 - t0 == 1 ? half_tile_kernels(p.kt, kv.type()) : HalfTileKernels{};
  for (int64_t b = b_lo; b <= b_hi; ++b) {
    // Each query sees slots [lo, hi] of this block (none when lo > hi); the tile reads the union
    // once.
    auto slots = [&](int64_t t, int64_t& lo, int64_t& hi) {
      const int64_t pos = p.batch[static_cast<size_t>(t)].pos;
      lo = std::max(first_visible(p.shape, pos), b * kB) - b * kB;
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
    if (b < b_prefetch_end) kv.prefetch_tiles(table[static_cast<size_t>(b + 1)], p.layer, g);
    // An fp8 tile's elements are read unscaled: the key scale (a power of two) goes into the
    // score scale, where (q . k s) c and (q . k) (s c) are the same float, and the value scale
    // into the weights (`scale_weights`).
    const float score_scale = p.shape.scale * kv.tile_scale(block, p.layer, 0, g);
    const float value_scale = kv.tile_scale(block, p.layer, 1, g);
    const int64_t n_all = hi_all - lo_all + 1;
    if (half.scores != nullptr) {
      // One query reads each tile once: widened in the registers that use it, from the cache's
      // own 16-bit tile, or an fp8 tile's halves (half the bytes of an f32 tile in scratch).
      const int64_t t = t0;
      const QueryState st = state_at(states, p.n_gqa, p.hd);
      const float* qg = p.q + t * p.q_dim + g * p.n_gqa * p.hd;
      const uint16_t* k_tile;
      const uint16_t* v_rows;
      if (fp8) {
        p.kt.fp8_to_f16(kv.fp8_tile(block, p.layer, 0, g), s.k_half, kB * p.hd);
        p.kt.fp8_to_f16(kv.fp8_tile(block, p.layer, 1, g) + lo_all * p.hd, s.v_half, n_all * p.hd);
        k_tile = s.k_half;
        v_rows = s.v_half;
      } else {
        k_tile = kv.half_tile(block, p.layer, 0, g);
        v_rows = kv.half_tile(block, p.layer, 1, g) + lo_all * p.hd;
      }
      half.scores(qg, p.n_gqa, k_tile, p.hd, score_scale, s.scores);
      p.kt.attn_softmax(s.scores, p.n_gqa, lo_all, n_all, st.run_max, st.run_sum, st.acc, p.hd);
      if (fp8) scale_weights(s.scores, p.n_gqa, lo_all, n_all, value_scale);
      half.values(s.scores + lo_all, kB, p.n_gqa, v_rows, n_all, p.hd, st.acc);
      continue;
    }
    // Every key lane is read (the slots outside [lo_all, hi_all] are scored and ignored).
    kv.read_keys(block, p.layer, g, s.k_t);
    kv.read_values(block, p.layer, g, lo_all, n_all, s.v_tile);
    for (int64_t t = t0; t < t1; ++t) {
      int64_t lo, hi;
      slots(t, lo, hi);
      if (lo > hi) continue;
      const QueryState st = state_at(states + (t - t0) * p.state_floats, p.n_gqa, p.hd);
      const float* qg = p.q + t * p.q_dim + g * p.n_gqa * p.hd;
      p.kt.attn_scores(qg, p.n_gqa, s.k_t, p.hd, score_scale, s.scores);
      p.kt.attn_softmax(s.scores, p.n_gqa, lo, hi - lo + 1, st.run_max, st.run_sum, st.acc, p.hd);
      if (fp8) scale_weights(s.scores, p.n_gqa, lo, hi - lo + 1, value_scale);
      p.kt.attn_values(s.scores + lo, kB, p.n_gqa, s.v_tile + (lo - lo_all) * p.hd, hi - lo + 1,
                       p.hd, st.acc);
    }
  }
}

// The segments a tile's blocks span: [first_segment, first_segment + segment_count).
int64_t first_segment(const TileBlocks& tb) { return tb.b_first / kSegmentBlocks; }
int64_t segment_count(const TileBlocks& tb) {
  return tb.b_last / kSegmentBlocks - first_segment(tb) + 1;
}

// Blocks of segment `seg` within a tile's [b_first, b_last].
int64_t segment_first_block(const TileBlocks& tb, int64_t seg) {
  return std::max(tb.b_first, seg * kSegmentBlocks);
}
int64_t segment_last_block(const TileBlocks& tb, int64_t seg) {
  return std::min(tb.b_last, seg * kSegmentBlocks + kSegmentBlocks - 1);
}

// KV head g of the query tile [t0, t1) over every segment it sees, outputs written.
void run_whole(const Pass& p, int64_t t0, int64_t t1, int64_t g, const ThreadScratch& s) {
  const TileBlocks tb = tile_blocks(p, t0, t1);
  const int64_t n_q = t1 - t0;
  for (int64_t t = 0; t < n_q; ++t) {
    clear_state(state_at(s.totals + t * p.state_floats, p.n_gqa, p.hd), p.n_gqa, p.hd);
  }
  const int64_t seg_first = first_segment(tb);
  for (int64_t seg = seg_first; seg < seg_first + segment_count(tb); ++seg) {
    // The first segment folds straight into the cleared totals: merging it into them would copy
    // it unchanged.
    const bool first = seg == seg_first;
    float* states = first ? s.totals : s.states;
    if (!first) {
      for (int64_t t = 0; t < n_q; ++t) {
        clear_state(state_at(states + t * p.state_floats, p.n_gqa, p.hd), p.n_gqa, p.hd);
      }
    }
    fold_blocks(p, t0, t1, g, segment_first_block(tb, seg), segment_last_block(tb, seg), tb.b_last,
                s, states);
    if (first) continue;
    for (int64_t t = 0; t < n_q; ++t) {
      merge_state(state_at(s.totals + t * p.state_floats, p.n_gqa, p.hd),
                  state_at(states + t * p.state_floats, p.n_gqa, p.hd), p.n_gqa, p.hd);
    }
  }
  for (int64_t t = t0; t < t1; ++t) {
    write_output(state_at(s.totals + (t - t0) * p.state_floats, p.n_gqa, p.hd), p.n_gqa, p.hd,
                 p.out + t * p.q_dim + g * p.n_gqa * p.hd);
  }
}

}  // namespace

AttentionWorkspace::AttentionWorkspace(const AttentionShape& shape, int threads)
    : threads_(threads) {
  const int64_t n_gqa = shape.n_head / shape.n_head_kv;
  per_thread_ = scratch_floats(n_gqa, shape.head_dim);
  state_floats_ = state_floats_for(n_gqa, shape.head_dim);
  partial_states_ = kPartialStatesPerThread * threads;
  max_units_ = kSplitItemsPerThread * threads;
  scratch_.assign(static_cast<size_t>(per_thread_ * threads), 0.0f);
  halves_.assign(static_cast<size_t>(scratch_halves(shape.head_dim) * threads), 0);
  partials_.assign(static_cast<size_t>(partial_states_ * state_floats_), 0.0f);
  // Fewer than `max_units_` units, each one item or its share, rounded up, of `max_units_` chunks.
  items_.reserve(static_cast<size_t>(2 * max_units_));
  pending_ = std::make_unique<std::atomic<int32_t>[]>(static_cast<size_t>(max_units_));
}

int64_t AttentionWorkspace::bytes_for(const AttentionShape& shape, int threads) {
  const int64_t n_gqa = shape.n_head / shape.n_head_kv;
  const int64_t state_floats = state_floats_for(n_gqa, shape.head_dim);
  const int64_t floats =
      (scratch_floats(n_gqa, shape.head_dim) + kPartialStatesPerThread * state_floats) * threads;
  const int64_t max_units = kSplitItemsPerThread * threads;
  return floats * static_cast<int64_t>(sizeof(float)) +
         scratch_halves(shape.head_dim) * threads * static_cast<int64_t>(sizeof(uint16_t)) +
         2 * max_units * static_cast<int64_t>(sizeof(Item)) +
         max_units * static_cast<int64_t>(sizeof(std::atomic<int32_t>));
}

int64_t attend(const AttentionShape& shape, int64_t layer, std::span<const BatchToken> batch,
               std::span<SequenceKvCache* const> caches, const float* q, float* out,
               AttentionWorkspace& ws, ThreadPool& pool) {
  const int64_t hd = shape.head_dim;
  const int64_t n_gqa = shape.n_head / shape.n_head_kv;
  const Pass p{.shape = shape,
               .layer = layer,
               .batch = batch,
               .caches = caches,
               .q = q,
               .out = out,
               .kt = kernels::active_kernels(),
               .n_gqa = n_gqa,
               .hd = hd,
               .q_dim = shape.n_head * hd,
               .state_floats = state_floats_for(n_gqa, hd)};
  if (ws.threads_ < pool.size() || ws.state_floats_ != p.state_floats ||
      ws.per_thread_ != scratch_floats(n_gqa, hd)) {
    throw std::logic_error("attention workspace made for another shape or pool");
  }
  const auto n_batch = static_cast<int64_t>(batch.size());
  int64_t n_tiles = 0;
  for (int64_t t = 0; t < n_batch; t = tile_end(batch, t)) ++n_tiles;
  const int64_t n_units = n_tiles * shape.n_head_kv;
  auto scratch_of = [&](int thread) {
    return thread_scratch(ws.scratch_.data() + static_cast<int64_t>(thread) * ws.per_thread_,
                          ws.halves_.data() + static_cast<int64_t>(thread) * scratch_halves(hd),
                          n_gqa, hd);
  };

  const int64_t threads = pool.size();
  const int64_t idle_slots = (n_units + threads - 1) / threads * threads - n_units;
  // (One thread never idles: idle_slots is 0.)
  if (n_units >= kSplitItemsPerThread * threads || idle_slots * kMaxIdleShare <= n_units) {
    // Items differ widely in cost (a causal prefill's last tile sees the whole prompt), so
    // threads take them one at a time instead of in fixed slices. Which thread runs an item does
    // not change its result.
    std::atomic<int64_t> next_item{0};
    pool.parallel_for(pool.size(), [&](int64_t, int64_t, int thread) {
      const ThreadScratch s = scratch_of(thread);
      // Items are taken in increasing order, so this thread finds its tiles by scanning forward.
      int64_t tile = 0, t0 = 0, t1 = n_batch > 0 ? tile_end(batch, 0) : 0;
      for (int64_t item = next_item.fetch_add(1, std::memory_order_relaxed); item < n_units;
           item = next_item.fetch_add(1, std::memory_order_relaxed)) {
        for (; tile < item / shape.n_head_kv; ++tile) {
          t0 = t1;
          t1 = tile_end(batch, t0);
        }
        run_whole(p, t0, t1, item % shape.n_head_kv, s);
      }
    });
    return 0;
  }

  // Few units: those that span several segments run as chunks of consecutive segments, about
  // `kSplitItemsPerThread` chunks per thread in all, shared out in proportion to their
  // segments, while the partial states last. A chunk keeps each segment's state apart (a merge
  // inside it would group them differently from one thread folding them all) and reads its
  // segments in order, so the tile prefetch runs on across their bounds. Planned here, on the
  // calling thread, in increasing order.
  const auto i32 = [](int64_t v) { return static_cast<int32_t>(v); };
  auto segments_of = [&](int64_t t0, int64_t t1) { return segment_count(tile_blocks(p, t0, t1)); };
  int64_t all_segments = 0;
  for (int64_t t0 = 0; t0 < n_batch; t0 = tile_end(batch, t0)) {
    all_segments += segments_of(t0, tile_end(batch, t0)) * shape.n_head_kv;
  }
  const int64_t target_chunks = kSplitItemsPerThread * threads;
  auto& items = ws.items_;
  items.clear();
  int64_t slots_used = 0, n_split = 0, segments_apart = 0;
  for (int64_t t0 = 0; t0 < n_batch; t0 = tile_end(batch, t0)) {
    const int64_t t1 = tile_end(batch, t0);
    const int64_t n_seg = segments_of(t0, t1);
    const int64_t states_needed = n_seg * (t1 - t0);
    const int64_t n_chunks =
        std::min(n_seg, (target_chunks * n_seg + all_segments - 1) / all_segments);
    for (int64_t g = 0; g < shape.n_head_kv; ++g) {
      if (n_chunks < 2 || slots_used + states_needed > ws.partial_states_) {
        items.push_back({i32(t0), i32(t1), i32(g), -1, -1, -1, -1});
        continue;
      }
      ws.pending_[static_cast<size_t>(n_split)].store(i32(n_chunks), std::memory_order_relaxed);
      for (int64_t c = 0; c < n_chunks; ++c) {
        items.push_back({i32(t0), i32(t1), i32(g), i32(n_seg * c / n_chunks),
                         i32(n_seg * (c + 1) / n_chunks), i32(n_split), slots_used});
      }
      slots_used += states_needed;
      segments_apart += n_seg;
      ++n_split;
    }
  }

  std::atomic<int64_t> next_item{0};
  const auto n_items = static_cast<int64_t>(items.size());
  pool.parallel_for(pool.size(), [&](int64_t, int64_t, int thread) {
    const ThreadScratch s = scratch_of(thread);
    for (int64_t item = next_item.fetch_add(1, std::memory_order_relaxed); item < n_items;
         item = next_item.fetch_add(1, std::memory_order_relaxed)) {
      const AttentionWorkspace::Item& it = items[static_cast<size_t>(item)];
      if (it.unit < 0) {
        run_whole(p, it.t0, it.t1, it.g, s);
        continue;
      }
      // Segment i of the unit (counted from its first) keeps its queries' states at
      // `unit_states + i * n_q * state_floats`.
      const int64_t n_q = it.t1 - it.t0;
      float* unit_states = ws.partials_.data() + it.slot * p.state_floats;
      auto segment_states = [&](int64_t i) { return unit_states + i * n_q * p.state_floats; };
      const TileBlocks tb = tile_blocks(p, it.t0, it.t1);
      const int64_t seg_first = first_segment(tb);
      const int64_t b_chunk_end = segment_last_block(tb, seg_first + it.seg_end - 1);
      for (int64_t i = it.seg_begin; i < it.seg_end; ++i) {
        float* states = segment_states(i);
        for (int64_t t = 0; t < n_q; ++t) {
          clear_state(state_at(states + t * p.state_floats, n_gqa, hd), n_gqa, hd);
        }
        fold_blocks(p, it.t0, it.t1, it.g, segment_first_block(tb, seg_first + i),
                    segment_last_block(tb, seg_first + i), b_chunk_end, s, states);
      }
      // The last chunk of the unit to finish merges every segment, in order, into the first's
      // states (the release/acquire pair makes the other chunks' states visible to it).
      if (ws.pending_[static_cast<size_t>(it.unit)].fetch_sub(1, std::memory_order_acq_rel) != 1) {
        continue;
      }
      const int64_t n_seg = segment_count(tb);
      for (int64_t i = 1; i < n_seg; ++i) {
        for (int64_t t = 0; t < n_q; ++t) {
          merge_state(state_at(segment_states(0) + t * p.state_floats, n_gqa, hd),
                      state_at(segment_states(i) + t * p.state_floats, n_gqa, hd), n_gqa, hd);
        }
      }
      for (int64_t t = it.t0; t < it.t1; ++t) {
        write_output(state_at(segment_states(0) + (t - it.t0) * p.state_floats, n_gqa, hd), n_gqa,
                     hd, out + t * p.q_dim + it.g * n_gqa * hd);
      }
    }
  });
  return segments_apart;
}

}  // namespace capibara
