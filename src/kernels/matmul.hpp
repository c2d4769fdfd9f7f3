// Matrix products of weights stored in any GGUF tensor type with f32 activations.
//
// The weight matrix is used in place (it usually lives in the model's memory mapping). Rows are
// split among the thread pool; each quantized row is dequantized once per call into the
// calling thread's scratch row and then multiplied with every token of the batch, so prefill
// reads each weight once per batch. (The integer-dot-product kernels of the kernels issue
// replace this path for quantized types; this one stays as the reference.)
//
// Thread safety: called by the thread that owns `pool` and `scratch`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/ggml_type.hpp"
#include "core/thread_pool.hpp"

namespace capibara::kernels {

// A row-major view of a 2-D weight: `n_rows` rows of `row_length` weights, `row_bytes` apart.
struct WeightMatrix {
  GgmlType type = GgmlType::kF32;
  const uint8_t* data = nullptr;
  int64_t n_rows = 0;
  int64_t row_length = 0;
  size_t row_bytes = 0;
};

// One f32 row per pool thread, sized once for the longest row a model has.
class MatmulScratch {
 public:
  MatmulScratch() = default;
  MatmulScratch(int n_threads, int64_t max_row_length);
  float* row(int thread) { return rows_.data() + static_cast<size_t>(thread) * row_stride_; }
  int64_t max_row_length() const { return static_cast<int64_t>(row_stride_); }

 private:
  size_t row_stride_ = 0;
  std::vector<float> rows_;  // [n_threads, max_row_length]
};

// y[t][r] = sum_k w[r][k] * x[t][k] for t < n_tokens, r < w.n_rows.
// x: [n_tokens, w.row_length], y: [n_tokens, w.n_rows] (both densely packed).
void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            MatmulScratch& scratch);

// Copies row `row` of `w` into `out` as f32 (embedding lookups).
void dequantize_row(const WeightMatrix& w, int64_t row, float* out);

}  // namespace capibara::kernels
