// AVX-512 kernels of the float packed layouts (packed_float.cpp): one 512-bit register holds one
// column of the group's sixteen rows (F32 as stored, F16 widened by `vcvtph2ps`) or two (BF16,
// split by a mask and a shift), so each fma with a broadcast activation advances all sixteen
// dots. A pass takes up to kTokens tokens and reuses each weight vector for all of them, which is
// what makes prefill compute-bound instead of a horizontal sum per (row, token).
//
// Each (row, token) sums in the four chains of the reference, in its order, so results match
// `scalar::packed_gemm_f32` / `_f16` / `_bf16` bit for bit whatever the number of tokens of a
// pass. On CPUs with AVX512_BF16, BF16 takes `vdpbf16ps` instead (packed_float_avx512bf16.cpp).
#include "kernels/x86/packed_avx512.hpp"

#include "kernels/kernel_table.hpp"
#include "kernels/x86/packed_float_avx512_common.hpp"

namespace capibara::kernels::avx512 {
namespace {

using float_passes::kTokens;
using float_passes::prefetch_block;
using float_passes::store_joined;

enum class Weights { kF32, kF16, kBF16 };

// F32 and F16: one column of the sixteen rows per step.
template <Weights kWeights, StreamPrefetch kPrefetch, int kT>
void column_pass(int64_t nb, const uint8_t* group, const uint8_t* act, size_t act_stride, float* y,
                 size_t y_stride) {
  constexpr bool kF32 = kWeights == Weights::kF32;
  constexpr size_t kBlockBytes = kF32 ? kF32BlockBytes : kHalfBlockBytes;
  __m512 acc[kT][4];
  for (auto& chains : acc) {
    for (__m512& chain : chains) chain = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + kBlockBytes * static_cast<size_t>(b);
    prefetch_block<kPrefetch, kT, kBlockBytes>(blk);
#pragma GCC unroll 32
    for (int c = 0; c < 32; ++c) {
      __m512 w;
      if constexpr (kF32) {
        w = _mm512_load_ps(blk + 64 * c);
      } else {
        w = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(blk + 32 * c)));
      }
#pragma GCC unroll 8
      for (int t = 0; t < kT; ++t) {
        const float* a = reinterpret_cast<const float*>(act + static_cast<size_t>(t) * act_stride);
        acc[t][c % 4] = _mm512_fmadd_ps(w, _mm512_set1_ps(a[32 * b + c]), acc[t][c % 4]);
      }
    }
  }
  store_joined<kT>(acc, y, y_stride);
}

template <StreamPrefetch kPrefetch, int kT>
void bf16_pass(int64_t nb, const uint8_t* group, const uint8_t* act, size_t act_stride, float* y,
               size_t y_stride) {
  const __m512i high_half = _mm512_set1_epi32(static_cast<int32_t>(0xFFFF0000u));
  __m512 acc[kT][4];
  for (auto& chains : acc) {
    for (__m512& chain : chains) chain = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + kHalfBlockBytes * static_cast<size_t>(b);
    prefetch_block<kPrefetch, kT>(blk);
#pragma GCC unroll 16
    for (int p = 0; p < 16; ++p) {
      const __m512i v = _mm512_load_si512(blk + 64 * p);
      const __m512 w_odd = _mm512_castsi512_ps(_mm512_and_si512(v, high_half));
      const __m512 w_even = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
#pragma GCC unroll 8
      for (int t = 0; t < kT; ++t) {
        int32_t pair;
        std::memcpy(&pair, act + static_cast<size_t>(t) * act_stride + 4 * (16 * b + p), 4);
        const __m512i a = _mm512_set1_epi32(pair);
        __m512& chain = acc[t][p % 4];
        chain = _mm512_fmadd_ps(w_odd, _mm512_castsi512_ps(_mm512_and_si512(a, high_half)), chain);
        chain = _mm512_fmadd_ps(w_even, _mm512_castsi512_ps(_mm512_slli_epi32(a, 16)), chain);
      }
    }
  }
  store_joined<kT>(acc, y, y_stride);
}

template <Weights kWeights, StreamPrefetch kPrefetch>
void gemm(int64_t n, const uint8_t* group, const void* act, size_t act_stride, int64_t n_tokens,
          float* y, size_t y_stride) {
  for_each_pass<kTokens>(
      n_tokens, act, act_stride, y, y_stride, [&]<int kT>(const uint8_t* at, float* yt) {
        if constexpr (kWeights == Weights::kBF16) {
          bf16_pass<kPrefetch, kT>(n / 32, group, at, act_stride, yt, y_stride);
        } else {
          column_pass<kWeights, kPrefetch, kT>(n / 32, group, at, act_stride, yt, y_stride);
        }
      });
}

}  // namespace

void packed_gemm_f32(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                     int64_t n_tokens, float* y, size_t y_stride) {
  gemm<Weights::kF32, StreamPrefetch::kSoftware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_f32_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                       size_t act_stride, int64_t n_tokens, float* y,
                                       size_t y_stride) {
  gemm<Weights::kF32, StreamPrefetch::kHardware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_f16(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                     int64_t n_tokens, float* y, size_t y_stride) {
  gemm<Weights::kF16, StreamPrefetch::kSoftware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_f16_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                       size_t act_stride, int64_t n_tokens, float* y,
                                       size_t y_stride) {
  gemm<Weights::kF16, StreamPrefetch::kHardware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_bf16_fma(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                          int64_t n_tokens, float* y, size_t y_stride) {
  gemm<Weights::kBF16, StreamPrefetch::kSoftware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_bf16_fma_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                            size_t act_stride, int64_t n_tokens, float* y,
                                            size_t y_stride) {
  gemm<Weights::kBF16, StreamPrefetch::kHardware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

// The table cannot see AVX512_BF16 (it is built at compile time for every AVX-512 CPU), so the
// choice is made here, once: a predictable branch per group.
void packed_gemm_bf16(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  static const bool dpbf16 = cpu_has_avx512_bf16();
  (dpbf16 ? packed_gemm_bf16_dpbf16 : packed_gemm_bf16_fma)(n, group, act, act_stride, n_tokens, y,
                                                            y_stride);
}

void packed_gemm_bf16_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride) {
  static const bool dpbf16 = cpu_has_avx512_bf16();
  (dpbf16 ? packed_gemm_bf16_dpbf16_hardware_prefetch : packed_gemm_bf16_fma_hardware_prefetch)(
      n, group, act, act_stride, n_tokens, y, y_stride);
}

}  // namespace capibara::kernels::avx512
