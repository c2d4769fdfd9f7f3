// The packed layouts of floating-point weights (F32, F16, BF16) and the scalar reference of their
// kernels.
//
// Why: a row-major float dot is one horizontal sum per (row, token), and prefill had no tile
// kernel for them, so a TinyLlama-shaped F16 model prefilled at a fifth of llama.cpp's speed
// (30 against 140 tok/s) and an F32 one at a third (docs/PERFORMANCE.md "Float weights"). With
// sixteen rows side by side, a product is a stream of fmas of one weight vector (the sixteen
// rows' weights of one column) with one broadcast activation, and a prefill pass reuses each
// (widened) weight vector for several tokens.
//
// Layout of one block (32 weights of each of the 16 rows):
//   F32:  2048 bytes, column c of the block (0..31) at 64 c, row r's weight at 64 c + 4 r;
//   F16:  1024 bytes, column c at 32 c, row r's fp16 weight at 32 c + 2 r;
//   BF16: 1024 bytes, column pair p (0..15) at 64 p, row r's two bf16 weights at 64 p + 4 r, the
//         even column in the low half (the pairing of `vdpbf16ps`).
// Activations are those of ggml's dots for each type: f32 as they are (`kF32`), rounded to fp16
// and widened back to f32 (`kF16Values`), or rounded to bf16 and kept so (`kBF16`).
//
// Order of the float operations, which every kernel follows (so SIMD kernels match bit for bit):
// each row sums in four chains. F32 and F16: column j of the row (counted over the whole row)
// goes to chain j % 4, acc = fma(w, a, acc). BF16: column pair q to chain q % 4, the odd column
// first, then the even one, as `vdpbf16ps` adds them (each bf16 product is exact in f32, so each
// step is one rounding, as an fma). The result is (chain 0 + chain 1) + (chain 2 + chain 3).
// `vdpbf16ps` also flushes subnormal inputs and results to zero, which the fma kernels do not: they
// agree unless a weight, an activation or a partial sum falls below 2^-126 in magnitude.
#include <cmath>
#include <cstring>

#include "core/half.hpp"
#include "kernels/packed_formats.hpp"

namespace capibara::kernels {
namespace {

constexpr int64_t kBlock = 32;

// F32 and F16: one column of the 16 rows, kBytes per weight, after another.
template <size_t kBytes>
constexpr size_t column_offset(int64_t j, int r) {
  return 32 * kPackRows * kBytes * static_cast<size_t>(j / kBlock) +
         kPackRows * kBytes * static_cast<size_t>(j % kBlock) + kBytes * static_cast<size_t>(r);
}
static_assert(column_offset<4>(32, 0) == kF32BlockBytes &&
              column_offset<2>(32, 0) == kHalfBlockBytes);

// BF16: column pair q of row r.
constexpr size_t pair_offset(int64_t q, int r) {
  return kHalfBlockBytes * static_cast<size_t>(q / (kBlock / 2)) +
         64 * static_cast<size_t>(q % (kBlock / 2)) + 4 * static_cast<size_t>(r);
}

template <size_t kBytes>
void pack_columns(const uint8_t* src, size_t row_bytes, int64_t nb, uint8_t* dst) {
  for (int r = 0; r < kPackRows; ++r) {
    const uint8_t* row = src + static_cast<size_t>(r) * row_bytes;
    for (int64_t j = 0; j < nb * kBlock; ++j) {
      std::memcpy(dst + column_offset<kBytes>(j, r), row + kBytes * static_cast<size_t>(j), kBytes);
    }
  }
}

void pack_bf16_group(const uint8_t* src, size_t row_bytes, int64_t nb, uint8_t* dst) {
  for (int r = 0; r < kPackRows; ++r) {
    const uint8_t* row = src + static_cast<size_t>(r) * row_bytes;
    for (int64_t q = 0; q < nb * kBlock / 2; ++q) {
      std::memcpy(dst + pair_offset(q, r), row + 4 * static_cast<size_t>(q), 4);
    }
  }
}

float join_chains(const float (&acc)[4]) { return (acc[0] + acc[1]) + (acc[2] + acc[3]); }

// The F32 and F16 reference: kBytes per weight, `widen` to f32.
template <size_t kBytes, typename Widen>
void columns_reference(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                       int64_t n_tokens, float* y, size_t y_stride, Widen widen) {
  for (int64_t t = 0; t < n_tokens; ++t) {
    const auto* a = reinterpret_cast<const float*>(static_cast<const uint8_t*>(act) +
                                                   static_cast<size_t>(t) * act_stride);
    for (int r = 0; r < kPackRows; ++r) {
      float acc[4] = {};
      for (int64_t j = 0; j < n; ++j) {
        acc[j % 4] = std::fma(widen(group + column_offset<kBytes>(j, r)), a[j], acc[j % 4]);
      }
      y[static_cast<size_t>(t) * y_stride + static_cast<size_t>(r)] = join_chains(acc);
    }
  }
}

}  // namespace

const PackedFormat& packed_format_f32() {
  static constexpr PackedFormat kF32{kBlock, kF32BlockBytes, PackedActivations::kF32,
                                     pack_columns<4>, scalar::packed_gemm_f32};
  return kF32;
}

const PackedFormat& packed_format_f16() {
  static constexpr PackedFormat kF16{kBlock, kHalfBlockBytes, PackedActivations::kF16Values,
                                     pack_columns<2>, scalar::packed_gemm_f16};
  return kF16;
}

const PackedFormat& packed_format_bf16() {
  static constexpr PackedFormat kBF16{kBlock, kHalfBlockBytes, PackedActivations::kBF16,
                                      pack_bf16_group, scalar::packed_gemm_bf16};
  return kBF16;
}

namespace scalar {

void packed_gemm_f32(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                     int64_t n_tokens, float* y, size_t y_stride) {
  columns_reference<4>(n, group, act, act_stride, n_tokens, y, y_stride, [](const uint8_t* p) {
    float w;
    std::memcpy(&w, p, 4);
    return w;
  });
}

void packed_gemm_f16(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                     int64_t n_tokens, float* y, size_t y_stride) {
  columns_reference<2>(n, group, act, act_stride, n_tokens, y, y_stride, [](const uint8_t* p) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    return fp16_to_f32(w);
  });
}

void packed_gemm_bf16(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  for (int64_t t = 0; t < n_tokens; ++t) {
    const auto* a = reinterpret_cast<const uint16_t*>(static_cast<const uint8_t*>(act) +
                                                      static_cast<size_t>(t) * act_stride);
    for (int r = 0; r < kPackRows; ++r) {
      float acc[4] = {};
      for (int64_t q = 0; q < n / 2; ++q) {
        uint16_t w[2];
        std::memcpy(w, group + pair_offset(q, r), 4);
        float& chain = acc[q % 4];
        chain = std::fma(bf16_to_f32(w[1]), bf16_to_f32(a[2 * q + 1]), chain);
        chain = std::fma(bf16_to_f32(w[0]), bf16_to_f32(a[2 * q]), chain);
      }
      y[static_cast<size_t>(t) * y_stride + static_cast<size_t>(r)] = join_chains(acc);
    }
  }
}

}  // namespace scalar

}  // namespace capibara::kernels
