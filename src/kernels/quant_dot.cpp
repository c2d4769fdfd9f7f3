// The weight type -> activation type pairing and activation row sizes.
#include "kernels/quant_dot.hpp"

#include <algorithm>
#include <cassert>

#include "kernels/packed_weights.hpp"

namespace capibara::kernels {

std::optional<GgmlType> activation_type(GgmlType weight) {
  for (const auto& pair : kQuantDotPairs) {
    if (pair.weight == weight) return pair.activation;
  }
  return std::nullopt;
}

size_t activation_row_bytes(GgmlType weight, int64_t n) {
  const auto act = activation_type(weight);
  assert(act.has_value());
  const auto bytes = ggml_row_bytes(*act, n);
  assert(bytes.has_value());
  return bytes.value_or(0);
}

size_t max_activation_row_bytes(int64_t n) {
  size_t most = 0;
  for (const auto& pair : kQuantDotPairs) {
    if (pair.activation == GgmlType::kF32) continue;
    const GgmlTypeTraits& t = traits_of(pair.activation);
    const int64_t blocks = (n + t.block_size - 1) / t.block_size;
    most = std::max(most, static_cast<size_t>(blocks) * t.block_bytes);
  }
  // The packed kernels' activations (packed_weights.hpp) share the scratch rows, the BlockQ8Sum
  // blocks with their widened copies where a table reads them.
  const auto blocks32 = static_cast<size_t>((n + 31) / 32);
  return std::max({most, blocks32 * (sizeof(BlockQ8Sum) + sizeof(BlockQ8Wide)),
                   static_cast<size_t>(n) * sizeof(float)});
}

}  // namespace capibara::kernels
