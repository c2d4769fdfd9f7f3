// Software prefetch of packed weights some KiB ahead of the block being computed.
//
// Why: one core alone reads DRAM at only ~11 GB/s with the hardware prefetchers, limited by the
// misses it can keep in flight. Prefetching into L2 (`prefetcht1`; L2 tracks more misses than
// L1's fill buffers) far enough ahead raised TinyLlama decoding from 40.9 to 44.3 tok/s (Q4_0)
// and from 33 to 39 (Q4_K_M) on two cores; prefetching into L1 gained half as much. The large
// K-quant blocks ask for their share of the lines at each of their `parts` steps.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/stream_prefetch.hpp"

namespace capibara::kernels::x86 {

// Prefetches `lines` cache lines from p into L2.
inline void prefetch_lines(const uint8_t* p, size_t lines) {
  for (size_t line = 0; line < lines; ++line) __builtin_prefetch(p + 64 * line, 0, 2);
}

// Prefetches kLines cache lines from p into L1 (`prefetcht0`), in address order: what a decoding
// pass asks for first among the lines it would otherwise touch out of address order, so that its
// misses reach the hardware prefetchers as one ascending stream (x86/packed_q4_k_ymm.hpp,
// packed_q6_k_ymm.hpp; docs/PERFORMANCE.md, "Lines in order").
template <size_t kLines>
inline void prefetch_lines_in_order(const uint8_t* p) {
#pragma GCC unroll 16
  for (size_t line = 0; line < kLines; ++line) __builtin_prefetch(p + 64 * line, 0, 3);
}

// In the hardware-prefetch variant (stream_prefetch.hpp), a decoding pass asks for the first
// lines of each 4 KiB page a little before it gets there. Why: the prefetchers appear to restart
// at every 4 KiB boundary, even inside a huge page, and the first misses of each page then wait
// for DRAM. On the AMD EPYC Zen 5 host, a harness alternating variants
// against a read loop: Q8_0 0.84-0.95 of the read loop with 2 lines 1 KiB ahead against
// 0.78-0.86 without (Q4_0 0.73-0.95 against 0.71-0.77); 4, 6, 8 lines or 0.75 and 1.5 KiB ahead
// did worse (docs/PERFORMANCE.md, "Page starts").
inline constexpr size_t kPageStartLeadBytes = 1024;
inline constexpr size_t kPageStartLines = 2;

// For a stream that reads [p, p + bytes) next: prefetches the first kPageStartLines cache lines
// of the 4 KiB page that the same span kPageStartLeadBytes further on runs into, if it runs into
// one (a prefetch never faults, so the page may lie past the data). Called once per step of a
// stream, it asks for each page's start once.
inline void prefetch_page_start(const uint8_t* p, size_t bytes) {
  const auto first = reinterpret_cast<uintptr_t>(p) + kPageStartLeadBytes;
  const uintptr_t last = first + bytes;
  if (first >> 12 == last >> 12) return;
  prefetch_lines(reinterpret_cast<const uint8_t*>(last & ~uintptr_t{4095}), kPageStartLines);
}

// `prefetch_page_start` for part `part` of kParts equal parts of a block of kBytes at p: a pass
// that computes a large block in kParts steps (the K-quants) checks its share at each step. (The
// share is a compile-time constant: with it computed at run time the passes compiled to other
// code, and Q4_K_M decoding measured 8-13 % slower in 5 of 6 alternated pairs.)
template <size_t kBytes, int kParts>
inline void prefetch_page_start_part(const uint8_t* p, int part) {
  static_assert(kBytes % kParts == 0);
  constexpr size_t kShare = kBytes / kParts;
  prefetch_page_start(p + kShare * static_cast<size_t>(part), kShare);
}

// Prefetches part `part` of `parts` of the cache lines of [p, p + bytes) into L2.
inline void prefetch_part(const uint8_t* p, size_t bytes, int part, int parts) {
  const size_t lines = (bytes + 63) / 64;
  const size_t first = lines * static_cast<size_t>(part) / static_cast<size_t>(parts);
  const size_t last = lines * static_cast<size_t>(part + 1) / static_cast<size_t>(parts);
  prefetch_lines(p + 64 * first, last - first);
}

// `prefetch_part` with the block's size and part count known at compile time: each part asks for
// the same number of lines (the parts overlap by a line where they do not divide the block), as
// straight-line prefetches with no loop of varying trip count (4 or 5 lines for a Q4_K group's
// eighth, a loop whose branch the samples of `perf` pointed at). AVX2 Q4_K / Q6_K decoding on a
// Zen 4, alternated: +3 to +6 % and +3 to +10 % (`Stream/decode`; docs/PERFORMANCE.md, "fp8 KV
// tiles as halves for decoding; an AVX2-only Zen 4 host"); those passes now ask for a quarter of
// the block per step. The AVX-512 kernels keep `prefetch_part`: no AVX-512 machine was at hand to
// measure them.
template <size_t kBytes, int kParts>
inline void prefetch_part_of(const uint8_t* p, int part) {
  constexpr size_t kLines = (kBytes + 63) / 64;
  constexpr size_t kPerPart = (kLines + kParts - 1) / kParts;
  const size_t first = kLines * static_cast<size_t>(part) / kParts;
#pragma GCC unroll 16
  for (size_t line = 0; line < kPerPart; ++line) __builtin_prefetch(p + 64 * (first + line), 0, 2);
}

// How far ahead the AVX2 K-quant decoding passes (x86/packed_q4_k_ymm.hpp, packed_q6_k_ymm.hpp)
// ask for the weights of a block of kBlockBytes (in the hardware variant, only Q6_K's now: Q4_K
// and Q5_K leave it to the hardware prefetchers, packed_q4_k_ymm.hpp says why), and so do their
// multi-token passes in a call's first pass over a group. The software
// variant keeps the 1.5 blocks tuned on the Intel Xeon of the first sessions. On AMD (the hardware
// variant) a prefetch into L2 must be issued about 7 KiB ahead: on the AVX2-only Zen 4 host, one
// core streamed Q4_K at 16 GB/s with 1.5 blocks (3.4 KiB) ahead and 25-26 GB/s with 3 (6.75 KiB),
// Q6_K at 19-20 against 23-26 with 2-2.5 blocks, and TinyLlama Q4_K_M decoding ran 48-51 -> 54-70
// tok/s on two cores (docs/PERFORMANCE.md, "The K-quants' prefetch distance on AMD"). The AVX-512
// passes keep their own distance, measured flat between 1.5 and 3 blocks on the Zen 5 host.
template <StreamPrefetch kPrefetch, size_t kBlockBytes>
inline constexpr size_t kKQuantAheadBytes =
    kPrefetch == StreamPrefetch::kHardware ? 7 * 1024 : kBlockBytes * 3 / 2 / 64 * 64;

}  // namespace capibara::kernels::x86
