// The paged KV cache: a pool of fixed-size blocks of keys and values (`KvBlockPool`) and the
// per-sequence view the forward pass writes and attention reads (`SequenceKvCache`: a block
// table over a pool). Rows are stored as f32, f16, bf16 or fp8 E4M3 with one scale per block,
// layer, K/V and KV head. Which blocks a sequence holds is decided above (the engine's block
// allocator); a standalone `SequenceKvCache` owns a private pool covering its whole context, for
// single-sequence callers (the generator, golden evaluation, tests).
//
// Thread safety: owned by the engine thread (or one single-sequence caller); the forward pass
// writes distinct positions and reads them from its pool threads after all writes of a layer.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "core/fp8.hpp"
#include "core/huge_page_buffer.hpp"

namespace capibara {

enum class KvType { kF32, kF16, kBF16, kFp8 };
std::string_view kv_type_name(KvType type);
std::optional<KvType> parse_kv_type(std::string_view name);  // "f32", "f16", "bf16", "fp8"
size_t kv_type_bytes(KvType type);

// Positions per KV block.
inline constexpr int64_t kKvBlockTokens = 16;
// Blocks per run of the pool's layout (`KvBlockPool`): within a run, one (layer, K/V, KV head)
// keeps its tiles of consecutive blocks side by side.
inline constexpr int64_t kKvRunBlocks = 16;

// Blocks needed to hold `n_tokens` positions.
inline int64_t kv_blocks_for(int64_t n_tokens) {
  return (n_tokens + kKvBlockTokens - 1) / kKvBlockTokens;
}

// fp8 E4M3 (bias 7, no infinities, largest finite 448) conversion, round to nearest even,
// saturating.
uint8_t f32_to_e4m3(float x);
inline constexpr float kE4m3Max = 448.0f;

class KvBlockPool {
 public:
  // Memory is reserved, not touched: pages are committed as blocks are first written.
  KvBlockPool(int64_t n_layer, int64_t n_head_kv, int64_t head_dim, int64_t n_blocks, KvType type);
  KvBlockPool(const KvBlockPool&) = delete;
  KvBlockPool& operator=(const KvBlockPool&) = delete;

  KvType type() const { return type_; }
  int64_t n_layer() const { return n_layer_; }
  int64_t n_head_kv() const { return n_head_kv_; }
  int64_t head_dim() const { return head_dim_; }
  int64_t kv_dim() const { return n_head_kv_ * head_dim_; }
  int64_t n_blocks() const { return n_blocks_; }
  size_t size_bytes() const { return data_bytes_ + scales_.size() * sizeof(float); }
  // Bytes of one block (every layer, K and V, scales included).
  size_t block_bytes() const;

  // Stores `k` and `v` ([kv_dim] each) of `layer` at `slot` (< kKvBlockTokens) of `block`.
  // Slots of a block are written in order from 0: writing slot 0 starts the block afresh.
  void store(int32_t block, int64_t layer, int64_t slot, const float* k, const float* v);
  // Reads the keys of one KV head in `block` as the transposed f32 tile that attention scores
  // against: `kt` is [head_dim, kKvBlockTokens], lane s holding slot s. Every lane is read;
  // lanes of slots not written since the block was started hold stale but finite values. An fp8
  // tile is read without its scale (`tile_scale`): attention folds that into its score scale and
  // its weights, so that every way it reads a tile does the same arithmetic.
  void read_keys(int32_t block, int64_t layer, int64_t head, float* kt) const;
  // Reads the values of slots [first, first + n) of one KV head as f32 rows: out is [n, head_dim]
  // (fp8: without the scale, as `read_keys`).
  void read_values(int32_t block, int64_t layer, int64_t head, int64_t first, int64_t n,
                   float* out) const;
  // What the elements `read_keys` (`kv` 0) and `read_values` (1) give for one KV head in `block`
  // are to be multiplied by: the fp8 tile's scale, a power of two (or 0 in a block whose rows so
  // far are all zero); 1 for the other types.
  float tile_scale(int32_t block, int64_t layer, int kv, int64_t head) const {
    return type_ == KvType::kFp8 ? scales_[scale_index(block, layer, kv, head)] : 1.0f;
  }
  // The tile of one KV head in `block` as stored, for the kernels that widen it in registers:
  // keys (`kv` 0) [head_dim, kKvBlockTokens], transposed as `read_keys` gives them; values (1)
  // [kKvBlockTokens, head_dim]. `half_tile` for fp16 and bf16 pools, `fp8_tile` for fp8 ones.
  const uint16_t* half_tile(int32_t block, int64_t layer, int kv, int64_t head) const;
  const uint8_t* fp8_tile(int32_t block, int64_t layer, int kv, int64_t head) const;
  // Asks the caches for the keys and values of one KV head in `block` (all slots), which a
  // `read_keys` / `read_values` will soon want: where a sequence's next block is not the next of
  // the same run (a run's end, or blocks handed out apart), its tiles lie far from the previous
  // block's, so the hardware prefetchers do not see them coming and each would start with a DRAM
  // miss.
  void prefetch_tiles(int32_t block, int64_t layer, int64_t head) const;

 private:
  // Element offset of the (block, layer, kv, head) tile in `data_`.
  size_t head_offset(int32_t block, int64_t layer, int kv, int64_t head) const;
  // Element offset of (slot, dimension i) inside a tile: keys are stored transposed.
  size_t tile_element(int kv, int64_t slot, int64_t i) const {
    return kv == 0 ? static_cast<size_t>(i * kKvBlockTokens + slot)
                   : static_cast<size_t>(slot * head_dim_ + i);
  }
  // Widens `n` stored elements at element offset `offset` to f32 (fp8: without the scale).
  void widen(size_t offset, int64_t n, float* out) const;
  size_t scale_index(int32_t block, int64_t layer, int kv, int64_t head) const;
  void store_head(int32_t block, int64_t layer, int kv, int64_t head, int64_t slot, const float* x);

  int64_t n_layer_;
  int64_t n_head_kv_;
  int64_t head_dim_;
  int64_t n_blocks_;
  KvType type_;
  // The active kernel table's conversion for fp16 / bf16 tiles; null for other types.
  void (*widen_)(const uint16_t* x, float* out, int64_t n) = nullptr;
  // Its conversion for fp8 tiles; null for other types.
  void (*fp8_widen_)(const uint8_t* x, float scale, float* out, int64_t n) = nullptr;
  size_t elem_bytes_;
  size_t data_bytes_;
  // Tiles of kKvBlockTokens x head_dim elements of `type_`: a value tile is [slot, head_dim], a
  // key tile [head_dim, slot], transposed for the score kernels (attention_tiles.hpp), so that no
  // read has to transpose it. Blocks are grouped in runs of kKvRunBlocks (the last run may be
  // shorter), each run laid out [n_layer, 2 (K, V), n_head_kv, run blocks]: attention reads one
  // (layer, K/V, KV head) over a sequence's blocks in order, and where those blocks are
  // consecutive (a prompt's; sequences decoding side by side take theirs in turn) it reads 16
  // tiles side by side, a stream the hardware prefetchers run ahead of, where block-major tiles
  // lay hundreds of KiB apart and each began with a DRAM miss (decoding attention at depth 4096,
  // 4 KV heads, one thread: 514 -> 395 us; docs/PERFORMANCE.md, "KV tiles in runs"). A run, not
  // the whole pool, so that a block's first write still commits memory near it only (one run's
  // tiles).
  // Mapped, not touched, so that unused runs cost address space only; on huge pages, because a
  // sequence's runs, and its blocks in different runs, lie megabytes apart, and with 4 KiB pages
  // each jump cost a TLB miss and a page walk.
  HugePageBuffer data_;
  std::vector<float> scales_;  // [n_blocks, n_layer, 2, n_head_kv] fp8 scales; empty otherwise
};

class SequenceKvCache {
 public:
  // Standalone: a private pool holding `n_ctx` positions, block i at table entry i.
  SequenceKvCache(int64_t n_layer, int64_t n_ctx, int64_t n_head_kv, int64_t head_dim, KvType type);
  // A view over `pool` (which must outlive it) with no block yet: `set_blocks` binds them.
  SequenceKvCache(KvBlockPool& pool, int64_t n_ctx);
  SequenceKvCache(SequenceKvCache&&) = default;
  SequenceKvCache& operator=(SequenceKvCache&&) = default;

  KvType type() const { return pool_->type(); }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t kv_dim() const { return pool_->kv_dim(); }
  const KvBlockPool& pool() const { return *pool_; }
  // Bytes of the private pool; 0 for a view (the pool's owner accounts for it).
  size_t size_bytes() const { return owned_ ? owned_->size_bytes() : 0; }

  // Binds the block table (kept by the caller, valid until the next call): position p lives in
  // `blocks[p / kKvBlockTokens]`.
  void set_blocks(std::span<const int32_t> blocks) { blocks_ = blocks; }
  std::span<const int32_t> blocks() const { return blocks_; }
  // Positions the bound blocks can hold.
  int64_t capacity_tokens() const { return static_cast<int64_t>(blocks_.size()) * kKvBlockTokens; }

  // Number of positions computed so far: positions [0, n_tokens) are valid.
  int64_t n_tokens() const { return n_tokens_; }
  void set_n_tokens(int64_t n) { n_tokens_ = n; }

  // Stores `k` and `v` ([kv_dim] each) of `layer` at `pos`.
  void store(int64_t layer, int64_t pos, const float* k, const float* v) {
    pool_->store(blocks_[static_cast<size_t>(pos / kKvBlockTokens)], layer, pos % kKvBlockTokens, k,
                 v);
  }

 private:
  std::unique_ptr<KvBlockPool> owned_;  // standalone only
  std::vector<int32_t> own_table_;      // [n_ctx / kKvBlockTokens] standalone only
  KvBlockPool* pool_;
  std::span<const int32_t> blocks_;
  int64_t n_ctx_;
  int64_t n_tokens_ = 0;
};

}  // namespace capibara
