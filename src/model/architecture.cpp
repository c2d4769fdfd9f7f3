// The registry of architectures. Llama-family models (Llama 1/2/3, Mistral, TinyLlama, SmolLM)
// all declare `llama` in their GGUF files.
#include "model/architecture.hpp"

#include <algorithm>
#include <array>
#include <string>

#include <fmt/core.h>

#include "core/error.hpp"
#include "gguf/gguf_file.hpp"

namespace capibara {
namespace {

constexpr std::array<std::string_view, 1> kArchitectures = {"llama"};

}  // namespace

std::vector<std::string_view> supported_architectures() {
  return {kArchitectures.begin(), kArchitectures.end()};
}

bool is_supported_architecture(std::string_view name) {
  return std::find(kArchitectures.begin(), kArchitectures.end(), name) != kArchitectures.end();
}

void require_supported_architecture(const gguf::GgufFile& file) {
  const std::string arch = file.architecture();
  if (is_supported_architecture(arch)) return;
  std::string list;
  for (auto a : kArchitectures) list += (list.empty() ? "" : ", ") + std::string(a);
  throw UnsupportedError(fmt::format("{}: architecture '{}' is not supported (supported: {})",
                                     file.display_name(), arch.empty() ? "<none>" : arch, list));
}

}  // namespace capibara
