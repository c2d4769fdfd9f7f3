// Causal attention of a batch's queries over each sequence's paged KV cache: grouped KV heads
// (GQA), optionally restricted to a sliding window of the most recent positions (Mistral,
// Gemma 3, Cohere2). Flash-style: keys and values are read one block (tile) at a time straight
// from the pool and folded into a running (online) softmax, so no score row over the whole
// context exists and the scratch does not grow with the context. Consecutive batch entries of one
// sequence (a prefill) share each tile's read and conversion; every entry's output is still
// bit-identical to the one it gets alone in a batch, on any number of threads.
//
// Thread safety: called by the model's thread; runs on its pool. The caches must hold every
// position up to each entry's `pos` for `layer` before the call.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/aligned_buffer.hpp"
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

// The memory `attend` works in, sized once for a shape's heads and a pool: each thread's tile
// scratch, and the partial softmax states of context segments run as work items of their own
// (see attention.cpp). Its size does not grow with the context or the batch.
class AttentionWorkspace {
 public:
  AttentionWorkspace() = default;
  AttentionWorkspace(const AttentionShape& shape, int threads);

  int threads() const { return threads_; }
  // What a workspace for these heads and threads allocates (the registry's memory estimate).
  static int64_t bytes_for(const AttentionShape& shape, int threads);

 private:
  friend int64_t attend(const AttentionShape&, int64_t, std::span<const BatchToken>,
                        std::span<SequenceKvCache* const>, const float*, float*,
                        AttentionWorkspace&, ThreadPool&);

  // One work item: KV head `g` of the query tile [t0, t1), over every context segment it sees
  // (unit < 0), or over its segments [seg_begin, seg_end) (counted from the first it sees), each
  // of whose states goes to the partial states.
  struct Item {
    int32_t t0, t1, g;
    int32_t seg_begin, seg_end;
    int32_t unit;  // with segments: the index of its (tile, KV head) in `pending_`
    int64_t slot;  // with segments: the unit's first state in `partials_`, counted in states
  };

  int threads_ = 0;
  int64_t per_thread_ = 0;      // floats of each thread's scratch, whole cache lines
  int64_t state_floats_ = 0;    // one query's softmax state over its GQA group, whole lines
  int64_t partial_states_ = 0;  // capacity of `partials_`, in states
  AlignedVector<float> scratch_;
  AlignedVector<uint16_t> halves_;  // each thread's fp8 K and V tiles as halves
  AlignedVector<float> partials_;
  std::vector<Item> items_;
  std::unique_ptr<std::atomic<int32_t>[]> pending_;  // segments still running, per split unit
  int64_t max_units_ = 0;                            // capacity of `pending_`
};

// out[t] ([n_head * head_dim]) = softmax(q[t] . K^T * scale) V over the positions of entry t's
// sequence that it may see. `q` and `out` are [batch.size(), n_head * head_dim]; `workspace` was
// made for this shape's heads and at least `pool.size()` threads. Returns how many context
// segments ran apart from the rest of their (tile, KV head) (0 when each ran as one item).
int64_t attend(const AttentionShape& shape, int64_t layer, std::span<const BatchToken> batch,
               std::span<SequenceKvCache* const> caches, const float* q, float* out,
               AttentionWorkspace& workspace, ThreadPool& pool);

}  // namespace capibara
