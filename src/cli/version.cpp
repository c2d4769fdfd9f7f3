// What `capibara --version` prints: the version, the kernel table in use with its prefetch variant,
// and the ones this CPU could run (so a bug report says which code path ran).
#include <string>

#include <fmt/core.h>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "kernels/kernel_table.hpp"

namespace capibara::cli {

std::string version_text() {
  try {
    std::string available;
    for (const auto* table : kernels::available_kernel_tables()) {
      available += (available.empty() ? "" : ", ") + std::string(kernels::isa_name(table->isa));
    }
    const auto& active = kernels::active_kernels();
    const bool bf16 = active.isa == kernels::Isa::kAvx512 && kernels::cpu_has_avx512_bf16();
    const bool i8mm = active.isa == kernels::Isa::kNeon && kernels::cpu_has_neon_i8mm();
    return fmt::format(
        "capibara {}\nkernels: {}{}, {} prefetch when decoding (available on this CPU: {})",
        CAPIBARA_VERSION, kernels::isa_name(active.isa),
        bf16 ? " (bf16 dot products)" : (i8mm ? " (i8mm)" : ""),
        kernels::stream_prefetch_name(active.stream_prefetch), available);
  } catch (const Error& e) {  // CAPIBARA_ISA or CAPIBARA_PREFETCH names what this CPU lacks
    return fmt::format("capibara {}\nkernels: none: {}", CAPIBARA_VERSION, e.what());
  }
}

}  // namespace capibara::cli
