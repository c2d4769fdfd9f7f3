// Chooses the kernel table once from the CPU's features (or `CAPIBARA_ISA`), and the x86 tables'
// prefetch variant from the CPU's vendor (or `CAPIBARA_PREFETCH`).
#include <cstdlib>
#include <string>

#include "core/error.hpp"
#include "kernels/kernel_table.hpp"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace capibara::kernels {

#if !(defined(__x86_64__) || defined(_M_X64))
const KernelTable* avx2_kernel_table(StreamPrefetch) { return nullptr; }
const KernelTable* avx_vnni_kernel_table(StreamPrefetch) { return nullptr; }
const KernelTable* avx512_kernel_table(StreamPrefetch) { return nullptr; }
#endif
#if !defined(__aarch64__)
const KernelTable* neon_kernel_table() { return nullptr; }
#endif

namespace {

bool cpu_has_avx2() {
#if defined(__x86_64__) || defined(_M_X64)
  // __builtin_cpu_supports checks cpuid and that the OS saves the AVX state (xgetbv).
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
#else
  return false;
#endif
}

bool cpu_has_avx_vnni() {
#if defined(__x86_64__) || defined(_M_X64)
  return cpu_has_avx2() && __builtin_cpu_supports("avxvnni");
#else
  return false;
#endif
}

bool cpu_has_avx512_vnni() {
#if defined(__x86_64__) || defined(_M_X64)
  // The AVX-512 table also calls AVX2 kernels. For the AVX-512 features the builtin checks
  // cpuid and that the OS saves the opmask and ZMM state (xgetbv).
  return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512vnni");
#else
  return false;
#endif
}

}  // namespace

bool cpu_has_avx512_bf16() {
#if defined(__x86_64__) || defined(_M_X64)
  return cpu_has_avx512_vnni() && __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

namespace {

bool cpu_has_neon_dotprod() {
#if defined(__aarch64__) && defined(__linux__)
  // The NEON translation units are compiled with -march=armv8.2-a+dotprod+fp16: besides
  // Advanced SIMD and `sdot`, the compiler may use half-precision arithmetic there, so the CPU
  // must have that too (every core with the dot product so far does).
  const unsigned long hwcap = getauxval(AT_HWCAP);
  return (hwcap & HWCAP_ASIMD) != 0 && (hwcap & HWCAP_ASIMDDP) != 0 && (hwcap & HWCAP_ASIMDHP) != 0;
#else
  return false;
#endif
}

}  // namespace

bool cpu_has_neon_i8mm() {
#if defined(__aarch64__) && defined(__linux__)
  return cpu_has_neon_dotprod() && (getauxval(AT_HWCAP2) & HWCAP2_I8MM) != 0;
#else
  return false;
#endif
}

namespace {

bool cpu_is_amd() {
#if defined(__x86_64__) || defined(_M_X64)
  return __builtin_cpu_is("amd");
#else
  return false;
#endif
}

// The x86 tables usable on this CPU in one prefetch variant, AVX2 first, the default last: a CPU
// with AVX-512 takes it even where it has AVX-VNNI too (Zen 5, Sapphire Rapids).
void add_x86_tables(StreamPrefetch prefetch, std::vector<const KernelTable*>& tables) {
  // The CPU checks come first: an ISA table is only touched on a CPU that can run it.
  if (cpu_has_avx2()) {
    if (const auto* avx2 = avx2_kernel_table(prefetch); avx2 != nullptr) tables.push_back(avx2);
  }
  if (cpu_has_avx_vnni()) {
    if (const auto* vnni = avx_vnni_kernel_table(prefetch); vnni != nullptr) tables.push_back(vnni);
  }
  if (cpu_has_avx512_vnni()) {
    if (const auto* avx512 = avx512_kernel_table(prefetch); avx512 != nullptr) {
      tables.push_back(avx512);
    }
  }
}

const KernelTable& choose() {
  const auto tables = available_kernel_tables();
  const char* forced = std::getenv("CAPIBARA_ISA");
  if (forced == nullptr || *forced == '\0') return *tables.back();
  std::string names;
  for (const auto* t : tables) {
    if (isa_name(t->isa) == forced) return *t;
    names += names.empty() ? "" : ", ";
    names += isa_name(t->isa);
  }
  throw InvalidArgumentError("CAPIBARA_ISA=" + std::string(forced) +
                             " is not available on this CPU (available: " + names + ")");
}

}  // namespace

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvxVnni:
      return "avxvnni";
    case Isa::kAvx512:
      return "avx512";
    case Isa::kNeon:
      return "neon";
  }
  return "unknown";
}

std::string_view stream_prefetch_name(StreamPrefetch prefetch) {
  return prefetch == StreamPrefetch::kSoftware ? "software" : "hardware";
}

StreamPrefetch stream_prefetch_for_this_cpu() {
  const char* forced = std::getenv("CAPIBARA_PREFETCH");
  if (forced == nullptr || *forced == '\0') {
    return cpu_is_amd() ? StreamPrefetch::kHardware : StreamPrefetch::kSoftware;
  }
  for (const auto p : {StreamPrefetch::kSoftware, StreamPrefetch::kHardware}) {
    if (stream_prefetch_name(p) == forced) return p;
  }
  throw InvalidArgumentError("CAPIBARA_PREFETCH=" + std::string(forced) +
                             " is not a prefetch variant (software or hardware)");
}

namespace {

std::vector<const KernelTable*> tables_with(StreamPrefetch prefetch) {
  std::vector<const KernelTable*> tables{&scalar_kernel_table()};
  add_x86_tables(prefetch, tables);
  if (cpu_has_neon_dotprod()) {
    if (const auto* neon = neon_kernel_table(); neon != nullptr) tables.push_back(neon);
  }
  return tables;
}

}  // namespace

std::vector<const KernelTable*> available_kernel_tables() {
  return tables_with(stream_prefetch_for_this_cpu());
}

std::vector<const KernelTable*> available_kernel_table_variants() {
  const StreamPrefetch prefetch = stream_prefetch_for_this_cpu();
  std::vector<const KernelTable*> tables = tables_with(prefetch);
  add_x86_tables(
      prefetch == StreamPrefetch::kSoftware ? StreamPrefetch::kHardware : StreamPrefetch::kSoftware,
      tables);
  return tables;
}

const QuantDotKernels& quant_dot_kernels(const KernelTable& table, GgmlType weight_type) {
  static constexpr QuantDotKernels kNone{};
  const auto id = static_cast<uint32_t>(weight_type);
  return id < static_cast<uint32_t>(kGgmlTypeSlots) ? table.quant_dot[id] : kNone;
}

PackedGemmFn packed_gemm_kernel(const KernelTable& table, GgmlType weight_type) {
  const auto id = static_cast<uint32_t>(weight_type);
  return id < static_cast<uint32_t>(kGgmlTypeSlots) ? table.packed_gemm[id] : nullptr;
}

const KernelTable& active_kernels() {
  static const KernelTable& table = choose();
  return table;
}

}  // namespace capibara::kernels
