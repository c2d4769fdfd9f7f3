// `/stats` (JSON) and `/metrics` (Prometheus text exposition format) from the registry's
// per-expert engine statistics and the process's memory.
// Thread safety: pure functions of their inputs.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/memory_info.hpp"
#include "registry/registry.hpp"

namespace capibara::server {

nlohmann::json stats_json(const std::vector<ExpertStatus>& experts, const MemoryStatus& guard,
                          const MemoryInfo& memory);
std::string prometheus_text(const std::vector<ExpertStatus>& experts, const MemoryStatus& guard,
                            const MemoryInfo& memory);

}  // namespace capibara::server
