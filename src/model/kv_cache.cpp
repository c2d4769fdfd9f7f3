// Per-sequence KV storage with f32 / f16 / bf16 rows.
#include "model/kv_cache.hpp"

#include <cassert>
#include <cstring>

#include "core/half.hpp"

namespace capibara {

std::string_view kv_type_name(KvType type) {
  switch (type) {
    case KvType::kF32:
      return "f32";
    case KvType::kF16:
      return "f16";
    case KvType::kBF16:
      return "bf16";
  }
  return "?";
}

std::optional<KvType> parse_kv_type(std::string_view name) {
  for (KvType t : {KvType::kF32, KvType::kF16, KvType::kBF16}) {
    if (kv_type_name(t) == name) return t;
  }
  return std::nullopt;
}

SequenceKvCache::SequenceKvCache(int64_t n_layer, int64_t n_ctx, int64_t kv_dim, KvType type)
    : n_layer_(n_layer),
      n_ctx_(n_ctx),
      kv_dim_(kv_dim),
      type_(type),
      elem_bytes_(type == KvType::kF32 ? 4 : 2),
      k_(static_cast<size_t>(n_layer * n_ctx * kv_dim) * elem_bytes_),
      v_(k_.size()) {}

size_t SequenceKvCache::row_offset(int64_t layer, int64_t pos) const {
  assert(layer >= 0 && layer < n_layer_ && pos >= 0 && pos < n_ctx_);
  return static_cast<size_t>((layer * n_ctx_ + pos) * kv_dim_) * elem_bytes_;
}

namespace {

void encode_row(KvType type, const float* src, uint8_t* dst, int64_t n) {
  switch (type) {
    case KvType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case KvType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = f32_to_fp16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    case KvType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = f32_to_bf16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
  }
}

}  // namespace

void SequenceKvCache::store(int64_t layer, int64_t pos, const float* k, const float* v) {
  const size_t off = row_offset(layer, pos);
  encode_row(type_, k, k_.data() + off, kv_dim_);
  encode_row(type_, v, v_.data() + off, kv_dim_);
}

void SequenceKvCache::read(const std::vector<uint8_t>& data, int64_t layer, int64_t pos,
                           int64_t offset, int64_t n, float* out) const {
  assert(offset >= 0 && offset + n <= kv_dim_);
  const uint8_t* src =
      data.data() + row_offset(layer, pos) + static_cast<size_t>(offset) * elem_bytes_;
  switch (type_) {
    case KvType::kF32:
      std::memcpy(out, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case KvType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = fp16_to_f32(h);
      }
      return;
    case KvType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = bf16_to_f32(h);
      }
      return;
  }
}

void SequenceKvCache::read_k(int64_t layer, int64_t pos, int64_t offset, int64_t n,
                             float* out) const {
  read(k_, layer, pos, offset, n, out);
}

void SequenceKvCache::read_v(int64_t layer, int64_t pos, int64_t offset, int64_t n,
                             float* out) const {
  read(v_, layer, pos, offset, n, out);
}

}  // namespace capibara
