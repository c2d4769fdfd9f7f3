// The per-type size table; block sizes and byte counts follow the block structs in
// quant_blocks.hpp.
#include "core/ggml_type.hpp"

#include <array>
#include <cassert>
#include <cstdint>

namespace capibara {
namespace {

constexpr std::array kTraits = {
    GgmlTypeTraits{GgmlType::kF32, "f32", 1, 4, true},
    GgmlTypeTraits{GgmlType::kF16, "f16", 1, 2, true},
    GgmlTypeTraits{GgmlType::kQ4_0, "q4_0", 32, 18, true},
    GgmlTypeTraits{GgmlType::kQ4_1, "q4_1", 32, 20, true},
    GgmlTypeTraits{GgmlType::kQ5_0, "q5_0", 32, 22, true},
    GgmlTypeTraits{GgmlType::kQ5_1, "q5_1", 32, 24, true},
    GgmlTypeTraits{GgmlType::kQ8_0, "q8_0", 32, 34, true},
    GgmlTypeTraits{GgmlType::kQ8_1, "q8_1", 32, 36, false},
    GgmlTypeTraits{GgmlType::kQ2_K, "q2_K", 256, 84, true},
    GgmlTypeTraits{GgmlType::kQ3_K, "q3_K", 256, 110, true},
    GgmlTypeTraits{GgmlType::kQ4_K, "q4_K", 256, 144, true},
    GgmlTypeTraits{GgmlType::kQ5_K, "q5_K", 256, 176, true},
    GgmlTypeTraits{GgmlType::kQ6_K, "q6_K", 256, 210, true},
    GgmlTypeTraits{GgmlType::kQ8_K, "q8_K", 256, 292, true},
    GgmlTypeTraits{GgmlType::kI8, "i8", 1, 1, false},
    GgmlTypeTraits{GgmlType::kI16, "i16", 1, 2, false},
    GgmlTypeTraits{GgmlType::kI32, "i32", 1, 4, false},
    GgmlTypeTraits{GgmlType::kI64, "i64", 1, 8, false},
    GgmlTypeTraits{GgmlType::kF64, "f64", 1, 8, false},
    GgmlTypeTraits{GgmlType::kBF16, "bf16", 1, 2, true},
};

}  // namespace

std::optional<GgmlTypeTraits> ggml_type_traits(uint32_t type_id) {
  for (const auto& t : kTraits) {
    if (static_cast<uint32_t>(t.type) == type_id) return t;
  }
  return std::nullopt;
}

const GgmlTypeTraits& traits_of(GgmlType type) {
  for (const auto& t : kTraits) {
    if (t.type == type) return t;
  }
  assert(false && "traits_of: unknown GgmlType");
  return kTraits[0];
}

std::string_view ggml_type_name(GgmlType type) { return traits_of(type).name; }

std::optional<size_t> ggml_row_bytes(GgmlType type, int64_t n_elements) {
  const auto& t = traits_of(type);
  if (n_elements < 0 || n_elements % t.block_size != 0) return std::nullopt;
  const auto blocks = static_cast<size_t>(n_elements / t.block_size);
  if (blocks > SIZE_MAX / t.block_bytes) return std::nullopt;  // would wrap around
  return blocks * t.block_bytes;
}

}  // namespace capibara
