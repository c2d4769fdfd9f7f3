// The tight loops `measure_machine_peaks` times, one set per instruction set: streaming reads
// of a large buffer, independent chains of fp32 fused multiply-adds and of int8 dot products
// (the instructions the quantized kernels are built on). Internal to tools/roofline.
//
// The x86 sets (peak_loops_x86.cpp) are compiled for their ISA with function attributes, not
// with ISA flags for the whole file, so nothing ISA-specific leaks into generic code; callers
// must only use a set the CPU supports (`peak_loops_for` checks through the kernel dispatch).
//
// Thread safety: pure functions; every thread may run them at once (that is the point).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "kernels/kernel_table.hpp"

namespace capibara::tools {

// Reads `n_bytes` (a multiple of 256) at `p` (64-byte aligned); returns a checksum.
struct ReadLoop {
  std::string_view name;  // "plain", "page starts"
  uint64_t (*read)(const uint8_t* p, size_t n_bytes);
};

struct PeakLoops {
  std::string_view name;  // "avx512", "avxvnni", "avx2", "generic"
  // Every way of streaming memory the set knows; the bandwidth is the fastest. Why several: a
  // plain loop leaves the work to the hardware prefetchers, and on some CPUs a loop that helps
  // them (as the decoding kernels do, x86/prefetch.hpp) reads faster. A bound measured with the
  // plain loop alone was beaten by the kernels themselves.
  std::span<const ReadLoop> reads;
  // `iterations` rounds of the fp32 FMA chains; returns their sum (kept so the work stays).
  float (*fp32)(int64_t iterations);
  int64_t fp32_flops_per_iteration;  // 2 per multiply-add
  // `iterations` rounds of the int8 dot-product chains; returns their sum.
  int32_t (*int8)(int64_t iterations);
  int64_t int8_ops_per_iteration;  // 2 per 8-bit multiply-add
  // `iterations` rounds of bf16 dot-product chains (`vdpbf16ps`), where the set and this CPU have
  // them (the BF16 kernels then use them too); null elsewhere (BF16 weights go through fmas).
  float (*bf16)(int64_t iterations) = nullptr;
  int64_t bf16_flops_per_iteration = 0;  // 2 per multiply-add
};

// The loops for the ISA of `isa` (the active kernel table's): AVX-512 VNNI, AVX-VNNI, AVX2 + FMA,
// or the generic C++ ones (scalar reference and NEON tables, which measure what the compiler makes
// of plain loops).
const PeakLoops& peak_loops_for(kernels::Isa isa);

const PeakLoops& generic_peak_loops();
const PeakLoops* x86_avx2_peak_loops();      // nullptr when not compiled for x86-64
const PeakLoops* x86_avx_vnni_peak_loops();  // nullptr when not compiled for x86-64
const PeakLoops* x86_avx512_peak_loops();    // nullptr when not compiled for x86-64

}  // namespace capibara::tools
