// AVX2 kernels of the float packed layouts (packed_float.cpp). A 256-bit register holds one
// column of eight of the group's sixteen rows (F32 as stored, F16 widened by `vcvtph2ps`) or two
// columns (BF16, split by a mask and a shift), so the group is two halves of eight rows. With four
// chains per (half, token), a pass keeps at most 12 of the 16 registers as accumulators: both
// halves when decoding, so that each block streams from memory once, and one half of kTokens tokens
// in prefill, so that each widened weight vector serves three tokens. Each (row, token) sums in the
// reference's four chains and order, so results match it bit for bit.
#include <immintrin.h>

#include <cstddef>
#include <cstring>

#include "kernels/packed_formats.hpp"
#include "kernels/stream_prefetch.hpp"
#include "kernels/token_passes.hpp"
#include "kernels/x86/packed_avx2.hpp"
#include "kernels/x86/prefetch.hpp"

namespace capibara::kernels::avx2 {
namespace {

constexpr int kTokens = 3;
constexpr size_t kPrefetchBytes = 3072;  // as the other AVX2 packed kernels

// What a pass asks for ahead of block `blk`: the lines kPrefetchBytes ahead, or, when a
// decoding pass leaves the streaming to this CPU's hardware prefetchers, the next page's start
// (stream_prefetch.hpp). Of a prefill's two half passes only the first asks; the second finds
// the block in L2.
template <StreamPrefetch kPrefetch, int kT, size_t kBlockBytes>
inline void prefetch_block(const uint8_t* blk, int h0) {
  if (h0 != 0) return;
  if constexpr (kPrefetch == StreamPrefetch::kSoftware || kT > 1) {
    x86::prefetch_lines(blk + kPrefetchBytes, kBlockBytes / 64);
  } else {
    x86::prefetch_page_start(blk, kBlockBytes);
  }
}

enum class Weights { kF32, kF16, kBF16 };

// Halves [h0, h0 + kH) of the group's rows times kT tokens.
template <Weights kWeights, StreamPrefetch kPrefetch, int kT, int kH>
void pass(int64_t nb, const uint8_t* group, int h0, const uint8_t* act, size_t act_stride, float* y,
          size_t y_stride) {
  static_assert(kT * kH * 4 <= 12);
  constexpr size_t kBlockBytes = kWeights == Weights::kF32 ? kF32BlockBytes : kHalfBlockBytes;
  const __m256i high_half = _mm256_set1_epi32(static_cast<int32_t>(0xFFFF0000u));
  __m256 acc[kT][kH][4];
  for (auto& halves : acc) {
    for (auto& chains : halves) {
      for (__m256& chain : chains) chain = _mm256_setzero_ps();
    }
  }
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + kBlockBytes * static_cast<size_t>(b);
    prefetch_block<kPrefetch, kT, kBlockBytes>(blk, h0);
    if constexpr (kWeights == Weights::kBF16) {
#pragma GCC unroll 16
      for (int p = 0; p < 16; ++p) {
        for (int h = 0; h < kH; ++h) {
          const __m256i v =
              _mm256_load_si256(reinterpret_cast<const __m256i*>(blk + 64 * p + 32 * (h0 + h)));
          const __m256 w_odd = _mm256_castsi256_ps(_mm256_and_si256(v, high_half));
          const __m256 w_even = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
          for (int t = 0; t < kT; ++t) {
            int32_t pair;
            std::memcpy(&pair, act + static_cast<size_t>(t) * act_stride + 4 * (16 * b + p), 4);
            const __m256i a = _mm256_set1_epi32(pair);
            __m256& chain = acc[t][h][p % 4];
            chain =
                _mm256_fmadd_ps(w_odd, _mm256_castsi256_ps(_mm256_and_si256(a, high_half)), chain);
            chain = _mm256_fmadd_ps(w_even, _mm256_castsi256_ps(_mm256_slli_epi32(a, 16)), chain);
          }
        }
      }
    } else {
#pragma GCC unroll 32
      for (int c = 0; c < 32; ++c) {
        for (int h = 0; h < kH; ++h) {
          __m256 w;
          if constexpr (kWeights == Weights::kF32) {
            w = _mm256_load_ps(reinterpret_cast<const float*>(blk + 64 * c + 32 * (h0 + h)));
          } else {
            w = _mm256_cvtph_ps(
                _mm_load_si128(reinterpret_cast<const __m128i*>(blk + 32 * c + 16 * (h0 + h))));
          }
          for (int t = 0; t < kT; ++t) {
            const float* a =
                reinterpret_cast<const float*>(act + static_cast<size_t>(t) * act_stride);
            acc[t][h][c % 4] = _mm256_fmadd_ps(w, _mm256_set1_ps(a[32 * b + c]), acc[t][h][c % 4]);
          }
        }
      }
    }
  }
  for (int t = 0; t < kT; ++t) {
    for (int h = 0; h < kH; ++h) {
      const __m256 low = _mm256_add_ps(acc[t][h][0], acc[t][h][1]);
      const __m256 high = _mm256_add_ps(acc[t][h][2], acc[t][h][3]);
      _mm256_storeu_ps(y + static_cast<size_t>(t) * y_stride + 8 * static_cast<size_t>(h0 + h),
                       _mm256_add_ps(low, high));
    }
  }
}

template <Weights kWeights, StreamPrefetch kPrefetch>
void gemm(int64_t n, const uint8_t* group, const void* act, size_t act_stride, int64_t n_tokens,
          float* y, size_t y_stride) {
  for_each_pass<kTokens>(
      n_tokens, act, act_stride, y, y_stride, [&]<int kT>(const uint8_t* at, float* yt) {
        if constexpr (kT == 1) {
          pass<kWeights, kPrefetch, 1, 2>(n / 32, group, 0, at, act_stride, yt, y_stride);
        } else {
          for (int h = 0; h < 2; ++h) {
            pass<kWeights, kPrefetch, kT, 1>(n / 32, group, h, at, act_stride, yt, y_stride);
          }
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

void packed_gemm_bf16(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  gemm<Weights::kBF16, StreamPrefetch::kSoftware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_bf16_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride) {
  gemm<Weights::kBF16, StreamPrefetch::kHardware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

}  // namespace capibara::kernels::avx2
