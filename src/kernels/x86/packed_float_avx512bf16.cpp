// The BF16 packed kernel with `vdpbf16ps` (AVX512_BF16), compiled with that extension on top of
// the AVX-512 flags: only `avx512::packed_gemm_bf16`, after checking the CPU, calls it.
//
// One `vdpbf16ps` takes a column pair of the group's sixteen rows (the layout pairs columns as
// the instruction does) against one broadcast pair of activations: per chain, the odd product
// and then the even one, each exact and added with one rounding, as the reference's two fmas
// (packed_float.cpp). Twice the weights per instruction of the fma kernel, with no unpacking.
#include "kernels/x86/packed_avx512.hpp"
#include "kernels/x86/packed_float_avx512_common.hpp"

namespace capibara::kernels::avx512 {
namespace {

using float_passes::kTokens;
using float_passes::prefetch_block;
using float_passes::store_joined;

template <StreamPrefetch kPrefetch, int kT>
void dpbf16_pass(int64_t nb, const uint8_t* group, const uint8_t* act, size_t act_stride, float* y,
                 size_t y_stride) {
  __m512 acc[kT][4];
  for (auto& chains : acc) {
    for (__m512& chain : chains) chain = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + kHalfBlockBytes * static_cast<size_t>(b);
    prefetch_block<kPrefetch, kT>(blk);
#pragma GCC unroll 16
    for (int p = 0; p < 16; ++p) {
      const __m512bh w = reinterpret_cast<__m512bh>(_mm512_load_si512(blk + 64 * p));
#pragma GCC unroll 8
      for (int t = 0; t < kT; ++t) {
        int32_t pair;
        std::memcpy(&pair, act + static_cast<size_t>(t) * act_stride + 4 * (16 * b + p), 4);
        const __m512bh a = reinterpret_cast<__m512bh>(_mm512_set1_epi32(pair));
        acc[t][p % 4] = _mm512_dpbf16_ps(acc[t][p % 4], w, a);
      }
    }
  }
  store_joined<kT>(acc, y, y_stride);
}

template <StreamPrefetch kPrefetch>
void gemm(int64_t n, const uint8_t* group, const void* act, size_t act_stride, int64_t n_tokens,
          float* y, size_t y_stride) {
  for_each_pass<kTokens>(n_tokens, act, act_stride, y, y_stride,
                         [&]<int kT>(const uint8_t* a, float* out) {
                           dpbf16_pass<kPrefetch, kT>(n / 32, group, a, act_stride, out, y_stride);
                         });
}

}  // namespace

void packed_gemm_bf16_dpbf16(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                             int64_t n_tokens, float* y, size_t y_stride) {
  gemm<StreamPrefetch::kSoftware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_bf16_dpbf16_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                               size_t act_stride, int64_t n_tokens, float* y,
                                               size_t y_stride) {
  gemm<StreamPrefetch::kHardware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

}  // namespace capibara::kernels::avx512
