// The keys and values one sequence has computed, per layer and position, in a chosen storage
// type. This contiguous per-sequence cache is the seam the paged KV cache of the serving engine
// replaces: the forward pass only stores rows and reads them back as f32.
//
// Thread safety: owned by one sequence; the forward pass writes distinct positions and reads
// them from its pool threads after all writes of a layer are done.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace capibara {

enum class KvType { kF32, kF16, kBF16 };
std::string_view kv_type_name(KvType type);
std::optional<KvType> parse_kv_type(std::string_view name);  // "f32", "f16", "bf16"

class SequenceKvCache {
 public:
  SequenceKvCache(int64_t n_layer, int64_t n_ctx, int64_t kv_dim, KvType type);

  // Costly (copies every stored row), hence explicit.
  SequenceKvCache clone() const { return *this; }
  SequenceKvCache(SequenceKvCache&&) = default;
  SequenceKvCache& operator=(SequenceKvCache&&) = default;

  KvType type() const { return type_; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t kv_dim() const { return kv_dim_; }
  size_t size_bytes() const { return k_.size() + v_.size(); }

  // Number of positions computed so far: positions [0, n_tokens) are valid.
  int64_t n_tokens() const { return n_tokens_; }
  void set_n_tokens(int64_t n) { n_tokens_ = n; }

  // Stores `k` and `v` ([kv_dim] each) of `layer` at `pos`.
  void store(int64_t layer, int64_t pos, const float* k, const float* v);
  // Reads `n` values from `offset` within the row at `pos` as f32.
  void read_k(int64_t layer, int64_t pos, int64_t offset, int64_t n, float* out) const;
  void read_v(int64_t layer, int64_t pos, int64_t offset, int64_t n, float* out) const;

 private:
  SequenceKvCache(const SequenceKvCache&) = default;
  size_t row_offset(int64_t layer, int64_t pos) const;
  void read(const std::vector<uint8_t>& data, int64_t layer, int64_t pos, int64_t offset, int64_t n,
            float* out) const;

  int64_t n_layer_;
  int64_t n_ctx_;
  int64_t kv_dim_;
  KvType type_;
  size_t elem_bytes_;
  int64_t n_tokens_ = 0;
  std::vector<uint8_t> k_;  // [n_layer, n_ctx, kv_dim] elements of `type_`
  std::vector<uint8_t> v_;  // [n_layer, n_ctx, kv_dim] elements of `type_`
};

}  // namespace capibara
