// The experts the server offers and the policy that decides which of them are in memory.
//
//   UNLOADED ──load──> LOADING ──ok──> LOADED ──evict / idle / admin unload──> UNLOADED
//                         └──error──> FAILED (the reason is kept; an admin load retries)
//
// Loads run outside the lock, on the thread that needs the expert (a request in lazy mode, a
// start-up loader in preload mode); everyone else who needs the same expert waits for that one
// load. Before a load the memory guard checks the expert's estimated footprint against the
// budget (`memory_threshold` × RAM, cgroup included, or `memory_limit_bytes`) and evicts idle
// experts, least recently used first, to make room. An expert with requests in flight is never
// evicted: a load that needs its room waits for it to go idle. While serving, requests are
// refused with `MemoryPressure` when the machine's memory use passes the hard limit.
//
// Thread safety: every public member may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "core/memory_info.hpp"
#include "engine/engine.hpp"
#include "registry/expert_config.hpp"
#include "registry/memory_estimate.hpp"
#include "registry/served_model.hpp"

namespace capibara {

// The `lazy_loading` block of the config, plus the memory limits.
struct RegistryPolicy {
  bool lazy = false;              // false: every expert loads at start
  int warmup_pool_size = 0;       // lazy: the highest-priority experts loaded at start anyway
  int max_loaded_experts = 0;     // 0: no limit
  double memory_threshold = 0.9;  // fraction of RAM the experts may take together
  std::optional<double> auto_unload_after_s;  // idle experts unload after this; nullopt: never
  int64_t memory_limit_bytes = 0;             // 0: the machine's RAM (or the cgroup's limit)
  double memory_hard_limit = 0.9;  // fraction of memory in use above which requests get 503
  double load_wait_s = 300.0;      // how long a request waits for a load or for room
  int parallel_loads = 2;          // start-up loads at once (each still passes the guard)
};

enum class ExpertState { kUnloaded, kLoading, kLoaded, kFailed };
std::string_view expert_state_name(ExpertState state);

struct ExpertStatus {
  std::string id;
  std::string domain;
  std::string description;
  int priority = 0;
  std::vector<std::string> aliases;
  ExpertState state = ExpertState::kUnloaded;
  std::string error;  // why the last load failed or was refused
  int64_t created_unix = 0;
  int load_count = 0;
  int unload_count = 0;
  double last_load_seconds = 0.0;
  int64_t last_load_unix = 0;
  int64_t last_used_unix = 0;  // 0: never used
  int64_t active_requests = 0;
  int64_t estimated_bytes = 0;  // the guard's estimate; 0 when the file could not be read
  std::optional<EngineStats::Snapshot> stats;  // when loaded
  int64_t n_ctx = 0;
};

struct MemoryStatus {
  int64_t budget_bytes = 0;    // memory_threshold × total
  int64_t reserved_bytes = 0;  // estimates of the experts loaded or loading
  int64_t total_bytes = 0;     // RAM, cgroup limit or memory_limit_bytes
  double hard_limit = 0.0;
};

// Loads one expert: model, tokenizer, chat template, engine. Throws capibara::Error.
std::shared_ptr<ServedModel> load_served_model(const ExpertConfig& config);

class Registry {
 public:
  using Loader = std::function<std::shared_ptr<ServedModel>(const ExpertConfig&)>;
  using MemoryProbe = std::function<MemoryInfo()>;

  // `loader` and `probe` are seams for tests (a slow loader, a machine under pressure).
  explicit Registry(std::vector<ExpertConfig> experts, RegistryPolicy policy = {},
                    Loader loader = load_served_model, MemoryProbe probe = read_memory_info);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Starts the start-up loads in the background (every expert, or the lazy warm-up pool) and
  // the idle-unload watcher. Before this, requests get NotReady.
  void start_loading();
  // True when the start-up loads have finished (a failed expert does not block the others).
  bool ready() const;

  // The expert named `id` (or one of its aliases), loading it first if needed. The returned
  // pointer is a lease: while a copy lives, the expert counts as busy and is never evicted.
  // Throws NotFound, NotReady (loading at start-up, failed, or the wait timed out) and
  // MemoryPressure / InsufficientMemory (the guard refused).
  std::shared_ptr<ServedModel> acquire(std::string_view id);

  // Admin: loads (and waits for) / unloads an expert. `unload` throws Busy when requests are in
  // flight, NotFound for an unknown id.
  void load(std::string_view id);
  void unload(std::string_view id);

  std::vector<ExpertStatus> status() const;
  MemoryStatus memory_status() const;
  // Ends every running or queued sequence of every loaded expert (shutdown grace expired).
  void cancel_all(const std::string& reason);
  const std::vector<ExpertConfig>& experts() const { return configs_; }
  const RegistryPolicy& policy() const { return policy_; }

  class NotFound : public Error {
   public:
    using Error::Error;
  };
  class NotReady : public Error {
   public:
    using Error::Error;
  };
  class Busy : public Error {
   public:
    using Error::Error;
  };
  // The machine is above the hard memory limit right now: retry later.
  class MemoryPressure : public OverloadedError {
   public:
    using OverloadedError::OverloadedError;
  };
  // The expert does not fit the budget even with every idle expert evicted.
  class InsufficientMemory : public OverloadedError {
   public:
    using OverloadedError::OverloadedError;
  };

 private:
  struct Slot {
    ExpertState state = ExpertState::kUnloaded;
    std::shared_ptr<ServedModel> model;
    std::string error;
    int64_t estimated_bytes = 0;
    std::optional<MemoryEstimate> estimate;
    int64_t active = 0;  // leases alive
    std::chrono::steady_clock::time_point last_used{};
    int64_t last_used_unix = 0;
    int64_t created_unix = 0;
    int load_count = 0;
    int unload_count = 0;
    double last_load_seconds = 0.0;
    int64_t last_load_unix = 0;
  };
  using Clock = std::chrono::steady_clock;

  size_t index_of(std::string_view id) const;  // configs_.size() when unknown
  size_t require_index(std::string_view id) const;
  // Brings slot `i` to LOADED (loading it here if nobody else is) and returns its model.
  std::shared_ptr<ServedModel> ensure_loaded(size_t i, std::unique_lock<std::mutex>& lock,
                                             Clock::time_point deadline);
  enum class Room { kFits, kWait, kNever };
  // Chooses idle experts to evict so that slot `i` fits (kFits); kWait when only experts with
  // requests in flight hold the room; kNever when it cannot fit. `why` explains a refusal.
  Room make_room(size_t i, std::vector<size_t>& evict, std::string& why) const;
  void evict_locked(size_t i, std::vector<std::shared_ptr<ServedModel>>& out);
  void release(size_t i);  // a lease ended
  void check_memory_pressure() const;
  int64_t total_memory() const;
  void startup_loads();
  void idle_watch();

  std::vector<ExpertConfig> configs_;
  RegistryPolicy policy_;
  Loader loader_;
  MemoryProbe probe_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;  // a slot changed state, or a lease ended
  std::vector<Slot> slots_;          // guarded by mutex_, parallel to configs_
  bool started_ = false;             // guarded by mutex_
  bool startup_done_ = false;        // guarded by mutex_
  bool stopping_ = false;            // guarded by mutex_
  std::vector<std::thread> threads_;
};

}  // namespace capibara
