// Prefill micro-kernels (`vec_dot_tile`) of every table that has them against the scalar table's
// `vec_dot` for each (row, token) (bit-identical to the table's own `vec_dot` too), at odd row
// counts, token counts and row lengths; and `matmul` through the tiles (with edges) against
// per-row, per-token `vec_dot`.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/ggml_type.hpp"
#include "core/thread_pool.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/matmul.hpp"
#include "kernels/quant_dot.hpp"
#include "kernels/quantize.hpp"

namespace capibara::kernels {
namespace {

struct Matrix {
  std::vector<uint64_t> words;  // 8-byte aligned bytes
  size_t row_bytes = 0;
  uint8_t* row(int64_t r) {
    return reinterpret_cast<uint8_t*>(words.data()) + static_cast<size_t>(r) * row_bytes;
  }
};

Matrix random_matrix(int64_t rows, int64_t n, std::mt19937& rng,
                     const std::function<void(const float*, void*, int64_t)>& quantize,
                     size_t row_bytes) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  Matrix m;
  m.row_bytes = row_bytes;
  m.words.assign((row_bytes * static_cast<size_t>(rows) + 7) / 8 + 1, 0);
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t r = 0; r < rows; ++r) {
    for (auto& v : x) v = dist(rng);
    quantize(x.data(), m.row(r), n);
  }
  return m;
}

constexpr GgmlType kTypes[] = {GgmlType::kQ4_0, GgmlType::kQ8_0, GgmlType::kQ4_K, GgmlType::kQ6_K};

TEST(QuantDotTile, MatchesScalarVecDotForEveryRowAndToken) {
  const QuantDotKernels* scalar_table = nullptr;
  int tested = 0;
  for (const auto* table : available_kernel_tables()) {
    for (const GgmlType type : kTypes) {
      const QuantDotKernels& k = quant_dot_kernels(*table, type);
      if (k.vec_dot_tile == nullptr) continue;
      ASSERT_GT(k.tile_rows, 0);
      ASSERT_GT(k.tile_tokens, 0);
      scalar_table = &quant_dot_kernels(scalar_kernel_table(), type);
      const int64_t block = ggml_type_traits(static_cast<uint32_t>(type))->block_size;
      const GgmlType act = activation_type(type).value();
      for (const int64_t blocks : {1, 2, 3, 5, 8, 11}) {
        const int64_t n = blocks * block;
        std::mt19937 rng(static_cast<uint32_t>(n));
        const size_t w_bytes = ggml_row_bytes(type, n).value();
        const size_t a_bytes = ggml_row_bytes(act, n).value() + 8;  // odd stride on purpose
        const int rows = k.tile_rows;
        const int tokens = k.tile_tokens;
        Matrix w = random_matrix(
            rows, n, rng,
            [&](const float* x, void* d, int64_t m) { quantize_row_ref(type, x, d, m); }, w_bytes);
        Matrix a = random_matrix(tokens, n, rng, k.quantize_activations, a_bytes);
        const size_t y_stride = static_cast<size_t>(rows) + 3;
        std::vector<float> y(y_stride * static_cast<size_t>(tokens), -1.0f);
        k.vec_dot_tile(n, w.row(0), w_bytes, a.row(0), a_bytes, y.data(), y_stride);
        for (int t = 0; t < tokens; ++t) {
          for (int r = 0; r < rows; ++r) {
            const float got = y[static_cast<size_t>(t) * y_stride + static_cast<size_t>(r)];
            const float own = k.vec_dot(n, w.row(r), a.row(t));
            const float ref = scalar_table->vec_dot(n, w.row(r), a.row(t));
            EXPECT_EQ(std::memcmp(&got, &own, sizeof(float)), 0)
                << isa_name(table->isa) << " " << ggml_type_name(type) << " n=" << n << " r=" << r
                << " t=" << t << ": " << got << " vs " << own;
            EXPECT_NEAR(got, ref, 1e-4f * (1.0f + std::abs(ref)))
                << isa_name(table->isa) << " " << ggml_type_name(type) << " n=" << n;
          }
        }
        ++tested;
      }
    }
  }
  if (tested == 0) GTEST_SKIP() << "no table here has a prefill micro-kernel";
}

TEST(QuantDotTile, MatmulWithTilesMatchesVecDot) {
  ThreadPool pool(2);
  for (const auto* table : available_kernel_tables()) {
    for (const GgmlType type : kTypes) {
      const QuantDotKernels& k = quant_dot_kernels(*table, type);
      const QuantDotKernels& ref = quant_dot_kernels(scalar_kernel_table(), type);
      if (k.vec_dot == nullptr) continue;
      const int64_t block = ggml_type_traits(static_cast<uint32_t>(type))->block_size;
      for (const int64_t rows : {1, 3, 5, 13, 37}) {
        for (const int64_t n_tokens : {1, 2, 3, 5, 7, 17}) {
          const int64_t n = (rows % 2 == 0 ? 4 : 3) * block;
          std::mt19937 rng(static_cast<uint32_t>(rows * 100 + n_tokens));
          const size_t w_bytes = ggml_row_bytes(type, n).value();
          Matrix w = random_matrix(
              rows, n, rng,
              [&](const float* x, void* d, int64_t m) { quantize_row_ref(type, x, d, m); },
              w_bytes);
          std::normal_distribution<float> dist(0.0f, 1.0f);
          std::vector<float> x(static_cast<size_t>(n * n_tokens));
          for (auto& v : x) v = dist(rng);
          MatmulScratch scratch(pool.size(), n, n_tokens);
          std::vector<float> y(static_cast<size_t>(rows * n_tokens));
          const WeightMatrix wm{type, w.row(0), rows, n, w_bytes};
          matmul(*table, wm, x.data(), n_tokens, y.data(), pool, scratch);
          const size_t a_bytes = ggml_row_bytes(activation_type(type).value(), n).value();
          std::vector<uint64_t> act((a_bytes + 7) / 8 + 1);
          for (int64_t t = 0; t < n_tokens; ++t) {
            k.quantize_activations(x.data() + t * n, act.data(), n);
            for (int64_t r = 0; r < rows; ++r) {
              const float got = y[static_cast<size_t>(t * rows + r)];
              const float own = k.vec_dot(n, w.row(r), act.data());
              EXPECT_EQ(std::memcmp(&got, &own, sizeof(float)), 0)
                  << isa_name(table->isa) << " " << ggml_type_name(type) << " rows=" << rows
                  << " tokens=" << n_tokens << " r=" << r << " t=" << t;
              const float scalar = ref.vec_dot(n, w.row(r), act.data());
              EXPECT_NEAR(got, scalar, 1e-4f * (1.0f + std::abs(scalar)));
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace capibara::kernels
