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

namespace capibara::kernels::x86 {

// Prefetches `lines` cache lines from p into L2.
inline void prefetch_lines(const uint8_t* p, size_t lines) {
  for (size_t line = 0; line < lines; ++line) __builtin_prefetch(p + 64 * line, 0, 2);
}

// Prefetches part `part` of `parts` of the cache lines of [p, p + bytes) into L2.
inline void prefetch_part(const uint8_t* p, size_t bytes, int part, int parts) {
  const size_t lines = (bytes + 63) / 64;
  const size_t first = lines * static_cast<size_t>(part) / static_cast<size_t>(parts);
  const size_t last = lines * static_cast<size_t>(part + 1) / static_cast<size_t>(parts);
  prefetch_lines(p + 64 * first, last - first);
}

}  // namespace capibara::kernels::x86
