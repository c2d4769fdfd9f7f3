// What `capibara --version` prints: the version, the kernel table in use and the ones this CPU
// could run (so a bug report says which code path ran).
#include <string>

#include <fmt/core.h>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "kernels/kernel_table.hpp"

namespace capibara::cli {

std::string version_text() {
  std::string available;
  for (const auto* table : kernels::available_kernel_tables()) {
    available += (available.empty() ? "" : ", ") + std::string(kernels::isa_name(table->isa));
  }
  try {
    return fmt::format("capibara {}\nkernels: {} (available on this CPU: {})", CAPIBARA_VERSION,
                       kernels::isa_name(kernels::active_kernels().isa), available);
  } catch (const Error& e) {  // CAPIBARA_ISA names one this CPU lacks
    return fmt::format("capibara {}\nkernels: none: {}", CAPIBARA_VERSION, e.what());
  }
}

}  // namespace capibara::cli
