// Reading and validating the serve config. Problems are collected, not thrown one by one: an
// operator fixing a file wants the whole list at once.
#include "server/serve_config.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <utility>

#include <fmt/core.h>

#include "model/kv_cache.hpp"

namespace capibara::server {
namespace {

using Json = nlohmann::json;

// Keys of the vLLM deployment that mean nothing on capibara's CPU engine. Accepted so that its
// config files keep working; each occurrence is warned about by name.
const std::set<std::string, std::less<>> kVllmOnlyKeys = {
    "gpu_memory_utilization",
    "tensor_parallel_size",
    "pipeline_parallel_size",
    "use_v2_block_manager",
    "swap_space",
    "cpu_offload_gb",
    "enforce_eager",
    "num_scheduler_steps",
    "quantization",
    "use_captured_graph",
    "max_context_len_to_capture",
    "dtype",
    "device",
    "enable_neon",
    "trust_remote_code",
    "max_num_cached_tokens",
    "block_size",
    "load_format",
    "tokenizer_mode",
    "seed",
    "disable_log_stats",
    "max_seq_len_to_capture",
    "enable_lora",
    "distributed_executor_backend",
};
const std::set<std::string, std::less<>> kVllmOnlyBlocks = {"performance_tuning"};

// Names the front ends reserve for orchestration (`model: "auto"`, `model: "consensus"`).
const std::set<std::string, std::less<>> kReservedModelNames = {"auto", "consensus"};

class Reader {
 public:
  std::vector<std::string> errors;
  std::vector<std::string> warnings;

  void error(const std::string& path, const std::string& what) {
    errors.push_back(fmt::format("{}: {}", path, what));
  }

  // Warns about keys of `obj` outside `known`; vLLM-only keys get their own wording.
  void check_keys(const Json& obj, const std::string& path,
                  std::initializer_list<std::string_view> known) {
    for (const auto& [key, value] : obj.items()) {
      if (std::find(known.begin(), known.end(), key) != known.end()) continue;
      const std::string where = path.empty() ? key : path + "." + key;
      if (kVllmOnlyKeys.contains(key) || kVllmOnlyBlocks.contains(key)) {
        warnings.push_back(
            fmt::format("{}: a vLLM setting with no effect in capibara; ignored", where));
      } else {
        warnings.push_back(fmt::format("{}: unknown key; ignored", where));
      }
    }
  }

  bool object(const Json& parent, const char* key, const std::string& path) {
    if (!parent.contains(key) || parent[key].is_null()) return false;
    if (!parent[key].is_object()) {
      error(join(path, key), "expected an object");
      return false;
    }
    return true;
  }

  template <typename T>
  void integer(const Json& obj, const char* key, const std::string& path, T& out, int64_t min,
               const char* expected) {
    if (!obj.contains(key) || obj[key].is_null()) return;
    const Json& v = obj[key];
    if (!v.is_number_integer() || v.get<int64_t>() < min) {
      error(join(path, key), fmt::format("expected {} (got {})", expected, v.dump()));
      return;
    }
    // The field's own type bounds the value: a cast would wrap `max_num_seqs: 4294967297` to 1.
    if (std::cmp_greater(v.get<int64_t>(), std::numeric_limits<T>::max())) {
      error(join(path, key), fmt::format("expected {} no larger than {} (got {})", expected,
                                         std::numeric_limits<T>::max(), v.dump()));
      return;
    }
    out = static_cast<T>(v.get<int64_t>());
  }

  void number(const Json& obj, const char* key, const std::string& path, double& out, double min,
              double max, bool min_exclusive, const char* expected) {
    if (!obj.contains(key) || obj[key].is_null()) return;
    const Json& v = obj[key];
    const bool ok = v.is_number() &&
                    (min_exclusive ? v.get<double>() > min : v.get<double>() >= min) &&
                    v.get<double>() <= max;
    if (!ok) {
      error(join(path, key), fmt::format("expected {} (got {})", expected, v.dump()));
      return;
    }
    out = v.get<double>();
  }

  void boolean(const Json& obj, const char* key, const std::string& path, bool& out) {
    if (!obj.contains(key) || obj[key].is_null()) return;
    if (!obj[key].is_boolean()) {
      error(join(path, key), fmt::format("expected true or false (got {})", obj[key].dump()));
      return;
    }
    out = obj[key].get<bool>();
  }

  bool string(const Json& obj, const char* key, const std::string& path, std::string& out) {
    if (!obj.contains(key) || obj[key].is_null()) return false;
    if (!obj[key].is_string()) {
      error(join(path, key), fmt::format("expected a string (got {})", obj[key].dump()));
      return false;
    }
    out = obj[key].get<std::string>();
    return true;
  }

  void strings(const Json& obj, const char* key, const std::string& path,
               std::vector<std::string>& out) {
    if (!obj.contains(key) || obj[key].is_null()) return;
    const Json& v = obj[key];
    if (v.is_string()) {
      out = {v.get<std::string>()};
      return;
    }
    if (!v.is_array() ||
        !std::all_of(v.begin(), v.end(), [](const Json& e) { return e.is_string(); })) {
      error(join(path, key), "expected an array of strings");
      return;
    }
    out = v.get<std::vector<std::string>>();
  }

  static std::string join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }
};

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SystemError(fmt::format("cannot read '{}'", path.string()));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A model path may name the GGUF file or a folder holding exactly one (the layout of a folder
// downloaded for vLLM has none: the message says what capibara needs).
std::filesystem::path resolve_model_path(const std::filesystem::path& path, Reader& r,
                                         const std::string& where) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) return path;
  if (!std::filesystem::is_directory(path, ec)) {
    r.error(where, fmt::format("no such file: '{}'", path.string()));
    return path;
  }
  std::vector<std::filesystem::path> ggufs;
  for (const auto& e : std::filesystem::directory_iterator(path, ec)) {
    if (e.is_regular_file() && e.path().extension() == ".gguf") ggufs.push_back(e.path());
  }
  std::sort(ggufs.begin(), ggufs.end());
  if (ggufs.size() == 1) return ggufs[0];
  if (ggufs.empty()) {
    r.error(where, fmt::format("the folder '{}' holds no .gguf file (capibara loads GGUF models: "
                               "download one with `capibara pull` or convert with llama.cpp)",
                               path.string()));
  } else {
    std::string names;
    for (const auto& g : ggufs) names += (names.empty() ? "" : ", ") + g.filename().string();
    r.error(where, fmt::format("the folder '{}' holds several .gguf files ({}): name one",
                               path.string(), names));
  }
  return path;
}

void read_server(const Json& root, Reader& r, ServerOptions& s) {
  if (!r.object(root, "server", "")) return;
  const Json& o = root["server"];
  r.check_keys(o, "server",
               {"host", "port", "api_keys", "api_key", "http_threads", "max_body_bytes",
                "max_tokens_per_request", "request_timeout_s", "shutdown_grace_s", "log_format"});
  r.string(o, "host", "server", s.host);
  if (o.contains("port") && !o["port"].is_null()) {
    if (!o["port"].is_number_integer() || o["port"].get<int64_t>() < 0 ||
        o["port"].get<int64_t>() > 65535) {
      r.error("server.port",
              fmt::format("expected a port number 0..65535 (got {})", o["port"].dump()));
    } else {
      s.port = o["port"].get<int>();
    }
  }
  r.strings(o, "api_keys", "server", s.api_keys);
  std::string key;
  if (r.string(o, "api_key", "server", key)) s.api_keys.push_back(key);
  r.integer(o, "http_threads", "server", s.http_threads, 1, "a positive integer");
  r.integer(o, "max_body_bytes", "server", s.max_body_bytes, 1, "a positive integer");
  r.integer(o, "max_tokens_per_request", "server", s.max_tokens_per_request, 0, "an integer >= 0");
  r.number(o, "request_timeout_s", "server", s.request_timeout_s, 0, 1e9, false,
           "a number of seconds >= 0");
  r.number(o, "shutdown_grace_s", "server", s.shutdown_grace_s, 0, 1e9, false,
           "a number of seconds >= 0");
  std::string format;
  if (r.string(o, "log_format", "server", format)) {
    if (format == "text") {
      s.log_format = LogFormat::kText;
    } else if (format == "json") {
      s.log_format = LogFormat::kJson;
    } else if (format == "off") {
      s.log_format = LogFormat::kOff;
    } else {
      r.error("server.log_format", fmt::format("expected text, json or off (got \"{}\")", format));
    }
  }
}

void read_kv_type(const Json& o, const std::string& path, Reader& r, ExpertConfig& e) {
  std::string name;
  if (!r.string(o, "kv_cache_dtype", path, name)) return;
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "auto" || lower == "fp16" || lower == "float16" || lower == "half") lower = "f16";
  if (lower == "bfloat16") lower = "bf16";
  if (lower == "fp32" || lower == "float32" || lower == "float") lower = "f32";
  if (lower == "fp8_e4m3" || lower == "fp8-e4m3" || lower == "e4m3") lower = "fp8";
  if (auto t = parse_kv_type(lower)) {
    e.engine.kv_type = *t;
  } else {
    r.error(path + ".kv_cache_dtype",
            fmt::format("expected auto, f16, bf16, f32 or fp8 (got \"{}\")", name));
  }
}

ExpertConfig read_expert(const Json& o, const std::string& path, Reader& r,
                         const std::filesystem::path& base_dir) {
  ExpertConfig e;
  r.check_keys(o, path,
               {"expert_id", "model_path", "domain", "priority", "description", "aliases",
                "chat_template", "chat_template_file", "max_num_seqs", "max_num_batched_tokens",
                "max_model_len", "kv_cache_dtype", "enable_prefix_caching",
                "enable_chunked_prefill", "max_queued_requests", "threads", "kv_cache_tokens"});
  // A value of the wrong type has been reported by `string`; "required" is for absent ones.
  const auto absent = [&o](const char* key) { return !o.contains(key) || o[key].is_null(); };
  if (!r.string(o, "expert_id", path, e.id)) {
    if (absent("expert_id")) r.error(path + ".expert_id", "required");
  } else if (!std::regex_match(e.id, std::regex(R"([A-Za-z0-9][A-Za-z0-9._:/-]*)"))) {
    r.error(path + ".expert_id",
            fmt::format("\"{}\" must be letters, digits and . _ : / - (a model name)", e.id));
  } else if (kReservedModelNames.contains(e.id)) {
    r.error(path + ".expert_id", fmt::format("\"{}\" is reserved for orchestration", e.id));
  }
  std::string model_path;
  if (!r.string(o, "model_path", path, model_path)) {
    if (absent("model_path")) r.error(path + ".model_path", "required");
  } else if (model_path.empty()) {
    // Otherwise it would name the config's own folder and pick any lone .gguf there.
    r.error(path + ".model_path", "required (got an empty string)");
  } else {
    std::filesystem::path p(model_path);
    if (p.is_relative()) p = base_dir / p;
    e.model_path = resolve_model_path(p.lexically_normal(), r, path + ".model_path");
  }
  r.string(o, "domain", path, e.domain);
  r.string(o, "description", path, e.description);
  r.integer(o, "priority", path, e.priority, -1000000, "an integer");
  r.strings(o, "aliases", path, e.aliases);

  std::string template_text;
  if (r.string(o, "chat_template", path, template_text)) e.chat_template = template_text;
  std::string template_file;
  if (r.string(o, "chat_template_file", path, template_file)) {
    std::filesystem::path p(template_file);
    if (p.is_relative()) p = base_dir / p;
    try {
      e.chat_template = read_text(p);
    } catch (const SystemError& ex) {
      r.error(path + ".chat_template_file", ex.what());
    }
    if (o.contains("chat_template")) {
      r.error(path, "chat_template and chat_template_file are exclusive");
    }
  }

  r.integer(o, "max_num_seqs", path, e.engine.scheduler.max_num_seqs, 1, "a positive integer");
  r.integer(o, "max_num_batched_tokens", path, e.engine.scheduler.max_num_batched_tokens, 1,
            "a positive integer");
  r.integer(o, "max_model_len", path, e.engine.max_model_len, 1, "a positive integer");
  // The KV cache is sized by the model's context: a configured length sizes it too.
  e.model.n_ctx = e.engine.max_model_len;
  r.integer(o, "max_queued_requests", path, e.engine.max_queued_requests, 0, "an integer >= 0");
  r.integer(o, "kv_cache_tokens", path, e.engine.kv_cache_tokens, 0,
            "an integer >= 0 (0: max_num_seqs x max_model_len)");
  r.integer(o, "threads", path, e.model.n_threads, 0, "an integer >= 0 (0: every core)");
  r.boolean(o, "enable_chunked_prefill", path, e.engine.scheduler.enable_chunked_prefill);
  r.boolean(o, "enable_prefix_caching", path, e.engine.scheduler.enable_prefix_caching);
  read_kv_type(o, path, r, e);
  return e;
}

void read_lazy_loading(const Json& root, Reader& r, RegistryPolicy& p) {
  if (!r.object(root, "lazy_loading", "")) return;
  const Json& o = root["lazy_loading"];
  const std::string path = "lazy_loading";
  r.check_keys(o, path,
               {"enabled", "warmup_pool_size", "max_loaded_experts", "memory_threshold",
                "auto_unload_after_s", "load_timeout_s"});
  r.boolean(o, "enabled", path, p.lazy);
  r.integer(o, "warmup_pool_size", path, p.warmup_pool_size, 0, "an integer >= 0");
  r.integer(o, "max_loaded_experts", path, p.max_loaded_experts, 1,
            "a positive integer (or null: no limit)");
  r.number(o, "memory_threshold", path, p.memory_threshold, 0.0, 1.0, true,
           "a fraction of RAM in (0, 1]");
  if (o.contains("auto_unload_after_s") && !o["auto_unload_after_s"].is_null()) {
    double s = 0;
    r.number(o, "auto_unload_after_s", path, s, 0.0, 1e9, true,
             "a number of seconds > 0 (or null: never)");
    if (s > 0) p.auto_unload_after_s = s;
  }
  r.number(o, "load_timeout_s", path, p.load_wait_s, 0.0, 1e9, true, "a number of seconds > 0");
}

void read_memory(const Json& root, Reader& r, RegistryPolicy& p) {
  // Top-level `memory_limit_bytes` (the issue's spelling) or a `memory` block.
  r.integer(root, "memory_limit_bytes", "", p.memory_limit_bytes, 1, "a positive byte count");
  if (!r.object(root, "memory", "")) return;
  const Json& o = root["memory"];
  r.check_keys(o, "memory", {"limit_bytes", "hard_limit"});
  r.integer(o, "limit_bytes", "memory", p.memory_limit_bytes, 1, "a positive byte count");
  r.number(o, "hard_limit", "memory", p.memory_hard_limit, 0.0, 1.0, true,
           "a fraction of memory in (0, 1]");
}

}  // namespace

ConfigError::ConfigError(const std::string& source, std::vector<std::string> problems)
    : FormatError([&] {
        std::string m = fmt::format("{}: {} problem{}:", source, problems.size(),
                                    problems.size() == 1 ? "" : "s");
        for (const auto& p : problems) m += "\n  " + p;
        return m;
      }()),
      problems_(std::move(problems)) {}

ServeConfig parse_serve_config(std::string_view text, const std::filesystem::path& base_dir,
                               const std::string& source) {
  Json root;
  try {
    root = Json::parse(text, nullptr, true, /*ignore_comments=*/true);
  } catch (const Json::parse_error& e) {
    throw ConfigError(source, {fmt::format("not valid JSON: {}", e.what())});
  }
  if (!root.is_object()) throw ConfigError(source, {"the top level must be an object"});

  Reader r;
  ServeConfig config;
  r.check_keys(root, "",
               {"server", "experts", "lazy_loading", "memory", "memory_limit_bytes", "routing",
                "consensus"});
  read_server(root, r, config.server);
  read_lazy_loading(root, r, config.policy);
  read_memory(root, r, config.policy);
  if (root.contains("routing")) config.routing = root["routing"];
  if (root.contains("consensus")) config.consensus = root["consensus"];

  if (!root.contains("experts") || !root["experts"].is_array() || root["experts"].empty()) {
    r.error("experts", "expected a non-empty array of experts");
  } else {
    const Json& experts = root["experts"];
    for (size_t i = 0; i < experts.size(); ++i) {
      const std::string path = fmt::format("experts[{}]", i);
      if (!experts[i].is_object()) {
        r.error(path, "expected an object");
        continue;
      }
      config.experts.push_back(read_expert(experts[i], path, r, base_dir));
    }
  }
  // Every name a client may use must lead to one expert.
  std::map<std::string, std::string> owner;
  for (size_t i = 0; i < config.experts.size(); ++i) {
    const ExpertConfig& e = config.experts[i];
    std::vector<std::string> names = e.aliases;
    if (!e.id.empty()) names.insert(names.begin(), e.id);
    for (const auto& name : names) {
      const std::string path = fmt::format("experts[{}]", i);
      if (kReservedModelNames.contains(name) && name != e.id) {
        r.error(path + ".aliases", fmt::format("\"{}\" is reserved for orchestration", name));
      }
      auto [it, inserted] = owner.emplace(name, path);
      if (!inserted) {
        r.error(path, fmt::format("the name \"{}\" is already used by {}", name, it->second));
      }
    }
  }
  const auto n_experts = static_cast<int>(config.experts.size());
  if (config.policy.lazy && config.policy.warmup_pool_size > n_experts && n_experts > 0) {
    r.warnings.push_back(fmt::format(
        "lazy_loading.warmup_pool_size: {} is more than the {} experts; all load at start",
        config.policy.warmup_pool_size, n_experts));
  }
  if (config.policy.max_loaded_experts > 0 && !config.policy.lazy &&
      config.policy.max_loaded_experts < n_experts) {
    r.warnings.push_back(fmt::format(
        "lazy_loading.max_loaded_experts: {} is fewer than the {} experts, so preloading cannot "
        "keep them all; the others load on first request, evicting the least recently used",
        config.policy.max_loaded_experts, n_experts));
  }
  if (!config.routing.is_null()) {
    r.warnings.push_back("routing: model \"auto\" is not available yet; block ignored");
  }
  if (!config.consensus.is_null()) {
    r.warnings.push_back("consensus: model \"consensus\" is not available yet; block ignored");
  }
  if (!r.errors.empty()) throw ConfigError(source, std::move(r.errors));
  config.warnings = std::move(r.warnings);
  return config;
}

ServeConfig load_serve_config(const std::filesystem::path& path) {
  const std::string text = read_text(path);
  return parse_serve_config(text, path.parent_path(), path.string());
}

}  // namespace capibara::server
