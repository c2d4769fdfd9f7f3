// Paged KV storage: f32 / f16 / bf16 rows, or fp8 E4M3 with a scale per block and KV head.
#include "model/kv_cache.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

#include "core/half.hpp"
#include "kernels/kernel_table.hpp"

namespace capibara {

std::string_view kv_type_name(KvType type) {
  switch (type) {
    case KvType::kF32:
      return "f32";
    case KvType::kF16:
      return "f16";
    case KvType::kBF16:
      return "bf16";
    case KvType::kFp8:
      return "fp8";
  }
  return "?";
}

std::optional<KvType> parse_kv_type(std::string_view name) {
  for (KvType t : {KvType::kF32, KvType::kF16, KvType::kBF16, KvType::kFp8}) {
    if (kv_type_name(t) == name) return t;
  }
  return std::nullopt;
}

size_t kv_type_bytes(KvType type) {
  switch (type) {
    case KvType::kF32:
      return 4;
    case KvType::kF16:
    case KvType::kBF16:
      return 2;
    case KvType::kFp8:
      return 1;
  }
  return 4;
}

// E4M3: sign, 4 exponent bits (bias 7), 3 mantissa bits; exponent field 0 is subnormal
// (m * 2^-9); 0x7F / 0xFF are NaN, so the largest finite value is 0x7E = 1.75 * 2^8 = 448.
uint8_t f32_to_e4m3(float x) {
  const uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
  float a = std::fabs(x);
  if (std::isnan(a)) return 0x7F;
  if (a >= kE4m3Max) return sign | 0x7E;
  int e = 0;
  std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1): the normal exponent is e - 1
  int code;
  if (a == 0.0f || e - 1 < -6) {
    // Subnormal: multiples of 2^-9; 8 * 2^-9 rounds up into the smallest normal, code 0x08.
    code = static_cast<int>(std::nearbyint(std::ldexp(a, 9)));
  } else {
    const int q = static_cast<int>(std::nearbyint(std::ldexp(a, 3 - (e - 1))));  // in [8, 16]
    code = ((e - 1 + 7) << 3) + (q - 8);  // q == 16 carries into the next exponent
  }
  return static_cast<uint8_t>(sign | std::min(code, 0x7E));
}

KvBlockPool::KvBlockPool(int64_t n_layer, int64_t n_head_kv, int64_t head_dim, int64_t n_blocks,
                         KvType type)
    : n_layer_(n_layer),
      n_head_kv_(n_head_kv),
      head_dim_(head_dim),
      n_blocks_(n_blocks),
      type_(type),
      elem_bytes_(kv_type_bytes(type)),
      data_bytes_(
          static_cast<size_t>(n_blocks * n_layer * 2 * n_head_kv * kKvBlockTokens * head_dim) *
          elem_bytes_),
      data_(data_bytes_) {
  assert(n_layer > 0 && n_head_kv > 0 && head_dim > 0 && n_blocks >= 0);
  if (type == KvType::kFp8)
    scales_.assign(static_cast<size_t>(n_blocks * n_layer * 2 * n_head_kv), 0);
  // Attention widens the tiles several queries share (a decoding query's it reads as stored, or,
  // fp8, as halves): a vector conversion, not a per-element bit dance.
  if (type == KvType::kF16) widen_ = kernels::active_kernels().fp16_to_f32;
  if (type == KvType::kBF16) widen_ = kernels::active_kernels().bf16_to_f32;
  if (type == KvType::kFp8) fp8_widen_ = kernels::active_kernels().fp8_to_f32;
}

size_t KvBlockPool::block_bytes() const {
  const auto per_block_elems =
      static_cast<size_t>(n_layer_ * 2 * n_head_kv_ * kKvBlockTokens * head_dim_);
  const size_t scale_bytes =
      type_ == KvType::kFp8 ? static_cast<size_t>(n_layer_ * 2 * n_head_kv_) * sizeof(float) : 0;
  return per_block_elems * elem_bytes_ + scale_bytes;
}

size_t KvBlockPool::scale_index(int32_t block, int64_t layer, int kv, int64_t head) const {
  return static_cast<size_t>(((block * n_layer_ + layer) * 2 + kv) * n_head_kv_ + head);
}

size_t KvBlockPool::head_offset(int32_t block, int64_t layer, int kv, int64_t head) const {
  assert(block >= 0 && block < n_blocks_ && layer >= 0 && layer < n_layer_);
  // The run holding `block`, and its length (the last run may be short).
  const int64_t first = block / kKvRunBlocks * kKvRunBlocks;
  const int64_t run_blocks = std::min(kKvRunBlocks, n_blocks_ - first);
  const int64_t tiles_before_run = first * n_layer_ * 2 * n_head_kv_;
  const int64_t tile =
      tiles_before_run + ((layer * 2 + kv) * n_head_kv_ + head) * run_blocks + (block - first);
  return static_cast<size_t>(tile) * static_cast<size_t>(kKvBlockTokens * head_dim_);
}

void KvBlockPool::store_head(int32_t block, int64_t layer, int kv, int64_t head, int64_t slot,
                             const float* x) {
  const int64_t hd = head_dim_;
  uint8_t* base = data_.data() + head_offset(block, layer, kv, head) * elem_bytes_;
  switch (type_) {
    case KvType::kF32:
      for (int64_t i = 0; i < hd; ++i) {
        std::memcpy(base + tile_element(kv, slot, i) * sizeof(float), x + i, sizeof(float));
      }
      return;
    case KvType::kF16:
      for (int64_t i = 0; i < hd; ++i) {
        const uint16_t h = f32_to_fp16(x[i]);
        std::memcpy(base + 2 * tile_element(kv, slot, i), &h, 2);
      }
      return;
    case KvType::kBF16:
      for (int64_t i = 0; i < hd; ++i) {
        const uint16_t h = f32_to_bf16(x[i]);
        std::memcpy(base + 2 * tile_element(kv, slot, i), &h, 2);
      }
      return;
    case KvType::kFp8: {
      // The scale of a (block, head) is a power of two that leaves the largest magnitude
      // written so far 16x below the fp8 maximum, so later rows rarely need more. When one
      // does, the scale grows by a power of two and the rows already there are re-encoded
      // exactly (only values in the subnormal range lose bits). A full block is never
      // rewritten, so shared blocks stay intact.
      float& scale = scales_[scale_index(block, layer, kv, head)];
      if (slot == 0) scale = 0.0f;
      float amax = 0.0f;
      for (int64_t i = 0; i < hd; ++i) amax = std::max(amax, std::fabs(x[i]));
      if (amax > scale * kE4m3Max) {
        int e = 0;
        std::frexp(amax / kE4m3Max, &e);  // 2^e > amax / 448
        const float needed = std::ldexp(1.0f, e + 4);
        if (scale > 0.0f) {
          const float ratio = scale / needed;
          for (int64_t s = 0; s < slot; ++s) {
            for (int64_t i = 0; i < hd; ++i) {
              uint8_t& q = base[tile_element(kv, s, i)];
              q = f32_to_e4m3(e4m3_to_f32(q) * ratio);
            }
          }
        }
        scale = needed;
      }
      const float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
      for (int64_t i = 0; i < hd; ++i) base[tile_element(kv, slot, i)] = f32_to_e4m3(x[i] * inv);
      return;
    }
  }
}

void KvBlockPool::store(int32_t block, int64_t layer, int64_t slot, const float* k,
                        const float* v) {
  assert(slot >= 0 && slot < kKvBlockTokens);
  for (int64_t h = 0; h < n_head_kv_; ++h) {
    store_head(block, layer, 0, h, slot, k + h * head_dim_);
    store_head(block, layer, 1, h, slot, v + h * head_dim_);
  }
}

void KvBlockPool::prefetch_tiles(int32_t block, int64_t layer, int64_t head) const {
  const size_t bytes = static_cast<size_t>(kKvBlockTokens * head_dim_) * elem_bytes_;
  for (int kv = 0; kv < 2; ++kv) {
    const uint8_t* p = data_.data() + head_offset(block, layer, kv, head) * elem_bytes_;
    for (size_t line = 0; line < bytes; line += 64) __builtin_prefetch(p + line, 0, 3);
  }
}

const uint16_t* KvBlockPool::half_tile(int32_t block, int64_t layer, int kv, int64_t head) const {
  assert(type_ == KvType::kF16 || type_ == KvType::kBF16);
  // Elements of 2 bytes in a page-aligned buffer, at even offsets: 2-byte aligned.
  return reinterpret_cast<const uint16_t*>(data_.data()) + head_offset(block, layer, kv, head);
}

const uint8_t* KvBlockPool::fp8_tile(int32_t block, int64_t layer, int kv, int64_t head) const {
  assert(type_ == KvType::kFp8);
  return data_.data() + head_offset(block, layer, kv, head);
}

void KvBlockPool::widen(size_t offset, int64_t n, float* out) const {
  const uint8_t* src = data_.data() + offset * elem_bytes_;
  switch (type_) {
    case KvType::kF32:
      std::memcpy(out, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case KvType::kF16:
    case KvType::kBF16:
      // Elements of 2 bytes in a page-aligned buffer, at even offsets: 2-byte aligned.
      widen_(reinterpret_cast<const uint16_t*>(src), out, n);
      return;
    case KvType::kFp8:
      fp8_widen_(src, 1.0f, out, n);
      return;
  }
}

void KvBlockPool::read_keys(int32_t block, int64_t layer, int64_t head, float* kt) const {
  widen(head_offset(block, layer, 0, head), kKvBlockTokens * head_dim_, kt);
}

void KvBlockPool::read_values(int32_t block, int64_t layer, int64_t head, int64_t first, int64_t n,
                              float* out) const {
  assert(first >= 0 && first + n <= kKvBlockTokens);
  widen(head_offset(block, layer, 1, head) + tile_element(1, first, 0), n * head_dim_, out);
}

SequenceKvCache::SequenceKvCache(int64_t n_layer, int64_t n_ctx, int64_t n_head_kv,
                                 int64_t head_dim, KvType type)
    : owned_(
          std::make_unique<KvBlockPool>(n_layer, n_head_kv, head_dim, kv_blocks_for(n_ctx), type)),
      own_table_(static_cast<size_t>(kv_blocks_for(n_ctx))),
      pool_(owned_.get()),
      n_ctx_(n_ctx) {
  for (size_t i = 0; i < own_table_.size(); ++i) own_table_[i] = static_cast<int32_t>(i);
  blocks_ = own_table_;
}

SequenceKvCache::SequenceKvCache(KvBlockPool& pool, int64_t n_ctx) : pool_(&pool), n_ctx_(n_ctx) {}

}  // namespace capibara
