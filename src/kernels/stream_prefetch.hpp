// How the decoding kernels get their weight lines from DRAM ahead of use. The x86 tables come in
// two variants; the dispatcher picks one per CPU, and `CAPIBARA_PREFETCH=software|hardware`
// overrides its choice:
// - software: every packed type prefetches the weights a few KiB ahead (x86/prefetch.hpp);
// - hardware: Q4_0 and Q8_0 leave the streaming to the CPU's hardware prefetchers, helped only at
//   the start of each 4 KiB page (`prefetch_page_start`); so do the AVX2 Q4_K and Q5_K passes,
//   which touch their blocks' lines in address order for it (x86/packed_q4_k_ymm.hpp); the
//   other K-quant passes keep their software prefetch and ask for the page starts too.
//
// Why per CPU: the same kernels on two machines disagree. On the Intel Xeon of the first sessions,
// prefetching 3 KiB ahead raised TinyLlama Q4_0 decoding from 45.5 to 48.7 tok/s. On an AMD EPYC
// (Zen 5) it lowers it: alternated in one process, Q4_0 and Q8_0 tg64 ran 7 % faster on average
// without it, and even a plain read loop streams 10-17 % slower with it (docs/PERFORMANCE.md,
// "Software prefetch per CPU"). The K-quants' large blocks needed their prefetch on both machines
// (Q4_K_M decoding 33 -> 39 tok/s on the Xeon; streaming 20 % slower without it on the AMD) while
// their passes read a few lines of each block out of address order; in order, the AVX2 Q4_K and
// Q5_K passes stream faster without it on the AMD ("Lines in order"). On the AMD the page starts
// on top raised AVX-512 Q4_K_M and Q5_K_M tg128 by 7-13 % ("Page starts"). Only decoding (one token
// per pass) changes: the multi-token passes of prefill keep their prefetch, which still gains 4-7 %
// there.
//
// Thread safety: pure functions; `stream_prefetch_for_this_cpu` reads the environment.
#pragma once

#include <string_view>

namespace capibara::kernels {

enum class StreamPrefetch { kSoftware, kHardware };

std::string_view stream_prefetch_name(StreamPrefetch prefetch);  // "software", "hardware"

// This CPU's variant: `CAPIBARA_PREFETCH` when set (InvalidArgumentError for a value other than
// "software" or "hardware"), else hardware on AMD CPUs and software elsewhere.
StreamPrefetch stream_prefetch_for_this_cpu();

}  // namespace capibara::kernels
