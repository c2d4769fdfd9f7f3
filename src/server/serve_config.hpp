// The `capibara serve --config FILE.json` format: a `server` block, an `experts` array and a
// `lazy_loading` block, in the spirit of the vLLM deployment capibara replaces, whose config
// files keep working: its GPU-only keys are accepted with a warning that names them.
//
//   {"server": {"host": "0.0.0.0", "port": 8082, "api_keys": ["..."]},
//    "experts": [{"expert_id": "qwen_coder", "model_path": "models/qwen.gguf",
//                 "domain": "coding", "priority": 3, "max_num_seqs": 8}],
//    "lazy_loading": {"enabled": true, "warmup_pool_size": 1, "max_loaded_experts": 2,
//                     "memory_threshold": 0.8, "auto_unload_after_s": 300}}
//
// Validation reports every problem at once, each with its JSON path
// (`experts[2].max_num_seqs: expected a positive integer`). `//` and `/* */` comments are
// allowed. Relative model paths are relative to the config file.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "registry/registry.hpp"
#include "server/http_server.hpp"

namespace capibara::server {

struct ServeConfig {
  ServerOptions server;
  std::vector<ExpertConfig> experts;
  RegistryPolicy policy;
  nlohmann::json routing;             // kept verbatim for the router (null when absent)
  nlohmann::json consensus;           // kept verbatim for consensus (null when absent)
  std::vector<std::string> warnings;  // keys ignored, settings without effect
};

// Every problem of a config file, one per line in what().
class ConfigError : public FormatError {
 public:
  ConfigError(const std::string& source, std::vector<std::string> problems);
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// Throws ConfigError (invalid JSON or invalid settings) or SystemError (unreadable file).
ServeConfig load_serve_config(const std::filesystem::path& path);
// `base_dir` resolves relative paths; `source` names the text in messages.
ServeConfig parse_serve_config(std::string_view text, const std::filesystem::path& base_dir,
                               const std::string& source = "config");

}  // namespace capibara::server
