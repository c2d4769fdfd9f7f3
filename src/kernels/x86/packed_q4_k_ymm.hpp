// The Q4_K and Q5_K passes in 256-bit registers (the layouts: packed_q4_k.cpp, packed_q5_k.cpp),
// shared by the AVX2 table (x86/packed_avx2.cpp) and the AVX-VNNI one (x86/packed_avx_vnni.cpp).
// Per row half and sub-block pair p, chunks 8p..8p+7 hold sub-block 2p in their low nibbles and
// 2p + 1 in their high ones; a pass unpacks each sub-block once for its kT tokens, and the tables
// differ only in how one sub-block's eight chunks take their dot with a token and scale it by
// the rows' 6-bit scales, the `SubBlocks` of `pass_q4_k`:
//
//   using Scales = ...;  // the rows' scales, as the dot wants them
//   static Scales scales(const uint8_t* p);  // from eight bytes, one per row
//   static void accumulate(const __m256i (&w)[8], const uint8_t* qs, Scales sc,
//                          __m256i& total);
//
// where `accumulate` adds the scaled exact integer dot of each row to its int32 lane of total.
// The float operations per (row, token) are the references', in their order, so the results
// match `scalar::packed_gemm_q4_k` / `_q5_k` bit for bit whatever the number of tokens.
//
// Include only from translation units compiled with at least -mavx2 -mfma -mf16c; everything
// here has internal linkage (packed_32_ymm.hpp says why).
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "core/quant_blocks.hpp"
#include "kernels/packed_formats.hpp"
#include "kernels/stream_prefetch.hpp"
#include "kernels/token_passes.hpp"
#include "kernels/x86/packed_32_ymm.hpp"
#include "kernels/x86/prefetch.hpp"

namespace capibara::kernels::x86 {

static inline __m128i load8(const uint8_t* p) {
  return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
}

// Eight bytes (one per row) as the int16 pair (x, x) of each row's 32-bit lane, for
// `_mm256_madd_epi16`.
static inline __m256i dup_u8_pairs(const uint8_t* p) {
  const __m128i b = load8(p);
  return _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(b, b));
}

namespace {

// AVX2's sub-block dot: `vpmaddubsw` sums in int16, then one `vpmaddwd` with the rows' scales
// per kChunksPerSum chunks (int16 headroom: x86/packed_avx2.cpp; Q5_K's 5-bit quants allow four
// chunks per sum, Q4_K's nibbles eight).
template <bool kFive>
struct MaddubsSubBlocks {
  using Scales = __m256i;
  static constexpr int kChunksPerSum = kFive ? 4 : 8;

  static Scales scales(const uint8_t* p) { return dup_u8_pairs(p); }

  static void accumulate(const __m256i (&w)[8], const uint8_t* qs, Scales sc, __m256i& total) {
    for (int c0 = 0; c0 < 8; c0 += kChunksPerSum) {
      __m256i s = _mm256_maddubs_epi16(w[c0], broadcast_quads(qs + 4 * c0));
      for (int c = c0 + 1; c < c0 + kChunksPerSum; ++c) {
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(w[c], broadcast_quads(qs + 4 * c)));
        // One chain in one register (Q4_K): `Matmul/avx2/q4_K/tokens:16`, one thread, 815-825 us
        // against 858-947 unpinned, alternated; Q5_K's was not measured apart and stays as it was.
        if constexpr (!kFive) keep_in_register(s);
      }
      total = _mm256_add_epi32(total, _mm256_madd_epi16(s, sc));
    }
  }
};

}  // namespace

// The 32-value sums of sub-blocks 2p and 2p + 1 of a Q8_K block as one int16 pair per lane.
static inline __m256i pair_sums(const uint8_t* a, int p) {
  const uint8_t* bsums = a + offsetof(BlockQ8_K, bsums);
  const auto sum = [&](int j) { return load_as<int16_t>(bsums + sizeof(int16_t) * j); };
  const auto lo = static_cast<uint16_t>(sum(4 * p) + sum(4 * p + 1));
  const auto hi = static_cast<uint16_t>(sum(4 * p + 2) + sum(4 * p + 3));
  return _mm256_set1_epi32(static_cast<int32_t>(uint32_t{lo} | (uint32_t{hi} << 16)));
}

// The block's raw six-bit scales and mins (packed_q4_k.cpp) into the unpacked layout at `out`
// (kQ4KUnpackedBytes, 32-byte aligned) for all 16 rows: ggml's `get_scale_min_k4` as byte masks
// and shifts (16-bit shifts whose stray bits the masks drop; (x >> 6) << 4 is (x >> 2) & 0x30).
static inline void unpack_q4_k_scales(const uint8_t* raw, uint8_t* out) {
  const __m256i six = _mm256_set1_epi8(0x3F);
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  const __m256i top = _mm256_set1_epi8(0x30);
  for (int k = 0; k < 2; ++k) {
    const __m256i sc = load_ymm(raw + 32 * k);        // bytes 2k, 2k + 1: scales 2k, 2k + 1
    const __m256i mn = load_ymm(raw + 64 + 32 * k);   // bytes 4 + 2k, ..: mins 2k, 2k + 1
    const __m256i hi = load_ymm(raw + 128 + 32 * k);  // bytes 8 + 2k, ..: low nibbles of 4 + 2k, ..
    _mm256_store_si256(reinterpret_cast<__m256i*>(out + kQ4KScales + 32 * k),
                       _mm256_and_si256(sc, six));
    _mm256_store_si256(reinterpret_cast<__m256i*>(out + kQ4KScales + 64 + 32 * k),
                       _mm256_or_si256(_mm256_and_si256(hi, nibble),
                                       _mm256_and_si256(_mm256_srli_epi16(sc, 2), top)));
    const __m256i mins[2] = {
        _mm256_and_si256(mn, six),  // [m 2k | m 2k+1], 16 rows each
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(hi, 4), nibble),
                        _mm256_and_si256(_mm256_srli_epi16(mn, 2), top)),  // [m 4+2k | ..]
    };
    for (int j = 0; j < 2; ++j) {  // pair p = k + 2 j: mins 2p, 2p + 1 side by side per row
      const __m128i even = _mm256_castsi256_si128(mins[j]);
      const __m128i odd = _mm256_extracti128_si256(mins[j], 1);
      uint8_t* dst = out + kQ4KMins + 32 * (k + 2 * j);
      _mm_store_si128(reinterpret_cast<__m128i*>(dst), _mm_unpacklo_epi8(even, odd));
      _mm_store_si128(reinterpret_cast<__m128i*>(dst + 16), _mm_unpackhi_epi8(even, odd));
    }
  }
}

// Row half g's mins of sub-blocks 2p, 2p + 1 side by side as int16, per row, from the unpacked
// scales `sm`.
static inline void load_q4_k_mins(const uint8_t* sm, int g, __m256i (&m16)[4]) {
  for (int p = 0; p < 4; ++p) {
    m16[p] = _mm256_cvtepu8_epi16(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(sm + kQ4KMins + 32 * p + 16 * g)));
  }
}

// acc plus one row half's share of a block with token block `a` (a BlockQ8_K), from the exact
// integer sum of its scaled sub-block dots: the references' float steps, in their order.
static inline __m256 add_q4_k_half(__m256i total, const __m256i (&m16)[4], __m256 dw, __m256 dmin,
                                   const uint8_t* a, __m256 acc) {
  __m256i mins = _mm256_madd_epi16(m16[0], pair_sums(a, 0));
  for (int p = 1; p < 4; ++p) {
    mins = _mm256_add_epi32(mins, _mm256_madd_epi16(m16[p], pair_sums(a, p)));
  }
  const __m256 da = _mm256_set1_ps(load_as<float>(a + offsetof(BlockQ8_K, d)));
  acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), _mm256_mul_ps(dw, da), acc);
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_setzero_si256(), mins)),
                         _mm256_mul_ps(dmin, da), acc);
}

// Q5_K: bit 2p + h of each byte of a high-bit chunk to bit 4 of the nibbles `w` of sub-block
// 2p + h (16-bit shifts whose stray bits the mask drops).
static inline __m256i add_fifth_bit(__m256i w, __m256i high, int p, int h) {
  const __m256i bits = _mm256_srl_epi16(high, _mm_cvtsi32_si128(2 * p + h));
  return _mm256_or_si256(w, _mm256_and_si256(_mm256_slli_epi16(bits, 4), _mm256_set1_epi8(0x10)));
}

// Q5_K decoding: bit kS of each byte of a high-bit chunk as 16, the fifth bit of sub-block kS's
// weights, by one shift by an immediate (none for kS = 4) and a mask (16-bit shifts whose stray
// bits the mask drops): with the or, 2.9 operations a chunk and sub-block on average against
// `add_fifth_bit`'s four, two of them on the Zen 4's two shift pipes. Decoding, whose sub-block
// pairs unroll (`for_each_step`), takes it; prefill keeps `add_fifth_bit` in its rolled loop, which
// unrolled for this ran slower (`Matmul/avx2/q5_K/tokens:16/threads:1/packed` 1301-1307 us against
// 1061-1074).
template <int kS>
static inline __m256i fifth_bit_16(__m256i high) {
  if constexpr (kS < 4) high = _mm256_slli_epi16(high, 4 - kS);
  if constexpr (kS > 4) high = _mm256_srli_epi16(high, kS - 4);
  return _mm256_and_si256(high, _mm256_set1_epi8(0x10));
}
// Sub-blocks 2kP and 2kP + 1's fifth bits into their nibbles w[0] and w[1].
template <int kP>
static inline void add_fifth_bits(__m256i (&w)[2], __m256i high) {
  w[0] = _mm256_or_si256(w[0], fifth_bit_16<2 * kP>(high));
  w[1] = _mm256_or_si256(w[1], fifth_bit_16<2 * kP + 1>(high));
}

// Calls `step.template operator()<k>()` for k = 0, .., kN - 1, each with its index known.
template <int kN, typename Step>
static inline void for_each_step(Step&& step) {
  [&]<int... k>(std::integer_sequence<int, k...>) { (step.template operator()<k>(), ...); }
  (std::make_integer_sequence<int, kN>{});
}

// Per row half and sub-block pair p, chunks 8p..8p+7 hold sub-block 2p in their low nibbles and
// 2p + 1 in their high ones; each sub-block is unpacked once for the kT tokens, and its dot with
// each token is scaled per row as SubBlocks does it (AVX2: one `vpmaddwd` of the int16 sums with
// the rows' scales, two for Q5_K, whose int16 sums hold four chunks). kFive: Q5_K, whose blocks add
// the fifth bits (packed_q5_k.cpp): bits 2p + h of high-bit chunk c belong to the weights of chunk
// 8p + c's sub-block 2p + h. Prefill only (kT >= 2: decoding takes `decode_pass_q4_k`).
// `first`: whether this is the call's first pass over the group, the one that brings its lines in;
// it asks for them as decoding does (kKQuantAheadBytes). Where each group is read once (a few
// sequences decoding together) the hardware prefetchers alone left the pass waiting on memory; the
// later passes of a call find the group in L2, and asking in every pass cost pp512 2.5 %. AVX2
// TinyLlama Q4_K_M, `bench --parallel` 2 / 4 / 8 sequences: 68-71 / 92-93 / 108-109 tok/s against
// 62-66 / 73 / 87-91; pp512 133-136 against 131-135 (docs/PERFORMANCE.md, "AVX2 Q8_0 prefill in
// int16").
template <typename SubBlocks, bool kFive, int kT, StreamPrefetch kPrefetch>
static void pass_q4_k(int64_t nb, const uint8_t* group, const uint8_t* act, size_t act_stride,
                      float* y, size_t y_stride, bool first) {
  static_assert(kT >= 2, "one token takes decode_pass_q4_k");
  using Layout = Q4KBlockLayout<kFive>;
  static_assert(kQ4KRawScales == 0 && kQ5KRawScales == 0);
  const __m256i low = _mm256_set1_epi8(0x0F);
  alignas(32) uint8_t sm[kQ4KUnpackedBytes];
  __m256 acc[kT][2];
  for (int t = 0; t < kT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + static_cast<size_t>(b) * Layout::kBlockBytes;
    if (first) {
      prefetch_lines(blk + kKQuantAheadBytes<kPrefetch, Layout::kBlockBytes>,
                     Layout::kBlockBytes / 64);
    }
    unpack_q4_k_scales(blk, sm);
    const uint8_t* a[kT];
    for (int t = 0; t < kT; ++t) {
      a[t] = act + static_cast<size_t>(t) * act_stride + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    }
    for (int g = 0; g < 2; ++g) {
      __m256i total[kT];
      for (int t = 0; t < kT; ++t) total[t] = _mm256_setzero_si256();
      for (int p = 0; p < 4; ++p) {
        for (int h = 0; h < 2; ++h) {  // sub-block 2p + h
          __m256i w[8];
          for (int c = 0; c < 8; ++c) {
            const __m256i v = load_ymm(blk + Layout::kQuants + 64 * (8 * p + c) + 32 * g);
            w[c] = _mm256_and_si256(h == 0 ? v : _mm256_srli_epi16(v, 4), low);
            if constexpr (kFive) {
              w[c] = add_fifth_bit(w[c], load_ymm(blk + kQ5KHigh + 64 * c + 32 * g), p, h);
            }
          }
          const auto sc = SubBlocks::scales(sm + kQ4KScales + 16 * (2 * p + h) + 8 * g);
#pragma GCC unroll 8
          for (int t = 0; t < kT; ++t) {
            const uint8_t* qs = a[t] + offsetof(BlockQ8_K, qs) + 64 * p + 32 * h;
            SubBlocks::accumulate(w, qs, sc, total[t]);
            // In prefill, GCC 12 keeps some tokens' sums on the stack and adds them later;
            // pinning each total in a register here measured Q4_K_M pp512 2-4 % faster with
            // AVX2's and AVX-VNNI's sub-blocks (five of six alternated rounds each, the sixth
            // equal), Q5_K_M not (-2 to +2 %).
            if constexpr (!kFive) keep_in_register(total[t]);
          }
        }
      }
      __m256i m16[4];
      load_q4_k_mins(sm, g, m16);
      const __m256 dw = load_halves(blk + Layout::kD + 16 * g);
      const __m256 dmin = load_halves(blk + Layout::kDmin + 16 * g);
      for (int t = 0; t < kT; ++t) {
        acc[t][g] = add_q4_k_half(total[t], m16, dw, dmin, a[t], acc[t][g]);
      }
    }
  }
  for (int t = 0; t < kT; ++t) {
    float* out = y + static_cast<size_t>(t) * y_stride;
    _mm256_storeu_ps(out, acc[t][0]);
    _mm256_storeu_ps(out + 8, acc[t][1]);
  }
}

// The lines of a Q4_K / Q5_K block that its decoding pass would otherwise first touch out of
// address order, asked for into L1 as the block starts: d and dmin (used at its end) and Q5_K's
// fifth bits (read alongside the quants that follow them). The misses then come as one ascending
// stream, which the hardware prefetchers follow. With the pass's lines out of order they streamed
// Q4_K from DRAM slower than Q4_0 and needed a software prefetch 7 KiB ahead, and Q5_K at half
// speed without it; in order, on the AVX2-only Zen 4 host, two threads streaming 1 GiB, Q4_K
// without the software prefetch ran ~8 % faster than with it, its vCPUs on one CCD or on two, and
// Q5_K ~7 % on one CCD (docs/PERFORMANCE.md, "Lines in order").
template <bool kFive>
static inline void prefetch_lines_used_out_of_order(const uint8_t* blk) {
  using Layout = Q4KBlockLayout<kFive>;
  static_assert(Layout::kD / 64 == (Layout::kDmin + 31) / 64, "d and dmin share a line");
  prefetch_lines_in_order<1>(blk + Layout::kD);
  if constexpr (kFive) prefetch_lines_in_order<(kQ5KQuants - kQ5KHigh) / 64>(blk + kQ5KHigh);
}

// What a pass that reads each group once from memory (decoding, `few_token_pass_q4_k`) asks for in
// step p (a quarter) of a block: where the hardware prefetchers stream (stream_prefetch.hpp), they
// are left to it, helped at page starts; elsewhere the weights kKQuantAheadBytes ahead.
template <size_t kBlockBytes, StreamPrefetch kPrefetch>
static inline void prefetch_streamed_step(const uint8_t* blk, int p) {
  if constexpr (kPrefetch == StreamPrefetch::kHardware) {
    prefetch_page_start_part<kBlockBytes, 4>(blk, p);
  } else {
    prefetch_part_of<kBlockBytes, 4>(blk + kKQuantAheadBytes<kPrefetch, kBlockBytes>, p);
  }
}

// Q4_K (kFive false) and Q5_K decoding (one token, AVX2's `vpmaddubsw` dots, which the AVX-VNNI
// table's decoding takes too): per sub-block pair p, chunk by chunk, both row halves and both
// sub-blocks at once, so that each 32-byte load gives its two sub-blocks' quants and each
// broadcast of the token's quads serves both halves, and each (sub-block, half) sum builds up in
// one chain pinned to a register, for kChunksPerSum chunks (int16 headroom: x86/packed_avx2.cpp).
// `pass_q4_k` with one token unpacks a sub-block's eight chunks for one half at a time: on the
// Zen 4 host that streamed Q4_K at 28-29 GB/s from cache (`Matmul/avx2/q4_K/tokens:1/threads:1/
// packed`, 81-83 us), this pass 35 (67-68 us), alternated (docs/PERFORMANCE.md, "Decoding passes
// chunk by chunk, sums pinned"). The pairs unroll so that Q5_K's fifth bits take shifts by
// immediates (`fifth_bit_16`) and each pair's scales are widened once: `DecodePass/avx2/q5_K`
// 1593-1618 ns against 1824-1845, Q4_K 959-962 against 968-973 (docs/PERFORMANCE.md, "Q5_K
// decoding's fifth bits").
template <bool kFive, StreamPrefetch kPrefetch>
static void decode_pass_q4_k(int64_t nb, const uint8_t* group, const uint8_t* act, float* y) {
  using Layout = Q4KBlockLayout<kFive>;
  constexpr size_t kBlockBytes = Layout::kBlockBytes;
  constexpr int kChunksPerSum = MaddubsSubBlocks<kFive>::kChunksPerSum;
  const __m256i low = _mm256_set1_epi8(0x0F);
  alignas(32) uint8_t sm[kQ4KUnpackedBytes];
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + static_cast<size_t>(b) * kBlockBytes;
    prefetch_lines_used_out_of_order<kFive>(blk);
    unpack_q4_k_scales(blk, sm);
    const uint8_t* a = act + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    const uint8_t* qs = a + offsetof(BlockQ8_K, qs);
    __m256i total[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    for_each_step<4>([&]<int p>() {
      prefetch_streamed_step<kBlockBytes, kPrefetch>(blk, p);
      __m256i sc[2][2];  // [sub-block 2p + h][row half g]: the rows' scales as int16 pairs
      for (int h = 0; h < 2; ++h) {
        for (int g = 0; g < 2; ++g)
          sc[h][g] = dup_u8_pairs(sm + kQ4KScales + 16 * (2 * p + h) + 8 * g);
      }
      for (int c0 = 0; c0 < 8; c0 += kChunksPerSum) {
        __m256i s[2][2];  // [sub-block 2p + h][row half g], int16
        for (int c = c0; c < c0 + kChunksPerSum; ++c) {
          const __m256i quads[2] = {broadcast_quads(qs + 64 * p + 4 * c),
                                    broadcast_quads(qs + 64 * p + 32 + 4 * c)};
          for (int g = 0; g < 2; ++g) {
            const __m256i v = load_ymm(blk + Layout::kQuants + 64 * (8 * p + c) + 32 * g);
            __m256i w[2] = {_mm256_and_si256(v, low),
                            _mm256_and_si256(_mm256_srli_epi16(v, 4), low)};
            if constexpr (kFive) add_fifth_bits<p>(w, load_ymm(blk + kQ5KHigh + 64 * c + 32 * g));
            for (int h = 0; h < 2; ++h) {
              const __m256i product = _mm256_maddubs_epi16(w[h], quads[h]);
              s[h][g] = c == c0 ? product : _mm256_add_epi16(s[h][g], product);
              keep_in_register(s[h][g]);
            }
          }
        }
        for (int g = 0; g < 2; ++g) {
          for (int h = 0; h < 2; ++h) {
            total[g] = _mm256_add_epi32(total[g], _mm256_madd_epi16(s[h][g], sc[h][g]));
          }
        }
      }
    });
    for (int g = 0; g < 2; ++g) {
      __m256i m16[4];
      load_q4_k_mins(sm, g, m16);
      acc[g] = add_q4_k_half(total[g], m16, load_halves(blk + Layout::kD + 16 * g),
                             load_halves(blk + Layout::kDmin + 16 * g), a, acc[g]);
    }
  }
  _mm256_storeu_ps(y, acc[0]);
  _mm256_storeu_ps(y + 8, acc[1]);
}

// A few sequences decoding together: `decode_pass_q4_k`'s steps for kT tokens (the AVX2 table takes
// it for two: x86/packed_avx2.cpp), each
// chunk unpacked once for all of them, the broadcasts of the tokens' quads taken per row half to
// leave the registers to the 4 kT int16 sums. `pass_q4_k`, which unpacks a sub-block's eight
// chunks for one half at a time, took two tokens at 2.2 times one token's time with the weights
// in cache (`DecodePass/avx2/q4_K/tokens:2` 2090 ns against 958); this pass streams each group
// once, as decoding does. (Written apart from `decode_pass_q4_k`: one template for both made GCC
// 12 compile the one-token pass 20-75 % slower.)
template <bool kFive, int kT, StreamPrefetch kPrefetch>
static void few_token_pass_q4_k(int64_t nb, const uint8_t* group, const uint8_t* act,
                                size_t act_stride, float* y, size_t y_stride) {
  static_assert(kT >= 2, "one token takes decode_pass_q4_k");
  using Layout = Q4KBlockLayout<kFive>;
  constexpr size_t kBlockBytes = Layout::kBlockBytes;
  constexpr int kChunksPerSum = MaddubsSubBlocks<kFive>::kChunksPerSum;
  const __m256i low = _mm256_set1_epi8(0x0F);
  alignas(32) uint8_t sm[kQ4KUnpackedBytes];
  __m256 acc[kT][2];
  for (int t = 0; t < kT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + static_cast<size_t>(b) * kBlockBytes;
    prefetch_lines_used_out_of_order<kFive>(blk);
    unpack_q4_k_scales(blk, sm);
    const uint8_t* a[kT];
    for (int t = 0; t < kT; ++t) {
      a[t] = act + static_cast<size_t>(t) * act_stride + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    }
    __m256i total[kT][2];
    for (int t = 0; t < kT; ++t) total[t][0] = total[t][1] = _mm256_setzero_si256();
    for_each_step<4>([&]<int p>() {
      prefetch_streamed_step<kBlockBytes, kPrefetch>(blk, p);
      for (int c0 = 0; c0 < 8; c0 += kChunksPerSum) {
        // [token][sub-block 2p + h][row half g], int16. Each is written by its first chunk (c ==
        // c0); zeroed for GCC 12, which cannot see that and warns (and, left uninitialized with the
        // warning silenced, compiled the pass 36 % slower: 2279 against 1674 ns at two tokens).
        __m256i s[kT][2][2] = {};
        for (int c = c0; c < c0 + kChunksPerSum; ++c) {
          for (int g = 0; g < 2; ++g) {
            const __m256i v = load_ymm(blk + Layout::kQuants + 64 * (8 * p + c) + 32 * g);
            __m256i w[2] = {_mm256_and_si256(v, low),
                            _mm256_and_si256(_mm256_srli_epi16(v, 4), low)};
            if constexpr (kFive) add_fifth_bits<p>(w, load_ymm(blk + kQ5KHigh + 64 * c + 32 * g));
            for (int t = 0; t < kT; ++t) {
              const uint8_t* qs = a[t] + offsetof(BlockQ8_K, qs) + 64 * p + 4 * c;
              for (int h = 0; h < 2; ++h) {
                const __m256i product = _mm256_maddubs_epi16(w[h], broadcast_quads(qs + 32 * h));
                s[t][h][g] = c == c0 ? product : _mm256_add_epi16(s[t][h][g], product);
                keep_in_register(s[t][h][g]);
              }
            }
          }
        }
        for (int h = 0; h < 2; ++h) {
          for (int g = 0; g < 2; ++g) {
            const __m256i sc = dup_u8_pairs(sm + kQ4KScales + 16 * (2 * p + h) + 8 * g);
            for (int t = 0; t < kT; ++t) {
              total[t][g] = _mm256_add_epi32(total[t][g], _mm256_madd_epi16(s[t][h][g], sc));
            }
          }
        }
      }
    });
    for (int g = 0; g < 2; ++g) {
      __m256i m16[4];
      load_q4_k_mins(sm, g, m16);
      const __m256 dw = load_halves(blk + Layout::kD + 16 * g);
      const __m256 dmin = load_halves(blk + Layout::kDmin + 16 * g);
      for (int t = 0; t < kT; ++t) {
        acc[t][g] = add_q4_k_half(total[t][g], m16, dw, dmin, a[t], acc[t][g]);
      }
    }
  }
  for (int t = 0; t < kT; ++t) {
    float* out = y + static_cast<size_t>(t) * y_stride;
    _mm256_storeu_ps(out, acc[t][0]);
    _mm256_storeu_ps(out + 8, acc[t][1]);
  }
}

// A `PackedGemmFn` of Q4_K (kFive false) or Q5_K: passes of up to kMaxTokens tokens, decoding
// passes with `decode_pass_q4_k`, passes of up to kFewTokens tokens with `few_token_pass_q4_k`
// (kFewTokens 1: none) and the others with SubBlocks.
template <typename SubBlocks, bool kFive, int kMaxTokens, StreamPrefetch kPrefetch,
          int kFewTokens = 1>
static void gemm_q4_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  const int64_t nb = n / 256;
  for_each_pass<kMaxTokens>(
      n_tokens, act, act_stride, y, y_stride, [&]<int kT>(const uint8_t* a, float* out) {
        if constexpr (kT == 1) {
          decode_pass_q4_k<kFive, kPrefetch>(nb, group, a, out);
        } else if constexpr (kT <= kFewTokens) {
          few_token_pass_q4_k<kFive, kT, kPrefetch>(nb, group, a, act_stride, out, y_stride);
        } else {
          pass_q4_k<SubBlocks, kFive, kT, kPrefetch>(nb, group, a, act_stride, out, y_stride,
                                                     a == static_cast<const uint8_t*>(act));
        }
      });
}

}  // namespace capibara::kernels::x86
