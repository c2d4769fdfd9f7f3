// Matrix products of weights stored in any GGUF tensor type with f32 activations, computed as
// llama.cpp computes them.
//
// The weight matrix is used in place (it usually lives in the model's memory mapping). A matmul
// first converts the batch's activations once to the weight type's activation type (Q8_0, Q8_1,
// Q8_K, f16 or bf16: `activation_type` in quant_dot.hpp) and then takes one `vec_dot` per weight
// row and token: integer dot products per block for quantized weights, as ggml's
// `ggml_vec_dot_*_q8_*` do. Rows are split among the thread pool in contiguous slices; each
// thread walks its slice in tiles of rows small enough to stay in cache and multiplies every
// token of the batch with a tile before moving on, so prefill reads each weight once per batch.
// F32 weights use the f32 dot with the activations in place. Matrices repacked at load
// (packed_weights.hpp) take the packed kernel instead, over groups of 16 rows. Types without a
// `vec_dot` (Q8_K weights) are dequantized row by row into the thread's scratch row instead.
//
// Thread safety: called by the thread that owns `pool` and `scratch`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/aligned_buffer.hpp"
#include "core/ggml_type.hpp"
#include "core/thread_pool.hpp"

namespace capibara::kernels {

struct KernelTable;

// A row-major view of a 2-D weight: `n_rows` rows of `row_length` weights, `row_bytes` apart.
struct WeightMatrix {
  GgmlType type = GgmlType::kF32;
  const uint8_t* data = nullptr;
  int64_t n_rows = 0;
  int64_t row_length = 0;
  size_t row_bytes = 0;
  // The same matrix in the packed layout of `type` (packed_weights.hpp), or null. `matmul` uses
  // it with tables that have a packed kernel for `type` and `data` otherwise (so `data` stays
  // valid, if only as a mapping whose pages the loader may have dropped).
  const uint8_t* packed = nullptr;
};

// Buffers of `matmul`, sized once at load for the longest row and the largest batch a model has:
// the batch's activations in any activation type, and one f32 row per pool thread.
class MatmulScratch {
 public:
  MatmulScratch() = default;
  MatmulScratch(int n_threads, int64_t max_row_length, int64_t max_tokens);

  int64_t max_row_length() const { return max_row_length_; }
  int64_t max_tokens() const { return max_tokens_; }

  // Activation row `token` (`activation_stride_bytes()` bytes, 64-byte aligned).
  uint8_t* activation_row(int64_t token) {
    return activations_.data() + static_cast<size_t>(token) * activation_stride_bytes_;
  }
  size_t activation_stride_bytes() const { return activation_stride_bytes_; }
  // The f32 row of pool thread `thread` (`max_row_length()` floats).
  float* row(int thread) {
    return rows_.data() + static_cast<size_t>(thread) * static_cast<size_t>(max_row_length_);
  }

 private:
  int64_t max_row_length_ = 0;
  int64_t max_tokens_ = 0;
  size_t activation_stride_bytes_ = 0;
  AlignedVector<uint8_t> activations_;  // [max_tokens, activation_stride_bytes]
  AlignedVector<float> rows_;           // [n_threads, max_row_length]
};

// y[t][r] = sum_k w[r][k] * x[t][k] for t < n_tokens, r < w.n_rows.
// x: [n_tokens, w.row_length], y: [n_tokens, w.n_rows] (both densely packed).
// Preconditions (asserted): n_tokens <= scratch.max_tokens(), w.row_length <=
// scratch.max_row_length(). Allocates nothing.
void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            MatmulScratch& scratch);
// The same with the kernels of `table` instead of the active ones (tests and benchmarks compare
// ISAs with it). `table` must be one of `available_kernel_table_variants()`.
void matmul(const KernelTable& table, const WeightMatrix& w, const float* x, int64_t n_tokens,
            float* y, ThreadPool& pool, MatmulScratch& scratch);

// `matmul` of several matrices with the same input (q, k, v; gate, up), ys[i] = ws[i] x. With
// packed weights of one activation kind (at most four matrices) the input is quantized once and
// all the matrices' rows go through the thread pool in one pass; otherwise one matmul each.
void matmul_shared_input(std::span<const WeightMatrix* const> ws, const float* x, int64_t n_tokens,
                         std::span<float* const> ys, ThreadPool& pool, MatmulScratch& scratch);

// Copies row `row` of `w` into `out` as f32 (embedding lookups).
void dequantize_row(const WeightMatrix& w, int64_t row, float* out);

}  // namespace capibara::kernels
