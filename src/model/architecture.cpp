// The registry of architectures. Llama-family models (Llama 1/2/3, Mistral, TinyLlama, SmolLM)
// all declare `llama` in their GGUF files; Aya Expanse declares `command-r`, Command R7B and
// Aya Vision's text model `cohere2`.
#include "model/architecture.hpp"

#include <algorithm>
#include <array>
#include <string>

#include <fmt/core.h>

#include "core/error.hpp"
#include "gguf/gguf_file.hpp"

namespace capibara {

// One line per architecture: `X(Name)` refers to `kArchName`, defined in `arch_*.cpp`.
#define CAPIBARA_ARCHITECTURES(X) X(Llama) X(Qwen2) X(Phi3) X(Gemma3) X(CommandR) X(Cohere2)

#define CAPIBARA_DECLARE_ARCHITECTURE(name) extern const Architecture kArch##name;
CAPIBARA_ARCHITECTURES(CAPIBARA_DECLARE_ARCHITECTURE)
#undef CAPIBARA_DECLARE_ARCHITECTURE

namespace {

#define CAPIBARA_LIST_ARCHITECTURE(name) &kArch##name,
const std::array kArchitectures = {CAPIBARA_ARCHITECTURES(CAPIBARA_LIST_ARCHITECTURE)};
#undef CAPIBARA_LIST_ARCHITECTURE

const Architecture* find_architecture(std::string_view name) {
  const auto it = std::find_if(kArchitectures.begin(), kArchitectures.end(),
                               [&](const Architecture* a) { return a->name == name; });
  return it == kArchitectures.end() ? nullptr : *it;
}

}  // namespace

std::vector<std::string_view> supported_architectures() {
  std::vector<std::string_view> names;
  for (const Architecture* a : kArchitectures) names.push_back(a->name);
  return names;
}

bool is_supported_architecture(std::string_view name) { return find_architecture(name) != nullptr; }

const Architecture& require_architecture(const gguf::GgufFile& file) {
  const std::string arch = file.architecture();
  if (const Architecture* a = find_architecture(arch)) return *a;
  std::string list;
  for (const Architecture* a : kArchitectures)
    list += (list.empty() ? "" : ", ") + std::string(a->name);
  throw UnsupportedError(fmt::format("{}: architecture '{}' is not supported (supported: {})",
                                     file.display_name(), arch.empty() ? "<none>" : arch, list));
}

void require_supported_architecture(const gguf::GgufFile& file) { require_architecture(file); }

}  // namespace capibara
