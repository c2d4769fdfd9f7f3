// Writes GGUF v3 files: metadata in insertion order, tensors aligned to `general.alignment`.
// Used by tests (to build valid and deliberately broken files) and by tools (quantize, synth).
// Small files are built in memory (`add_tensor` + `write`); files too large for that are streamed
// (`add_tensor_info` + `header_bytes`, then the caller writes each tensor's data and padding).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/ggml_type.hpp"
#include "gguf/gguf_file.hpp"

namespace capibara::gguf {

class GgufWriter {
 public:
  explicit GgufWriter(size_t alignment = 32);

  void set(std::string_view key, Value value);  // replaces an existing key in place
  void set_u32(std::string_view key, uint32_t v);
  void set_i32(std::string_view key, int32_t v);
  void set_u64(std::string_view key, uint64_t v);
  void set_f32(std::string_view key, float v);
  void set_bool(std::string_view key, bool v);
  void set_string(std::string_view key, std::string v);
  void set_strings(std::string_view key, const std::vector<std::string>& v);
  void set_f32s(std::string_view key, const std::vector<float>& v);
  void set_i32s(std::string_view key, const std::vector<int32_t>& v);

  // `data` must hold exactly the bytes of `shape` in `type` (checked; InvalidArgumentError).
  void add_tensor(std::string name, GgmlType type, std::vector<int64_t> shape,
                  std::span<const uint8_t> data);

  // Streaming: declares a tensor without its data (same checks as `add_tensor`) and returns its
  // size in bytes. The file is then `header_bytes()` followed, for each tensor in the order
  // added, by its data and `padding_after(size)` zero bytes. A writer holding a declared tensor
  // cannot `to_bytes` / `write` (InvalidArgumentError).
  size_t add_tensor_info(std::string name, GgmlType type, std::vector<int64_t> shape);
  // Everything before the first tensor's data: header, metadata, tensor infos, padding.
  std::vector<uint8_t> header_bytes() const;
  size_t alignment() const { return alignment_; }
  size_t padding_after(size_t n_bytes) const {
    return (alignment_ - n_bytes % alignment_) % alignment_;
  }

  std::vector<uint8_t> to_bytes() const;
  void write(const std::filesystem::path& path) const;  // SystemError on I/O failure

 private:
  struct PendingTensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> shape;
    size_t n_bytes = 0;
    bool has_data = false;      // false for `add_tensor_info`
    std::vector<uint8_t> data;  // [n_bytes] when `has_data`
  };
  // Validates a new tensor's name, type and shape; returns its size in bytes.
  size_t checked_tensor_bytes(std::string_view name, GgmlType type,
                              const std::vector<int64_t>& shape) const;

  size_t alignment_;
  std::vector<MetadataEntry> metadata_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace capibara::gguf
