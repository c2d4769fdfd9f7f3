// The passes of the 32-weight packed types (Q4_0, Q8_0) in 256-bit registers, shared by the AVX2
// table (x86/packed_avx2.cpp) and the AVX-VNNI one (x86/packed_avx_vnni.cpp). A register holds
// the same four weight bytes of eight rows, so a 64-byte chunk of a group is two registers (rows
// 0-7 at offset 0, rows 8-15 at offset 32), and every block is computed for the two row halves in
// turn. The tables differ only in how a block takes its exact integer dots with a token's block,
// the `Block` of these templates. Prefill's takes one row half's:
//
//   static constexpr size_t kQuantBytes;           // a block's quants in the group (256 or 512)
//   explicit Block(const uint8_t* quants);         // the block's quants + 32 x row half
//   __m256i dot(const uint8_t* a) const;           // the eight rows' dots with a BlockQ8Sum
//
// and decoding's both halves' at once (dot[0]: rows 0-7, dot[1]: rows 8-15):
//
//   static constexpr size_t kQuantBytes;
//   static void dots(const uint8_t* quants, const uint8_t* a, __m256i (&dot)[2]);
//
// and, for a few sequences decoding together (`few_token_pass_32`, where a table asks for it),
// the same for kT tokens:
//
//   template <int kT>
//   static void few_dots(const uint8_t* quants, const uint8_t* const (&a)[kT],
//                        __m256i (&dot)[kT][2]);
//
// The float operations per (row, token) are the references', in their order, so the results
// match `scalar::packed_gemm_*` bit for bit whatever the number of tokens in a pass.
//
// Include only from translation units compiled with at least -mavx2 -mfma -mf16c. Everything here
// has internal linkage (`static`), so that no copy compiled with one table's flags stands in for
// another's at link time (token_passes.hpp).
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/quant_blocks.hpp"
#include "kernels/packed_weights.hpp"
#include "kernels/stream_prefetch.hpp"
#include "kernels/token_passes.hpp"
#include "kernels/x86/prefetch.hpp"

namespace capibara::kernels::x86 {

template <typename T>
static inline T load_as(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Four activation bytes in every 32-bit lane.
static inline __m256i broadcast_quads(const uint8_t* p) {
  return _mm256_set1_epi32(load_as<int32_t>(p));
}

// Makes `sum` a value that an empty asm reads and rewrites here, so the adds before and after it
// stay one chain in one register. GCC 12 otherwise re-associates a pass's integer adds across its
// tokens into trees, keeps their partial sums live and spills them (the passes that call this
// say what it measured there).
static inline void keep_in_register(__m256i& sum) { asm("" : "+x"(sum)); }

static inline __m256i load_ymm(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// Eight fp16 values (the scales of one row half) as f32, exactly.
static inline __m256 load_halves(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Q4_0's four chunks of one block of one row half, split into low nibbles (weights 0..15 of each
// row's block: w[0..3]) and high ones (16..31: w[4..7]).
static inline void unpack_q4_0_half(const uint8_t* quants, __m256i (&w)[8]) {
  const __m256i low = _mm256_set1_epi8(0x0F);
  for (int k = 0; k < 4; ++k) {
    const __m256i v = load_ymm(quants + 64 * k);
    w[k] = _mm256_and_si256(v, low);
    w[4 + k] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
  }
}

// The blocks below have internal linkage (an unnamed namespace), as the functions here are
// `static`: each translation unit compiles its own.
namespace {

// AVX2's blocks without `vpdpbusd`: Q4_0's nibbles (kNibbles) or Q8_0's chunks as q (the stored
// q + 128 XOR 0x80), whose magnitudes each dot takes. Prefill takes one row half's dot (Q4_0 only:
// AVX2's Q8_0 prefill goes chunk by chunk, `gemm_pass_q8_0` in x86/packed_avx2.cpp, and AVX-VNNI's
// takes VnniHalf); decoding takes both halves' (`dots`). x86/packed_avx2.cpp says why no
// `vpmaddubsw` saturates.
template <bool kNibbles>
struct MaddubsHalf {
  static constexpr size_t kQuantBytes = kNibbles ? 256 : 512;
  // Whether decoding takes each block's float step one block late (`single_token_pass_32`): Q4_0
  // yes; Q8_0's pass is bound by its multiply pipes and lost 1-2 % that way
  // (`DecodePass/avx2/q8_0`).
  static constexpr bool kFloatStepLate = kNibbles;
  __m256i w[8];  // the nibbles

  explicit MaddubsHalf(const uint8_t* quants)  // the block's quants + 32 x row half
      requires kNibbles {
    unpack_q4_0_half(quants, w);
  }

  // The exact integer dots of the eight rows with one token's block (a BlockQ8Sum), offset
  // removed: the reference's -offset * sum + sum stored * a.
  __m256i dot(const uint8_t* a) const requires kNibbles {
    const uint8_t* qs = a + offsetof(BlockQ8Sum, qs);
    __m256i p0 = _mm256_maddubs_epi16(w[0], broadcast_quads(qs));
    __m256i p1 = _mm256_maddubs_epi16(w[4], broadcast_quads(qs + 16));
    for (int k = 1; k < 4; ++k) {
      p0 = _mm256_add_epi16(p0, _mm256_maddubs_epi16(w[k], broadcast_quads(qs + 4 * k)));
      p1 = _mm256_add_epi16(p1, _mm256_maddubs_epi16(w[4 + k], broadcast_quads(qs + 16 + 4 * k)));
      // Each sum one chain in one register: `Matmul/avx2/q4_0/tokens:16`, one thread, 863-876
      // us against 916-925 unpinned, alternated.
      keep_in_register(p0);
      keep_in_register(p1);
    }
    const int32_t sum = load_as<int32_t>(a + offsetof(BlockQ8Sum, sum));
    return _mm256_sub_epi32(_mm256_madd_epi16(_mm256_add_epi16(p0, p1), _mm256_set1_epi16(1)),
                            _mm256_set1_epi32(8 * sum));
  }

  // Decoding: both row halves' dots, chunk by chunk, so that each broadcast of the token's quads
  // serves the two halves and each half's sum builds up in one chain pinned to a register. With
  // the halves in turn (two `dot`s), GCC hoisted a block's loads and products ahead and spilled
  // broadcasts and accumulators to the stack. On the Zen 4 host, weights in cache, one thread,
  // alternated (`Matmul/avx2/{q4_0,q8_0}/tokens:1/threads:1/packed`): Q4_0 66-69 us against
  // 72-80, Q8_0 105-106 against 108-109 (docs/PERFORMANCE.md, "Decoding passes chunk by chunk,
  // sums pinned").
  static void dots(const uint8_t* quants, const uint8_t* a, __m256i (&dot)[2]) {
    // The two halves' sums are named variables, not an array: pinned as array elements, GCC kept
    // them in memory.
    const uint8_t* qs = a + offsetof(BlockQ8Sum, qs);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i s0 = _mm256_setzero_si256();
    __m256i s1 = _mm256_setzero_si256();
    if constexpr (kNibbles) {
      const __m256i low = _mm256_set1_epi8(0x0F);
      // int16 sums of eight `vpmaddubsw` results at most, as `dot`'s.
      const auto dot_chunk = [&](const uint8_t* chunk, __m256i lo, __m256i hi) {
        const __m256i v = load_ymm(chunk);
        return _mm256_add_epi16(
            _mm256_maddubs_epi16(_mm256_and_si256(v, low), lo),
            _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), low), hi));
      };
      for (int k = 0; k < 4; ++k) {
        const __m256i lo = broadcast_quads(qs + 4 * k);       // weights 0..15 of the block
        const __m256i hi = broadcast_quads(qs + 16 + 4 * k);  // and 16..31
        s0 = _mm256_add_epi16(s0, dot_chunk(quants + 64 * k, lo, hi));
        s1 = _mm256_add_epi16(s1, dot_chunk(quants + 64 * k + 32, lo, hi));
        keep_in_register(s0);
        keep_in_register(s1);
      }
      const __m256i offset = _mm256_set1_epi32(8 * load_as<int32_t>(a + offsetof(BlockQ8Sum, sum)));
      dot[0] = _mm256_sub_epi32(_mm256_madd_epi16(s0, ones), offset);
      dot[1] = _mm256_sub_epi32(_mm256_madd_epi16(s1, ones), offset);
    } else {
      const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
      const auto dot_chunk = [&](const uint8_t* chunk, __m256i quads) {
        const __m256i q = _mm256_xor_si256(load_ymm(chunk), flip);
        return _mm256_madd_epi16(
            _mm256_maddubs_epi16(_mm256_abs_epi8(q), _mm256_sign_epi8(quads, q)), ones);
      };
      for (int k = 0; k < 8; ++k) {
        const __m256i quads = broadcast_quads(qs + 4 * k);
        s0 = _mm256_add_epi32(s0, dot_chunk(quants + 64 * k, quads));
        s1 = _mm256_add_epi32(s1, dot_chunk(quants + 64 * k + 32, quads));
        keep_in_register(s0);
        keep_in_register(s1);
      }
      dot[0] = s0;
      dot[1] = s1;
    }
  }

  // A few sequences decoding together (`few_token_pass_32`): `dots` for kT tokens, each chunk
  // unpacked once for all of them and each broadcast of a token's quads serving both row halves.
  // Registers: four unpacked registers (Q4_0: both halves' nibbles; Q8_0: both halves' q and
  // |q|), a broadcast or two, two constants and 2 kT sums, so kT <= 4 (Q4_0) or 3 (Q8_0).
  template <int kT>
  static void few_dots(const uint8_t* quants, const uint8_t* const (&a)[kT],
                       __m256i (&dot)[kT][2]) {
    static_assert(kT >= 2 && kT <= (kNibbles ? 4 : 3), "the sums must fit in the registers");
    __m256i s[kT][2];
    if constexpr (!kNibbles) {
      const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
      const __m256i ones = _mm256_set1_epi16(1);
      for (int k = 0; k < 8; ++k) {
        const __m256i q0 = _mm256_xor_si256(load_ymm(quants + 64 * k), flip);
        const __m256i q1 = _mm256_xor_si256(load_ymm(quants + 64 * k + 32), flip);
        const __m256i m0 = _mm256_abs_epi8(q0);
        const __m256i m1 = _mm256_abs_epi8(q1);
#pragma GCC unroll 4
        for (int t = 0; t < kT; ++t) {
          const __m256i quads = broadcast_quads(a[t] + offsetof(BlockQ8Sum, qs) + 4 * k);
          const __m256i p0 =
              _mm256_madd_epi16(_mm256_maddubs_epi16(m0, _mm256_sign_epi8(quads, q0)), ones);
          const __m256i p1 =
              _mm256_madd_epi16(_mm256_maddubs_epi16(m1, _mm256_sign_epi8(quads, q1)), ones);
          s[t][0] = k == 0 ? p0 : _mm256_add_epi32(s[t][0], p0);
          s[t][1] = k == 0 ? p1 : _mm256_add_epi32(s[t][1], p1);
          keep_in_register(s[t][0]);
          keep_in_register(s[t][1]);
        }
      }
      for (int t = 0; t < kT; ++t) {
        dot[t][0] = s[t][0];
        dot[t][1] = s[t][1];
      }
      return;
    }
    const __m256i low = _mm256_set1_epi8(0x0F);
    for (int k = 0; k < 4; ++k) {
      const __m256i v0 = load_ymm(quants + 64 * k);
      const __m256i v1 = load_ymm(quants + 64 * k + 32);
      const __m256i lo0 = _mm256_and_si256(v0, low);
      const __m256i hi0 = _mm256_and_si256(_mm256_srli_epi16(v0, 4), low);
      const __m256i lo1 = _mm256_and_si256(v1, low);
      const __m256i hi1 = _mm256_and_si256(_mm256_srli_epi16(v1, 4), low);
#pragma GCC unroll 4
      for (int t = 0; t < kT; ++t) {
        const uint8_t* qs = a[t] + offsetof(BlockQ8Sum, qs);
        const __m256i lo = broadcast_quads(qs + 4 * k);       // weights 0..15 of the block
        const __m256i hi = broadcast_quads(qs + 16 + 4 * k);  // and 16..31
        const __m256i p0 =
            _mm256_add_epi16(_mm256_maddubs_epi16(lo0, lo), _mm256_maddubs_epi16(hi0, hi));
        const __m256i p1 =
            _mm256_add_epi16(_mm256_maddubs_epi16(lo1, lo), _mm256_maddubs_epi16(hi1, hi));
        s[t][0] = k == 0 ? p0 : _mm256_add_epi16(s[t][0], p0);
        s[t][1] = k == 0 ? p1 : _mm256_add_epi16(s[t][1], p1);
        keep_in_register(s[t][0]);
        keep_in_register(s[t][1]);
      }
    }
    const __m256i ones = _mm256_set1_epi16(1);
#pragma GCC unroll 4
    for (int t = 0; t < kT; ++t) {
      const __m256i offset =
          _mm256_set1_epi32(8 * load_as<int32_t>(a[t] + offsetof(BlockQ8Sum, sum)));
      dot[t][0] = _mm256_sub_epi32(_mm256_madd_epi16(s[t][0], ones), offset);
      dot[t][1] = _mm256_sub_epi32(_mm256_madd_epi16(s[t][1], ones), offset);
    }
  }
};

}  // namespace

// How far ahead decoding prefetches the weights. Measured with the weights on huge pages
// (CAPIBARA_ISA=avx2, TinyLlama Q4_0 tg128): 4 KiB 47.6 tok/s, 3 KiB 46.7, 8 KiB 42.9; since the
// scales sit beside their quants, 3 KiB streams Q8_0 5 % faster than 4 KiB and Q4_0 as fast
// (`Stream/decode/avx2`, one and two cores: Q8_0 14.7-14.9 / 28.2-29.6 GB/s against 14.0-14.1
// / 27.2-27.8).
inline constexpr size_t kPrefetchBytes32 = 3072;

// What a pass that reads each group once from memory (decoding, `few_token_pass_32`) asks for with
// block b: the lines kPrefetchBytes32 ahead, unless this CPU's hardware prefetchers do better,
// given each 4 KiB page's start (stream_prefetch.hpp).
template <typename Pairs, StreamPrefetch kPrefetch>
static inline void prefetch_streamed_block(const uint8_t* group, int64_t b) {
  if constexpr (kPrefetch == StreamPrefetch::kSoftware) {
    prefetch_lines(group + Pairs::half(b) + kPrefetchBytes32, Pairs::kHalfLines);
  } else {
    prefetch_page_start(group + Pairs::half(b), Pairs::kPairBytes / 2);
  }
}

// Decoding: one token, both row halves of each block at once (`Block::dots`), the weights
// prefetched as they stream (each is read once). Where Block::kFloatStepLate, each block's float
// step (its dots scaled into the accumulators) is taken one block late, after the next block's
// integer work: written in place, it waits at the end of a chain of about 28 cycles (loads,
// products, sums, conversion) that the out-of-order window did not hide behind the next block.
// Same operations in the same order per row, so the same bits. With the weights in L1/L2, one Zen 4
// core: Q4_0 20.6-20.7 cycles a block against 21.4-22.5 (docs/PERFORMANCE.md, "Decoding's float
// step one block late").
template <typename Block, StreamPrefetch kPrefetch>
static void single_token_pass_32(int64_t nb, const uint8_t* group, const uint8_t* act, float* y) {
  using Pairs = PairedBlocks<Block::kQuantBytes>;
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  // The dots and scales (d_w * d_a) of the block not yet added.
  __m256i pending_dot[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
  __m256 pending_d[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  const auto add_pending = [&] {
    for (int g = 0; g < 2; ++g) {
      acc[g] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(pending_dot[g]), pending_d[g], acc[g]);
    }
  };
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* quants = group + Pairs::quants(b);
    const uint8_t* scales = group + Pairs::scales(b);
    prefetch_streamed_block<Pairs, kPrefetch>(group, b);
    const uint8_t* a = act + static_cast<size_t>(b) * sizeof(BlockQ8Sum);
    const __m256 da = _mm256_set1_ps(load_as<float>(a + offsetof(BlockQ8Sum, d)));
    __m256i dot[2];
    Block::dots(quants, a, dot);
    if (Block::kFloatStepLate && b > 0) add_pending();
    for (int g = 0; g < 2; ++g) {
      pending_dot[g] = dot[g];
      pending_d[g] = _mm256_mul_ps(load_halves(scales + 16 * g), da);
    }
    if (!Block::kFloatStepLate) add_pending();
  }
  if (Block::kFloatStepLate && nb > 0) add_pending();
  _mm256_storeu_ps(y, acc[0]);
  _mm256_storeu_ps(y + 8, acc[1]);
}

// Prefill: kT >= 2 tokens, one row half at a time over the whole row, so that the half's
// unpacked block (eight registers), the kT accumulators and the dot's temporaries fit in the
// sixteen registers. With both halves in one loop, GCC kept most broadcasts and accumulators on
// the stack (AVX2 Q4_0 at four tokens: 175 stack accesses per block, 64 `vpmaddubsw`); this way
// each block's weights are read twice from L1, and TinyLlama pp512 went from 121 to 183 tok/s
// (Q4_0) and from 99 to 113 (Q8_0) (docs/PERFORMANCE.md, "AVX2 against an AVX2 llama.cpp").
template <typename Block, int kT>
static void gemm_pass_32(int64_t nb, const uint8_t* group, const uint8_t* act, size_t act_stride,
                         float* y, size_t y_stride) {
  static_assert(kT >= 2, "one token takes single_token_pass_32");
  using Pairs = PairedBlocks<Block::kQuantBytes>;
  for (int g = 0; g < 2; ++g) {
    __m256 acc[kT];
    for (int t = 0; t < kT; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      // The first row half's sweep brings the group's lines in; where each group is read once
      // (a few sequences decoding together) the hardware prefetchers alone left it waiting on
      // memory. AVX2 TinyLlama Q4_0, `bench --parallel` 2 / 4 / 8 sequences: 70-71 / 94-100 /
      // 116-118 tok/s against 64-66 / 75-80 / 89-90; pp512 147 against 144 (docs/PERFORMANCE.md,
      // "AVX2 Q8_0 prefill in int16").
      if (g == 0) prefetch_lines(group + Pairs::half(b) + kPrefetchBytes32, Pairs::kHalfLines);
      const Block w(group + Pairs::quants(b) + 32 * g);
      const __m256 dw = load_halves(group + Pairs::scales(b) + 16 * g);
      const uint8_t* a = act + static_cast<size_t>(b) * sizeof(BlockQ8Sum);
#pragma GCC unroll 8
      for (int t = 0; t < kT; ++t) {
        const uint8_t* at = a + static_cast<size_t>(t) * act_stride;
        const __m256 d =
            _mm256_mul_ps(dw, _mm256_set1_ps(load_as<float>(at + offsetof(BlockQ8Sum, d))));
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(w.dot(at)), d, acc[t]);
      }
    }
    for (int t = 0; t < kT; ++t) {
      _mm256_storeu_ps(y + static_cast<size_t>(t) * y_stride + 8 * g, acc[t]);
    }
  }
}

// A few sequences decoding together: kT tokens (2 to 4) as decoding streams one, both row halves
// of each block at once (`Block::few_dots`), the weights prefetched as decoding does. Each group
// is read once here, from memory; the row halves in turn (`gemm_pass_32`) took two tokens at
// exactly twice one token's time with the weights in cache (`DecodePass/avx2/q4_0/tokens:2`).
// AVX2 TinyLlama `bench --parallel` 2 / 3 sequences, alternated: Q4_0 97-101 / 116-118 tok/s
// against 73-75 / 96-97, Q8_0 56-58 / 68-69 against 43-44 / 59 (docs/PERFORMANCE.md, "A few
// sequences decoding together").
template <typename Block, int kT, StreamPrefetch kPrefetch>
static void few_token_pass_32(int64_t nb, const uint8_t* group, const uint8_t* act,
                              size_t act_stride, float* y, size_t y_stride) {
  using Pairs = PairedBlocks<Block::kQuantBytes>;
  __m256 acc[kT][2];
  for (int t = 0; t < kT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_streamed_block<Pairs, kPrefetch>(group, b);
    const uint8_t* a[kT];
    for (int t = 0; t < kT; ++t) {
      a[t] =
          act + static_cast<size_t>(t) * act_stride + static_cast<size_t>(b) * sizeof(BlockQ8Sum);
    }
    __m256i dot[kT][2];
    Block::template few_dots<kT>(group + Pairs::quants(b), a, dot);
    const uint8_t* scales = group + Pairs::scales(b);
    for (int g = 0; g < 2; ++g) {
      const __m256 dw = load_halves(scales + 16 * g);
      for (int t = 0; t < kT; ++t) {
        const __m256 d =
            _mm256_mul_ps(dw, _mm256_set1_ps(load_as<float>(a[t] + offsetof(BlockQ8Sum, d))));
        acc[t][g] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[t][g]), d, acc[t][g]);
      }
    }
  }
  for (int t = 0; t < kT; ++t) {
    _mm256_storeu_ps(y + static_cast<size_t>(t) * y_stride, acc[t][0]);
    _mm256_storeu_ps(y + static_cast<size_t>(t) * y_stride + 8, acc[t][1]);
  }
}

// A `PackedGemmFn` of a 32-weight type: passes of up to kMaxTokens tokens, decoding passes with
// DecodeBlock, passes of up to kFewTokens tokens with DecodeBlock's `few_dots` (kFewTokens 1:
// none) and the others with PrefillBlock (which may compute the same dot another way).
template <typename DecodeBlock, typename PrefillBlock, int kMaxTokens, StreamPrefetch kPrefetch,
          int kFewTokens = 1>
static void gemm_32(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                    int64_t n_tokens, float* y, size_t y_stride) {
  const int64_t nb = n / 32;
  for_each_pass<kMaxTokens>(
      n_tokens, act, act_stride, y, y_stride, [&]<int kT>(const uint8_t* a, float* out) {
        if constexpr (kT == 1) {
          single_token_pass_32<DecodeBlock, kPrefetch>(nb, group, a, out);
        } else if constexpr (kT <= kFewTokens) {
          few_token_pass_32<DecodeBlock, kT, kPrefetch>(nb, group, a, act_stride, out, y_stride);
        } else {
          gemm_pass_32<PrefillBlock, kT>(nb, group, a, act_stride, out, y_stride);
        }
      });
}

}  // namespace capibara::kernels::x86
