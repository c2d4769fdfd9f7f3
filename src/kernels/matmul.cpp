// Matrix products as llama.cpp computes them: activations quantized once, integer dots per row.
#include "kernels/matmul.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "kernels/dequantize.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/quant_dot.hpp"

namespace capibara::kernels {
namespace {

// Bytes of weight rows a thread multiplies with every token before moving on: about half of a
// typical 48 KiB L1 data cache, so the tile stays there while the activations stream from L2.
constexpr size_t kTileBytes = 24 * 1024;

size_t round_up(size_t n, size_t multiple) { return (n + multiple - 1) / multiple * multiple; }

// Types without an integer dot product: dequantize each row once, then f32 dots.
void matmul_dequantized(const KernelTable& table, const WeightMatrix& w, const float* x,
                        int64_t n_tokens, float* y, ThreadPool& pool, MatmulScratch& scratch) {
  const auto dot = table.dot_f32;
  const int64_t n = w.row_length;
  pool.parallel_for(w.n_rows, [&](int64_t begin, int64_t end, int thread) {
    float* row = scratch.row(thread);
    for (int64_t r = begin; r < end; ++r) {
      dequantize_row(w, r, row);
      for (int64_t t = 0; t < n_tokens; ++t) y[t * w.n_rows + r] = dot(row, x + t * n, n);
    }
  });
}

}  // namespace

MatmulScratch::MatmulScratch(int n_threads, int64_t max_row_length, int64_t max_tokens)
    : max_row_length_(max_row_length),
      max_tokens_(max_tokens),
      activation_stride_bytes_(round_up(max_activation_row_bytes(max_row_length), kAlignment)),
      activations_(static_cast<size_t>(max_tokens) * activation_stride_bytes_ + kAlignment),
      rows_(static_cast<size_t>(n_threads) * static_cast<size_t>(max_row_length)) {}

uint8_t* MatmulScratch::activations_base() {
  const auto address = reinterpret_cast<uintptr_t>(activations_.data());
  return activations_.data() + (round_up(address, kAlignment) - address);
}

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
  matmul(active_kernels(), w, x, n_tokens, y, pool, scratch);
}

void matmul(const KernelTable& table, const WeightMatrix& w, const float* x, int64_t n_tokens,
            float* y, ThreadPool& pool, MatmulScratch& scratch) {
  assert(n_tokens <= scratch.max_tokens());
  assert(w.row_length <= scratch.max_row_length());
  if (n_tokens <= 0 || w.n_rows <= 0) return;
  // The kernels are fetched once per matmul; the loops below only call through two pointers.
  const QuantDotKernels& kernels = quant_dot_kernels(table, w.type);
  if (kernels.vec_dot == nullptr) {
    matmul_dequantized(table, w, x, n_tokens, y, pool, scratch);
    return;
  }
  const int64_t n = w.row_length;

  // 1. The activations in the weight type's activation type (f32 ones are used in place).
  const uint8_t* act = reinterpret_cast<const uint8_t*>(x);
  size_t act_stride = static_cast<size_t>(n) * sizeof(float);
  if (w.type != GgmlType::kF32) {
    const auto quantize = kernels.quantize_activations;
    act = scratch.activation_row(0);
    act_stride = scratch.activation_stride_bytes();
    if (n_tokens == 1) {
      quantize(x, scratch.activation_row(0), n);
    } else {
      pool.parallel_for(n_tokens, [&](int64_t begin, int64_t end, int) {
        for (int64_t t = begin; t < end; ++t) quantize(x + t * n, scratch.activation_row(t), n);
      });
    }
  }

  // 2. One dot per (row, token), in tiles of rows that stay in cache across the batch. With a
  // prefill micro-kernel, each cache tile is covered by register tiles of tile_rows x
  // tile_tokens; the rows and tokens left over at the edges take the single-dot kernel.
  const auto vec_dot = kernels.vec_dot;
  const auto vec_dot_tile = n_tokens >= 2 ? kernels.vec_dot_tile : nullptr;
  const int64_t micro_rows = vec_dot_tile != nullptr ? kernels.tile_rows : 1;
  const int64_t micro_tokens = vec_dot_tile != nullptr ? kernels.tile_tokens : 1;
  const int64_t tile_rows =
      round_up(std::max<size_t>(1, kTileBytes / std::max<size_t>(1, w.row_bytes)), micro_rows);
  const auto single = [&](int64_t r0, int64_t r1, int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const uint8_t* a = act + static_cast<size_t>(t) * act_stride;
      float* yt = y + t * w.n_rows;
      for (int64_t r = r0; r < r1; ++r) {
        yt[r] = vec_dot(n, w.data + static_cast<size_t>(r) * w.row_bytes, a);
      }
    }
  };
  pool.parallel_for(w.n_rows, [&](int64_t begin, int64_t end, int) {
    for (int64_t r0 = begin; r0 < end; r0 += tile_rows) {
      const int64_t r1 = std::min(end, r0 + tile_rows);
      if (vec_dot_tile == nullptr) {
        single(r0, r1, 0, n_tokens);
        continue;
      }
      const int64_t r_tiled = r0 + (r1 - r0) / micro_rows * micro_rows;
      const int64_t t_tiled = n_tokens / micro_tokens * micro_tokens;
      for (int64_t t = 0; t < t_tiled; t += micro_tokens) {
        const uint8_t* a = act + static_cast<size_t>(t) * act_stride;
        float* yt = y + t * w.n_rows;
        for (int64_t r = r0; r < r_tiled; r += micro_rows) {
          vec_dot_tile(n, w.data + static_cast<size_t>(r) * w.row_bytes, w.row_bytes, a, act_stride,
                       yt + r, static_cast<size_t>(w.n_rows));
        }
        single(r_tiled, r1, t, t + micro_tokens);
      }
      single(r0, r1, t_tiled, n_tokens);
    }
  });
}

}  // namespace capibara::kernels
