// One expert as configured: which file, under which names, for which domain, with which engine
// limits. Filled from `capibara serve -m` flags or from one entry of a config file's `experts`.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "model/model.hpp"

namespace capibara {

struct ExpertConfig {
  std::string id;  // the `model` name clients use
  std::filesystem::path model_path;
  std::vector<std::string> aliases;
  std::string domain = "general";
  std::string description;
  int priority = 0;  // higher loads first and is evicted last among equals in recency
  ModelOptions model;
  EngineConfig engine;
  std::optional<std::string> chat_template;  // overrides the GGUF's template
};

}  // namespace capibara
