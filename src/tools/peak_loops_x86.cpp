// AVX2, AVX-VNNI and AVX-512 peak loops. Each function carries the `target` attribute of its ISA,
// so this file needs no ISA flags and its generic parts run on any x86-64 CPU; the functions
// themselves are only called after the kernel dispatch has found the ISA (`peak_loops_for`).
#include "tools/peak_loops.hpp"

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/x86/prefetch.hpp"

namespace capibara::tools {
namespace {

#define CAPIBARA_AVX2 __attribute__((target("avx2,fma")))
#define CAPIBARA_AVX_VNNI __attribute__((target("avx2,fma,avxvnni")))
#define CAPIBARA_AVX512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")))
#define CAPIBARA_AVX512_BF16 \
  __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni,avx512bf16")))

// Enough independent chains to cover the latency of every port (FMA: 4 cycles x 2 ports).
constexpr int kChains = 12;

template <typename T>
inline void opaque(T& v) {
  __asm__ volatile("" : "+x"(v));
}

// kPageStarts: ask for the first lines of each 4 KiB page a little before the loop gets there,
// as the decoding passes of the hardware-prefetch variant do (x86/prefetch.hpp). On the AMD EPYC
// Zen 5 host that streamed 2-15 % faster than the plain loop (docs/PERFORMANCE.md, "The bound's
// read loops").
template <bool kPageStarts>
CAPIBARA_AVX2 uint64_t read_avx2(const uint8_t* p, size_t n_bytes) {
  __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
  for (size_t i = 0; i < n_bytes; i += 128) {
    if constexpr (kPageStarts) {
      kernels::x86::prefetch_page_start(p + i, 128);
    }
    s0 = _mm256_add_epi64(s0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    s1 = _mm256_add_epi64(s1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    s2 = _mm256_add_epi64(s2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    s3 = _mm256_add_epi64(s3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
  }
  const __m256i s = _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3));
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

// The same with 512-bit loads, as the AVX-512 kernels read.
template <bool kPageStarts>
CAPIBARA_AVX512 uint64_t read_avx512(const uint8_t* p, size_t n_bytes) {
  __m512i s0 = _mm512_setzero_si512(), s1 = s0;
  for (size_t i = 0; i < n_bytes; i += 128) {
    if constexpr (kPageStarts) {
      kernels::x86::prefetch_page_start(p + i, 128);
    }
    s0 = _mm512_add_epi64(s0, _mm512_load_si512(p + i));
    s1 = _mm512_add_epi64(s1, _mm512_load_si512(p + i + 64));
  }
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, _mm512_add_epi64(s0, s1));
  uint64_t sum = 0;
  for (const uint64_t lane : lanes) sum += lane;
  return sum;
}

CAPIBARA_AVX2 float fp32_avx2(int64_t iterations) {
  __m256 acc[kChains];
  for (int k = 0; k < kChains; ++k) acc[k] = _mm256_set1_ps(0.01f * static_cast<float>(k));
  const __m256 a = _mm256_set1_ps(0.999f);
  const __m256 b = _mm256_set1_ps(0.001f);
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int k = 0; k < kChains; ++k) acc[k] = _mm256_fmadd_ps(acc[k], a, b);
  }
  __m256 s = acc[0];
  for (int k = 1; k < kChains; ++k) s = _mm256_add_ps(s, acc[k]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, s);
  return lanes[0] + lanes[7];
}

// Eight chains: with sixteen registers, the sums and the products in flight fit.
constexpr int kInt8Avx2Chains = 8;

// The fewest instructions any AVX2 u8 x s8 kernel spends per 32 weights: one `vpmaddubsw`
// (products summed in int16 pairs) and one int16 add, the products independent of the sums as in
// the kernels (Q4_0 and the K-quants widen to int32 once per four to eight such steps; Q8_0 needs a
// `vpmaddwd` per step, its pair sums overflowing int16). Until 2026-12-03 the loop took a
// `vpmaddwd` per step too and, through an asm barrier on each chain's input, kept every chain on
// the stack: it read 283-295 GOPS on the Zen 5 host, where this one reads ~800 and the AVX2
// Q4_0 prefill ~390.
CAPIBARA_AVX2 int32_t int8_avx2(int64_t iterations) {
  __m256i acc[kInt8Avx2Chains];
  __m256i activations[kInt8Avx2Chains];  // the signed operand may come from memory
  for (int k = 0; k < kInt8Avx2Chains; ++k) {
    acc[k] = _mm256_setzero_si256();
    activations[k] = _mm256_set1_epi8(static_cast<char>(k + 1));
  }
  __m256i weights = _mm256_set1_epi8(3);
  for (int64_t i = 0; i < iterations; ++i) {
    opaque(weights);  // so that the products are not hoisted out of the loop
#pragma GCC unroll 8
    for (int k = 0; k < kInt8Avx2Chains; ++k) {
      // Sums wrap; only the time counts.
      acc[k] = _mm256_add_epi16(acc[k], _mm256_maddubs_epi16(weights, activations[k]));
    }
  }
  __m256i t = acc[0];
  for (int k = 1; k < kInt8Avx2Chains; ++k) t = _mm256_add_epi16(t, acc[k]);
  return _mm256_extract_epi16(t, 0);
}

// `vpdpbusd` on 256-bit registers (AVX-VNNI): 32 multiply-adds per instruction, as the AVX-VNNI
// table's Q4_0 and Q8_0 prefill uses it (x86/packed_avx_vnni.cpp). Twelve chains in one asm
// statement: GCC 12 wraps each `_mm256_dpbusd_avx_epi32` of such a loop in register copies and
// stores a sum on every round (and keeps an array's sums in memory around a statement per
// chain), and the loop then read 510 GOPS on the two threads of the Zen 5 host, 256 on one.
CAPIBARA_AVX_VNNI int32_t int8_avx_vnni(int64_t iterations) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
          a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
  const __m256i u = _mm256_set1_epi8(2);
  const __m256i s = _mm256_set1_epi8(3);
  for (int64_t i = 0; i < iterations; ++i) {
    // a_k += u . s (AT&T order: the signed operand, the unsigned one, the sums).
    __asm__(
        "%{vex%} vpdpbusd %13, %12, %0\n\t"
        "%{vex%} vpdpbusd %13, %12, %1\n\t"
        "%{vex%} vpdpbusd %13, %12, %2\n\t"
        "%{vex%} vpdpbusd %13, %12, %3\n\t"
        "%{vex%} vpdpbusd %13, %12, %4\n\t"
        "%{vex%} vpdpbusd %13, %12, %5\n\t"
        "%{vex%} vpdpbusd %13, %12, %6\n\t"
        "%{vex%} vpdpbusd %13, %12, %7\n\t"
        "%{vex%} vpdpbusd %13, %12, %8\n\t"
        "%{vex%} vpdpbusd %13, %12, %9\n\t"
        "%{vex%} vpdpbusd %13, %12, %10\n\t"
        "%{vex%} vpdpbusd %13, %12, %11"
        : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5), "+x"(a6), "+x"(a7), "+x"(a8),
          "+x"(a9), "+x"(a10), "+x"(a11)
        : "x"(u), "x"(s));
  }
  const __m256i t = _mm256_add_epi32(
      _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3)),
                       _mm256_add_epi32(_mm256_add_epi32(a4, a5), _mm256_add_epi32(a6, a7))),
      _mm256_add_epi32(_mm256_add_epi32(a8, a9), _mm256_add_epi32(a10, a11)));
  // The sum only keeps the loop alive; it wraps (unsigned) instead of overflowing.
  return static_cast<int32_t>(static_cast<uint32_t>(_mm256_extract_epi32(t, 0)) +
                              static_cast<uint32_t>(_mm256_extract_epi32(t, 7)));
}

CAPIBARA_AVX512 float fp32_avx512(int64_t iterations) {
  __m512 acc[kChains];
  for (int k = 0; k < kChains; ++k) acc[k] = _mm512_set1_ps(0.01f * static_cast<float>(k));
  const __m512 a = _mm512_set1_ps(0.999f);
  const __m512 b = _mm512_set1_ps(0.001f);
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int k = 0; k < kChains; ++k) acc[k] = _mm512_fmadd_ps(acc[k], a, b);
  }
  __m512 s = acc[0];
  for (int k = 1; k < kChains; ++k) s = _mm512_add_ps(s, acc[k]);
  // (Not `_mm512_reduce_add_ps`: GCC 12 warns inside it about an uninitialized temporary.)
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  return lanes[0] + lanes[15];
}

// `vpdpbusd`: four u8 x s8 products summed into each i32 lane, 64 multiply-adds per instruction.
CAPIBARA_AVX512 int32_t int8_avx512(int64_t iterations) {
  __m512i acc[kChains];
  for (int k = 0; k < kChains; ++k) acc[k] = _mm512_setzero_si512();
  const __m512i u = _mm512_set1_epi8(2);
  const __m512i s = _mm512_set1_epi8(3);
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int k = 0; k < kChains; ++k) acc[k] = _mm512_dpbusd_epi32(acc[k], u, s);
  }
  __m512i t = acc[0];
  for (int k = 1; k < kChains; ++k) t = _mm512_add_epi32(t, acc[k]);
  alignas(64) int32_t lanes[16];
  _mm512_store_si512(lanes, t);
  // The sum only keeps the loop alive; it wraps (unsigned) instead of overflowing.
  return static_cast<int32_t>(static_cast<uint32_t>(lanes[0]) + static_cast<uint32_t>(lanes[15]));
}

// `vdpbf16ps`: two bf16 products added into each f32 lane, 32 multiply-adds per instruction, as
// the BF16 packed kernel uses it (x86/packed_float_avx512bf16.cpp).
CAPIBARA_AVX512_BF16 float bf16_avx512(int64_t iterations) {
  __m512 acc[kChains];
  for (int k = 0; k < kChains; ++k) acc[k] = _mm512_set1_ps(0.01f * static_cast<float>(k));
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.999f), _mm512_set1_ps(0.998f));
  const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.001f), _mm512_set1_ps(0.002f));
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int k = 0; k < kChains; ++k) acc[k] = _mm512_dpbf16_ps(acc[k], a, b);
  }
  __m512 s = acc[0];
  for (int k = 1; k < kChains; ++k) s = _mm512_add_ps(s, acc[k]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  return lanes[0] + lanes[15];
}

#undef CAPIBARA_AVX2
#undef CAPIBARA_AVX_VNNI
#undef CAPIBARA_AVX512
#undef CAPIBARA_AVX512_BF16

constexpr ReadLoop kAvx2Reads[] = {{"plain", read_avx2<false>}, {"page starts", read_avx2<true>}};
// With 512-bit loads, the page-start loop streamed 1-5 % faster than with 256-bit ones in the
// medians of three alternated runs on the Zen 5 host, the plain loop 2-3 % slower: both kinds
// are kept, and the bound takes the fastest.
constexpr ReadLoop kAvx512Reads[] = {{"plain", read_avx2<false>},
                                     {"page starts", read_avx2<true>},
                                     {"plain 512", read_avx512<false>},
                                     {"page starts 512", read_avx512<true>}};

}  // namespace

const PeakLoops* x86_avx2_peak_loops() {
  static const PeakLoops loops{"avx2",          kAvx2Reads, fp32_avx2,
                               2 * 8 * kChains, int8_avx2,  2 * 32 * kInt8Avx2Chains};
  return &loops;
}

const PeakLoops* x86_avx_vnni_peak_loops() {
  static const PeakLoops loops{"avxvnni",       kAvx2Reads,    fp32_avx2,
                               2 * 8 * kChains, int8_avx_vnni, 2 * 32 * kChains};
  return &loops;
}

const PeakLoops* x86_avx512_peak_loops() {
  static const PeakLoops loops{"avx512",         kAvx512Reads, fp32_avx512,
                               2 * 16 * kChains, int8_avx512,  2 * 64 * kChains};
  static const PeakLoops with_bf16{"avx512",    kAvx512Reads,     fp32_avx512, 2 * 16 * kChains,
                                   int8_avx512, 2 * 64 * kChains, bf16_avx512, 2 * 32 * kChains};
  return kernels::cpu_has_avx512_bf16() ? &with_bf16 : &loops;
}

}  // namespace capibara::tools

#else

namespace capibara::tools {
const PeakLoops* x86_avx2_peak_loops() { return nullptr; }
const PeakLoops* x86_avx_vnni_peak_loops() { return nullptr; }
const PeakLoops* x86_avx512_peak_loops() { return nullptr; }
}  // namespace capibara::tools

#endif
