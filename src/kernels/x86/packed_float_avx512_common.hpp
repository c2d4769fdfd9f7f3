// What the AVX-512 float packed kernels share (packed_float_avx512.cpp, and
// packed_float_avx512bf16.cpp, compiled with AVX512_BF16 as well): the pass size, the prefetch of
// a block and the joining of the four chains. Include only from translation units compiled with
// the AVX-512 flags; everything has internal linkage, as in avx512_common.hpp.
#pragma once

#include "kernels/packed_formats.hpp"
#include "kernels/stream_prefetch.hpp"
#include "kernels/x86/avx512_common.hpp"
#include "kernels/x86/prefetch.hpp"

namespace capibara::kernels::avx512::float_passes {

// Four chains of kTokens tokens: 24 accumulators of the 32 registers.
constexpr int kTokens = 6;
constexpr size_t kPrefetchBytes = 3072;  // as the other packed kernels (packed_avx512.cpp)

// What a pass asks for ahead of block `blk`: the lines kPrefetchBytes ahead, or, when a
// decoding pass leaves the streaming to this CPU's hardware prefetchers, the next page's start
// (stream_prefetch.hpp).
template <StreamPrefetch kPrefetch, int kT, size_t kBlockBytes = kHalfBlockBytes>
static inline void prefetch_block(const uint8_t* blk) {
  if constexpr (kPrefetch == StreamPrefetch::kSoftware || kT > 1) {
    x86::prefetch_lines(blk + kPrefetchBytes, kBlockBytes / 64);
  } else {
    x86::prefetch_page_start(blk, kBlockBytes);
  }
}

template <int kT>
static inline void store_joined(__m512 (&acc)[kT][4], float* y, size_t y_stride) {
  for (int t = 0; t < kT; ++t) {
    const __m512 low = _mm512_add_ps(acc[t][0], acc[t][1]);
    const __m512 high = _mm512_add_ps(acc[t][2], acc[t][3]);
    _mm512_storeu_ps(y + static_cast<size_t>(t) * y_stride, _mm512_add_ps(low, high));
  }
}

}  // namespace capibara::kernels::avx512::float_passes
