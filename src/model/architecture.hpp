// The architectures capibara can run, by their GGUF `general.architecture` name. An architecture
// is one file, `src/model/arch_<name>.cpp`, that reads its hyperparameter keys into the knobs of
// `ModelConfig`, plus one line in the registry (architecture.cpp); the forward pass is shared.
// docs/ADDING_AN_ARCHITECTURE.md walks through adding one.
//
// Thread safety: immutable data.
#pragma once

#include <string_view>
#include <vector>

namespace capibara {

namespace gguf {
class GgufFile;
}

struct ModelConfig;
class HparamReader;

struct Architecture {
  std::string_view name;  // `general.architecture` (a wire format)
  // Reads the architecture's own keys and sets its knobs; runs after `read_common_hparams`.
  void (*configure)(const HparamReader& hp, ModelConfig& c);
};

std::vector<std::string_view> supported_architectures();
bool is_supported_architecture(std::string_view name);
// `file`'s architecture; UnsupportedError that lists the supported ones when it is not one.
const Architecture& require_architecture(const gguf::GgufFile& file);
// The same check without the result (kept for callers that only validate).
void require_supported_architecture(const gguf::GgufFile& file);

}  // namespace capibara
