// How much memory an expert takes once loaded, computed from its GGUF header and its engine
// settings before anything is allocated, so the registry can refuse a load that would not fit
// instead of discovering it through the OOM killer.
//
// Thread safety: a pure function of the file and the config.
#pragma once

#include <cstdint>
#include <string>

#include "registry/expert_config.hpp"

namespace capibara {

struct MemoryEstimate {
  int64_t weights_bytes = 0;   // tensor data, mapped from the file and touched by every step
  int64_t kv_cache_bytes = 0;  // every sequence slot at the full context
  int64_t scratch_bytes = 0;   // activations, logits and matmul buffers for the largest batch

  int64_t total() const { return weights_bytes + kv_cache_bytes + scratch_bytes; }
  // "1.2 GiB (weights 1.0 GiB, KV cache 160 MiB, buffers 40 MiB)"
  std::string describe() const;
};

// Throws FormatError when the file is not a model capibara can read.
MemoryEstimate estimate_expert_memory(const ExpertConfig& config);

// "812 MiB", "1.5 GiB"
std::string format_bytes(int64_t bytes);

}  // namespace capibara
