// The kernel layer's dispatch table: one set of function pointers per instruction set, chosen
// once at start-up from the CPU's features (`CAPIBARA_ISA=scalar|avx2|avx512|neon` overrides it
// for tests and benchmarks). Callers fetch the table once per operation, never per element.
//
// Thread safety: the active table is chosen on first use (thread-safe static initialisation)
// and immutable afterwards.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace capibara::kernels {

enum class Isa { kScalar, kAvx2, kAvx512, kNeon };
std::string_view isa_name(Isa isa);

struct KernelTable {
  Isa isa = Isa::kScalar;
  // sum_i a[i] * b[i]
  float (*dot_f32)(const float* a, const float* b, int64_t n) = nullptr;
  // y[i] += alpha * x[i]
  void (*axpy_f32)(float alpha, const float* x, float* y, int64_t n) = nullptr;
};

// Tables compiled into this binary and usable on this CPU, scalar first.
std::vector<const KernelTable*> available_kernel_tables();
// The table in use: the best available, or the one `CAPIBARA_ISA` names (InvalidArgumentError
// when it names an unknown ISA or one this CPU lacks).
const KernelTable& active_kernels();

// Per-ISA tables, defined in their own translation units (x86/, arm/).
const KernelTable& scalar_kernel_table();
const KernelTable* avx2_kernel_table();  // nullptr when not compiled in

}  // namespace capibara::kernels
