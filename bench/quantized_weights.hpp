// Weights for the micro-benchmarks: normal values (mean 0, standard deviation 0.02, as a model's)
// quantized row by row by the reference quantizer, so that every scale is a normal number (random
// bytes would give denormal scale products, which cost microcode assists on some CPUs).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "core/ggml_type.hpp"
#include "kernels/quantize.hpp"

namespace capibara::kernels {

// `rows` rows of `cols` weights in `type`, row-major, `ggml_row_bytes(type, cols)` apart, in
// 8-byte aligned storage.
inline std::vector<uint64_t> quantized_normal_rows(GgmlType type, int64_t rows, int64_t cols,
                                                   uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  const size_t row_bytes = ggml_row_bytes(type, cols).value_or(0);
  std::vector<uint64_t> storage((row_bytes * static_cast<size_t>(rows) + 7) / 8);
  auto* bytes = reinterpret_cast<uint8_t*>(storage.data());
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (auto& v : row) v = dist(rng);
    quantize_row_ref(type, row.data(), bytes + static_cast<size_t>(r) * row_bytes, cols);
  }
  return storage;
}

}  // namespace capibara::kernels
