// The experts the server offers, from the command line or a config file, and their state:
//
//   UNLOADED ──load()──> LOADING ──ok──> LOADED
//                           └──error──> FAILED (the reason is kept and reported)
//
// Loading happens on background threads so the HTTP server answers `/health` (503) meanwhile.
// (The multi-expert policies — lazy loading, LRU and idle eviction, the memory guard — extend
// this class in the registry issue.)
//
// Thread safety: every public member may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/engine.hpp"
#include "model/model.hpp"
#include "registry/served_model.hpp"

namespace capibara {

struct ExpertConfig {
  std::string id;  // the `model` name clients use
  std::filesystem::path model_path;
  std::vector<std::string> aliases;
  std::string domain = "general";
  std::string description;
  int priority = 0;
  ModelOptions model;
  EngineConfig engine;
  std::optional<std::string> chat_template;  // overrides the GGUF's template
};

enum class ExpertState { kUnloaded, kLoading, kLoaded, kFailed };
std::string_view expert_state_name(ExpertState state);

struct ExpertStatus {
  std::string id;
  std::string domain;
  std::vector<std::string> aliases;
  ExpertState state = ExpertState::kUnloaded;
  std::string error;  // why loading failed
  int64_t created_unix = 0;
  int load_count = 0;
  double last_load_seconds = 0.0;
  std::optional<EngineStats::Snapshot> stats;  // when loaded
  int64_t n_ctx = 0;
};

// Loads one expert: model, tokenizer, chat template, engine. Throws capibara::Error.
std::shared_ptr<ServedModel> load_served_model(const ExpertConfig& config);

class Registry {
 public:
  explicit Registry(std::vector<ExpertConfig> experts);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Starts loading every expert in the background (one at a time, to bound peak memory).
  void start_loading();
  // True when every expert is loaded (or failed: a failed expert does not block the others).
  bool ready() const;

  // The loaded expert named `id` (or one of its aliases). Throws server-agnostic errors:
  // NotFound for an unknown name, NotReady while it is loading, LoadFailed with the reason.
  std::shared_ptr<ServedModel> acquire(std::string_view id) const;

  std::vector<ExpertStatus> status() const;
  // Ends every running or queued sequence of every loaded expert (shutdown grace expired).
  void cancel_all(const std::string& reason);
  const std::vector<ExpertConfig>& experts() const { return configs_; }

  class NotFound : public Error {
   public:
    using Error::Error;
  };
  class NotReady : public Error {
   public:
    using Error::Error;
  };

 private:
  struct Slot {
    ExpertState state = ExpertState::kUnloaded;
    std::shared_ptr<ServedModel> model;
    std::string error;
    int64_t created_unix = 0;
    int load_count = 0;
    double last_load_seconds = 0.0;
  };
  void load_all();
  size_t index_of(std::string_view id) const;  // configs_.size() when unknown

  std::vector<ExpertConfig> configs_;
  mutable std::mutex mutex_;
  std::vector<Slot> slots_;  // guarded by mutex_, parallel to configs_
  std::thread loader_;
};

}  // namespace capibara
