// AVX2 kernels of the packed layouts (packed_weights.hpp, packed_q4_k.cpp, packed_q5_k.cpp,
// packed_q6_k.cpp), for CPUs without AVX-512: a 256-bit register holds the same four weight bytes
// of eight rows, so a 64-byte chunk of a group is two registers (rows 0-7 at offset 0, rows 8-15
// at offset 32), and every block is computed for the two row halves in turn, each with its own
// float accumulator. The passes, with AVX2's dots for them, are shared with the AVX-VNNI table
// (x86/packed_32_ymm.hpp, x86/packed_q4_k_ymm.hpp, x86/packed_q6_k_ymm.hpp); this file holds the
// AVX2 entry points and their tokens per pass.
//
// Without `vpdpbusd`, the u8 x s8 dot of four bytes per int32 lane is `vpmaddubsw` (u8 x s8
// products summed in int16 pairs, saturating) then `vpmaddwd` (pairs summed to int32, by ones or
// by the rows' scales). No saturation can happen:
//   Q4_0, Q4_K: nibbles <= 15, so eight `vpmaddubsw` results sum to at most 8 x 2 x 15 x 128;
//   Q5_K: 5-bit quants <= 31, so four results sum to at most 4 x 2 x 31 x 128 (eight could not);
//   Q6_K: 6-bit quants <= 63, so two results sum to at most 2 x 2 x 63 x 128;
//   Q8_0: the stored q + 128 would saturate, so the kernel flips it back to q (XOR 0x80) and
//         takes |q| x sign(a, q) (`vpsignb`), pairs at most 2 x 128 x 127, one `vpmaddwd` each.
// The integer dots are the references' exact integers (combined in another order), and the
// float operations per (row, token) are the references', in their order, so the results match
// `scalar::packed_gemm_*` bit for bit whatever the number of tokens in a pass. A pass unpacks a
// block once for kT tokens (prefill; the 32-weight types one row half at a time, so that a pass
// fits in the registers: `gemm_pass_32`); decoding (kT == 1) prefetches the weights into L2 a few
// KiB ahead (prefetch.hpp). Only decoding: unlike AVX-512's, these multi-token passes are
// compute-bound, and prefetching in them too lowered pp512 from 136 to 103 tok/s (TinyLlama
// Q4_0) and gained nothing at 4-8 sequences. Activations are read without assuming alignment (any
// row stride).
#include "kernels/x86/packed_avx2.hpp"

#include <cstddef>
#include <cstdint>

#include "kernels/stream_prefetch.hpp"
#include "kernels/x86/packed_32_ymm.hpp"
#include "kernels/x86/packed_q4_k_ymm.hpp"
#include "kernels/x86/packed_q6_k_ymm.hpp"

namespace capibara::kernels::avx2 {
namespace {

// Tokens per pass. TinyLlama pp512 by row halves (`gemm_pass_32`), two threads, all the runs of
// alternated binaries: Q4_0 172-177 tok/s at 4, 179-185 at 6, 180-186 at 8; Q8_0 106-110 at 2,
// 104-110 at 3, 109-117 at 4. The K-quants: Q4_K_M 151-152 at 3, 157-163 at 4, 158-164 at 6.
constexpr int kQ4_0Tokens = 6;
constexpr int kQ8_0Tokens = 4;
constexpr int kKQuantTokens = 4;
// Q6_K's prefill passes unpack one sub-block at a time (x86::q6_unit), which leaves registers
// for more tokens. TinyLlama Q6_K pp512, three alternated rounds: both sub-blocks of a unit at
// once, 4 tokens (as before), 139.7-142.8 tok/s; one at a time, each dot added at once,
// 151.0-155.3 at 4 tokens, 154.1-159.6 at 6, 146.6-159.4 at 8 (6 without adding at once:
// 135.0-145.4, against 151.1-157.7 with).
constexpr int kQ6KTokens = 6;

template <StreamPrefetch kPrefetch = StreamPrefetch::kSoftware>
void gemm_q6_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
               int64_t n_tokens, float* y, size_t y_stride) {
  x86::gemm_q6_k<x86::MaddubsQ6Dots<>, x86::MaddubsQ6Dots<true>, kQ6KTokens, kPrefetch>(
      n, group, act, act_stride, n_tokens, y, y_stride);
}

template <bool kFive, StreamPrefetch kPrefetch = StreamPrefetch::kSoftware>
void gemm_q4_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
               int64_t n_tokens, float* y, size_t y_stride) {
  using SubBlocks = x86::MaddubsSubBlocks<kFive>;
  x86::gemm_q4_k<SubBlocks, SubBlocks, kFive, kKQuantTokens, kPrefetch>(n, group, act, act_stride,
                                                                        n_tokens, y, y_stride);
}

}  // namespace

void packed_gemm_q4_0(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  x86::gemm_32<x86::MaddubsHalf<true>, x86::MaddubsHalf<true>, kQ4_0Tokens,
               StreamPrefetch::kSoftware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q8_0(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  x86::gemm_32<x86::MaddubsHalf<false>, x86::MaddubsHalf<false>, kQ8_0Tokens,
               StreamPrefetch::kSoftware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q4_0_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride) {
  x86::gemm_32<x86::MaddubsHalf<true>, x86::MaddubsHalf<true>, kQ4_0Tokens,
               StreamPrefetch::kHardware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q8_0_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride) {
  x86::gemm_32<x86::MaddubsHalf<false>, x86::MaddubsHalf<false>, kQ8_0Tokens,
               StreamPrefetch::kHardware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q4_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  gemm_q4_k<false>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q4_k_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride) {
  gemm_q4_k<false, StreamPrefetch::kHardware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q5_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  gemm_q4_k<true>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q5_k_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride) {
  gemm_q4_k<true, StreamPrefetch::kHardware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q6_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  gemm_q6_k(n, group, act, act_stride, n_tokens, y, y_stride);
}

void packed_gemm_q6_k_hardware_prefetch(int64_t n, const uint8_t* group, const void* act,
                                        size_t act_stride, int64_t n_tokens, float* y,
                                        size_t y_stride) {
  gemm_q6_k<StreamPrefetch::kHardware>(n, group, act, act_stride, n_tokens, y, y_stride);
}

}  // namespace capibara::kernels::avx2
