// Tensor storage types as GGUF numbers them, and the size facts every layer needs about them.
//
// The numbering is a wire format (`ggml_type` in GGUF files): never renumber. Per-type kernels
// (dequantize, dot products) live in kernels/; this header is only the data every layer shares.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace capibara {

enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kBF16 = 30,
};

struct GgmlTypeTraits {
  GgmlType type;
  std::string_view name;  // as llama.cpp prints it: "q4_K", "bf16"
  int64_t block_size;     // weights per block (1 for plain types)
  size_t block_bytes;     // bytes per block
  bool can_dequantize;    // capibara has a reference dequantizer for it
};

// Traits of a type id read from a file; nullopt when capibara does not know the id.
std::optional<GgmlTypeTraits> ggml_type_traits(uint32_t type_id);
// Traits of a known type (programmer error to pass an unknown enum value).
const GgmlTypeTraits& traits_of(GgmlType type);
std::string_view ggml_type_name(GgmlType type);

// Bytes of one row of `n_elements` weights; nullopt when `n_elements` is not a multiple of the
// block size (such a row cannot be stored in this type) or the size does not fit in size_t.
std::optional<size_t> ggml_row_bytes(GgmlType type, int64_t n_elements);

}  // namespace capibara
