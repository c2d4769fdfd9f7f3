// Reference-quality matrix products: dequantize a weight row once, dot it with every token.
#include "kernels/matmul.hpp"

#include <cassert>
#include <cstring>

#include "kernels/dequantize.hpp"
#include "kernels/kernel_table.hpp"

namespace capibara::kernels {

MatmulScratch::MatmulScratch(int n_threads, int64_t max_row_length)
    : row_stride_(static_cast<size_t>(max_row_length)),
      rows_(static_cast<size_t>(n_threads) * static_cast<size_t>(max_row_length)) {}

void dequantize_row(const WeightMatrix& w, int64_t row, float* out) {
  assert(row >= 0 && row < w.n_rows);
  const uint8_t* src = w.data + static_cast<size_t>(row) * w.row_bytes;
  if (w.type == GgmlType::kF32) {
    std::memcpy(out, src, static_cast<size_t>(w.row_length) * sizeof(float));
  } else {
    dequantize_row_ref(w.type, src, out, w.row_length);
  }
}

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            MatmulScratch& scratch) {
  assert(scratch.max_row_length() >= w.row_length);
  const auto& k = active_kernels();
  const int64_t n = w.row_length;
  pool.parallel_for(w.n_rows, [&](int64_t begin, int64_t end, int thread) {
    float* row = scratch.row(thread);
    for (int64_t r = begin; r < end; ++r) {
      const float* wr;
      if (w.type == GgmlType::kF32) {
        // F32 rows are used straight from the mapping; GGUF aligns tensor data to 32 bytes.
        wr = reinterpret_cast<const float*>(w.data + static_cast<size_t>(r) * w.row_bytes);
      } else {
        dequantize_row(w, r, row);
        wr = row;
      }
      for (int64_t t = 0; t < n_tokens; ++t) {
        y[t * w.n_rows + r] = k.dot_f32(wr, x + t * n, n);
      }
    }
  });
}

}  // namespace capibara::kernels
