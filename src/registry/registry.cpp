// Loading, leasing and evicting experts under the memory guard.
#include "registry/registry.hpp"

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>

#include <fmt/core.h>

#include "engine/chat_prompt.hpp"
#include "tokenizer/tokenizer.hpp"

namespace capibara {
namespace {

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Freed engines return their heap to the allocator; this hands it back to the system so that
// an unload shows in RSS (and in what the next load's guard sees as available).
void return_freed_memory() { malloc_trim(0); }

}  // namespace

std::string_view expert_state_name(ExpertState state) {
  switch (state) {
    case ExpertState::kUnloaded:
      return "unloaded";
    case ExpertState::kLoading:
      return "loading";
    case ExpertState::kLoaded:
      return "loaded";
    case ExpertState::kFailed:
      return "failed";
  }
  return "?";
}

std::shared_ptr<ServedModel> load_served_model(const ExpertConfig& config) {
  ModelOptions mo = config.model;
  mo.max_batch_tokens =
      std::max(mo.max_batch_tokens, config.engine.scheduler.max_num_batched_tokens);
  auto model = Model::load(config.model_path, mo);
  auto tokenizer = std::make_shared<const Tokenizer>(Tokenizer::from_gguf(model->file()));

  auto served = std::make_shared<ServedModel>();
  served->id = config.id;
  if (tokenizer->bos_id() >= 0) served->bos_text = tokenizer->token_text(tokenizer->bos_id());
  if (tokenizer->eos_id() >= 0) served->eos_text = tokenizer->token_text(tokenizer->eos_id());
  std::string source;
  if (config.chat_template) {
    source = *config.chat_template;
    served->chat_template_source = "config";
  } else if (auto t = model->file().get_string("tokenizer.chat_template")) {
    source = std::string(*t);
    served->chat_template_source = "gguf";
  } else {
    source = std::string(kFallbackChatTemplate);
    served->chat_template_source = std::string(kFallbackChatTemplateName);
  }
  try {
    served->chat_template = chat::ChatTemplate::parse(source);
  } catch (const Error& e) {
    throw FormatError(fmt::format("{}: its chat template ({}) does not parse: {}", config.id,
                                  served->chat_template_source, e.what()));
  }
  served->engine = std::make_unique<Engine>(std::move(model), std::move(tokenizer), config.engine);
  return served;
}

Registry::Registry(std::vector<ExpertConfig> experts, RegistryPolicy policy, Loader loader,
                   MemoryProbe probe)
    : configs_(std::move(experts)),
      policy_(policy),
      loader_(std::move(loader)),
      probe_(std::move(probe)),
      slots_(configs_.size()) {
  // Estimates read only the GGUF header; an unreadable file is reported when it is loaded.
  for (size_t i = 0; i < configs_.size(); ++i) {
    try {
      slots_[i].estimate = estimate_expert_memory(configs_[i]);
      slots_[i].estimated_bytes = slots_[i].estimate->total();
    } catch (const std::exception&) {
    }
  }
}

Registry::~Registry() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (auto& t : threads_) t.join();
}

void Registry::start_loading() {
  {
    std::lock_guard lock(mutex_);
    if (started_) return;
    started_ = true;
  }
  threads_.emplace_back([this] { startup_loads(); });
  if (policy_.auto_unload_after_s) threads_.emplace_back([this] { idle_watch(); });
}

void Registry::startup_loads() {
  // Highest priority first; in lazy mode only the warm-up pool.
  std::vector<size_t> order(configs_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [this](size_t a, size_t b) {
    return configs_[a].priority > configs_[b].priority;
  });
  if (policy_.lazy) {
    order.resize(
        std::min(order.size(), static_cast<size_t>(std::max(0, policy_.warmup_pool_size))));
  }
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t k = next++; k < order.size(); k = next++) {
      const size_t i = order[k];
      std::unique_lock lock(mutex_);
      if (stopping_) return;
      if (slots_[i].state != ExpertState::kUnloaded) continue;
      std::vector<size_t> evict;
      std::string why;
      // Start-up never evicts what start-up loaded: an expert that does not fit beside the
      // others stays unloaded (and says why) until a request asks for it.
      if (make_room(i, evict, why) != Room::kFits || !evict.empty()) {
        slots_[i].error = "not loaded at start: " + why;
        continue;
      }
      try {
        ensure_loaded(i, lock, Clock::now() + std::chrono::hours(24));
      } catch (const std::exception&) {
        // Recorded in the slot; the server serves the others.
      }
    }
  };
  const size_t n_workers =
      std::min(order.size(), static_cast<size_t>(std::max(1, policy_.parallel_loads)));
  std::vector<std::thread> workers;
  for (size_t w = 1; w < n_workers; ++w) workers.emplace_back(worker);
  worker();
  for (auto& t : workers) t.join();
  std::lock_guard lock(mutex_);
  startup_done_ = true;
}

void Registry::idle_watch() {
  const auto limit = std::chrono::duration<double>(*policy_.auto_unload_after_s);
  const auto period = std::chrono::duration_cast<Clock::duration>(
      std::clamp(limit / 4, std::chrono::duration<double>(0.01), std::chrono::duration<double>(1)));
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    changed_.wait_for(lock, period);
    if (stopping_) break;
    std::vector<std::shared_ptr<ServedModel>> dropped;
    const auto now = Clock::now();
    for (size_t i = 0; i < slots_.size(); ++i) {
      const Slot& s = slots_[i];
      if (s.state == ExpertState::kLoaded && s.active == 0 && now - s.last_used >= limit) {
        evict_locked(i, dropped);
      }
    }
    if (dropped.empty()) continue;
    lock.unlock();
    dropped.clear();
    return_freed_memory();
    lock.lock();
  }
}

bool Registry::ready() const {
  std::lock_guard lock(mutex_);
  return started_ && startup_done_;
}

size_t Registry::index_of(std::string_view id) const {
  for (size_t i = 0; i < configs_.size(); ++i) {
    if (configs_[i].id == id) return i;
    const auto& a = configs_[i].aliases;
    if (std::find(a.begin(), a.end(), id) != a.end()) return i;
  }
  return configs_.size();
}

size_t Registry::require_index(std::string_view id) const {
  const size_t i = index_of(id);
  if (i == configs_.size()) {
    std::string names;
    for (const auto& c : configs_) names += (names.empty() ? "" : ", ") + c.id;
    throw NotFound(fmt::format("the model '{}' does not exist (available: {})", id, names));
  }
  return i;
}

int64_t Registry::total_memory() const {
  return policy_.memory_limit_bytes > 0 ? policy_.memory_limit_bytes : probe_().total_bytes;
}

Registry::Room Registry::make_room(size_t i, std::vector<size_t>& evict, std::string& why) const {
  const ExpertConfig& config = configs_[i];
  const int64_t need = slots_[i].estimated_bytes;
  const MemoryInfo info = probe_();
  const int64_t total =
      policy_.memory_limit_bytes > 0 ? policy_.memory_limit_bytes : info.total_bytes;
  const auto budget = static_cast<int64_t>(policy_.memory_threshold * static_cast<double>(total));
  // With no explicit limit the machine's free memory counts too: other processes use RAM.
  const bool check_free = policy_.memory_limit_bytes <= 0;

  int64_t reserved = 0;
  int n_resident = 0;
  int64_t busy = 0;  // held by experts that will become evictable when their requests end
  std::vector<size_t> idle;
  for (size_t j = 0; j < slots_.size(); ++j) {
    const Slot& s = slots_[j];
    if (j == i || (s.state != ExpertState::kLoaded && s.state != ExpertState::kLoading)) continue;
    reserved += s.estimated_bytes;
    ++n_resident;
    if (s.state == ExpertState::kLoaded && s.active == 0) {
      idle.push_back(j);
    } else {
      busy += s.estimated_bytes;
    }
  }
  // Least recently used first; among equals the lower priority goes first.
  std::sort(idle.begin(), idle.end(), [this](size_t a, size_t b) {
    if (slots_[a].last_used != slots_[b].last_used)
      return slots_[a].last_used < slots_[b].last_used;
    return configs_[a].priority < configs_[b].priority;
  });

  const std::string need_text =
      slots_[i].estimate ? slots_[i].estimate->describe() : format_bytes(need);
  if (need > budget) {
    why = fmt::format(
        "'{}' needs {} but the memory budget is {} ({:.0f} % of {}); lower its max_model_len or "
        "max_num_seqs, or raise memory_threshold",
        config.id, need_text, format_bytes(budget), policy_.memory_threshold * 100.0,
        format_bytes(total));
    return Room::kNever;
  }
  int64_t freed = 0;
  auto fits = [&] {
    const bool count_ok =
        policy_.max_loaded_experts <= 0 || n_resident + 1 <= policy_.max_loaded_experts;
    const bool budget_ok = reserved + need <= budget;
    const bool free_ok = !check_free || need <= info.available_bytes + freed;
    return count_ok && budget_ok && free_ok;
  };
  size_t k = 0;
  while (!fits() && k < idle.size()) {
    const size_t j = idle[k++];
    evict.push_back(j);
    reserved -= slots_[j].estimated_bytes;
    freed += slots_[j].estimated_bytes;
    --n_resident;
  }
  if (fits()) return Room::kFits;
  evict.clear();
  const int64_t free_now = check_free ? info.available_bytes : budget - reserved;
  why = fmt::format(
      "'{}' needs {}; the budget is {} of which {} is held by loaded experts ({} by experts with "
      "requests in flight), {} free{}",
      config.id, need_text, format_bytes(budget), format_bytes(reserved + freed),
      format_bytes(busy), format_bytes(std::max<int64_t>(0, free_now)),
      policy_.max_loaded_experts > 0
          ? fmt::format(", at most {} experts loaded", policy_.max_loaded_experts)
          : std::string());
  // Busy experts go idle eventually: then their room can be taken.
  // Every idle expert is in `evict` by now: what still blocks is busy.
  const bool busy_would_help =
      busy > 0 && (!check_free || need <= info.available_bytes + freed + busy);
  return busy_would_help ? Room::kWait : Room::kNever;
}

void Registry::evict_locked(size_t i, std::vector<std::shared_ptr<ServedModel>>& out) {
  Slot& s = slots_[i];
  out.push_back(std::move(s.model));
  s.model.reset();
  s.state = ExpertState::kUnloaded;
  ++s.unload_count;
  changed_.notify_all();
}

std::shared_ptr<ServedModel> Registry::ensure_loaded(size_t i, std::unique_lock<std::mutex>& lock,
                                                     Clock::time_point deadline) {
  const std::string& id = configs_[i].id;
  for (;;) {
    Slot& s = slots_[i];
    if (stopping_) throw NotReady("the server is shutting down");
    switch (s.state) {
      case ExpertState::kLoaded:
        return s.model;
      case ExpertState::kFailed:
        throw NotReady(fmt::format("the model '{}' failed to load: {}", id, s.error));
      case ExpertState::kLoading:
        if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
          throw NotReady(fmt::format("the model '{}' is still loading; retry shortly", id));
        }
        continue;
      case ExpertState::kUnloaded:
        break;
    }
    std::vector<size_t> evict;
    std::string why;
    switch (make_room(i, evict, why)) {
      case Room::kNever:
        s.error = why;
        throw InsufficientMemory("not enough memory to load " + why);
      case Room::kWait:
        if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
          s.error = why;
          throw InsufficientMemory("not enough memory to load " + why +
                                   "; timed out waiting for busy experts to finish");
        }
        continue;
      case Room::kFits:
        break;
    }
    std::vector<std::shared_ptr<ServedModel>> dropped;
    for (size_t j : evict) evict_locked(j, dropped);
    s.state = ExpertState::kLoading;
    s.error.clear();
    lock.unlock();
    if (!dropped.empty()) {
      dropped.clear();
      return_freed_memory();
    }
    const auto t0 = Clock::now();
    std::shared_ptr<ServedModel> model;
    std::string error;
    try {
      model = loader_(configs_[i]);
    } catch (const std::exception& e) {
      error = e.what();
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    lock.lock();
    Slot& done = slots_[i];
    done.last_load_seconds = seconds;
    done.last_load_unix = unix_now();
    if (model) {
      done.state = ExpertState::kLoaded;
      done.model = std::move(model);
      done.created_unix = done.last_load_unix;
      done.last_used = Clock::now();
      ++done.load_count;
    } else {
      done.state = ExpertState::kFailed;
      done.error = error;
    }
    changed_.notify_all();
  }
}

void Registry::check_memory_pressure() const {
  const MemoryInfo info = probe_();
  double used = info.used_fraction();
  int64_t total = info.total_bytes;
  if (policy_.memory_limit_bytes > 0) {
    total = policy_.memory_limit_bytes;
    used = static_cast<double>(info.process_rss_bytes) / static_cast<double>(total);
  }
  if (used > policy_.memory_hard_limit) {
    throw MemoryPressure(fmt::format(
        "memory use is {:.0f} % of {}, above the {:.0f} % limit; new requests are refused until "
        "it drops",
        used * 100.0, format_bytes(total), policy_.memory_hard_limit * 100.0));
  }
}

void Registry::release(size_t i) {
  {
    std::lock_guard lock(mutex_);
    Slot& s = slots_[i];
    --s.active;
    s.last_used = Clock::now();
    s.last_used_unix = unix_now();
  }
  changed_.notify_all();
}

std::shared_ptr<ServedModel> Registry::acquire(std::string_view id) {
  const size_t i = require_index(id);
  check_memory_pressure();
  std::unique_lock lock(mutex_);
  if (!started_) throw NotReady("the server is starting; retry shortly");
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(policy_.load_wait_s));
  auto model = ensure_loaded(i, lock, deadline);

  // The lease: an aliasing pointer whose control block releases the expert when the last copy
  // goes, so callers keep using a plain shared_ptr<ServedModel>.
  // Neither copyable nor movable: a moved-from temporary's destructor would release twice.
  struct Lease {
    Lease(Registry* r, size_t i, std::shared_ptr<ServedModel> m)
        : registry(r), index(i), model(std::move(m)) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { registry->release(index); }
    Registry* registry;
    size_t index;
    std::shared_ptr<ServedModel> model;
  };
  Slot& s = slots_[i];
  ++s.active;
  s.last_used = Clock::now();
  s.last_used_unix = unix_now();
  lock.unlock();  // make_shared may throw; the lease's release must not find the lock held
  std::shared_ptr<Lease> lease;
  try {
    lease = std::make_shared<Lease>(this, i, std::move(model));
  } catch (...) {
    release(i);
    throw;
  }
  ServedModel* raw = lease->model.get();
  return std::shared_ptr<ServedModel>(std::move(lease), raw);
}

void Registry::load(std::string_view id) {
  const size_t i = require_index(id);
  std::unique_lock lock(mutex_);
  if (slots_[i].state == ExpertState::kFailed) slots_[i].state = ExpertState::kUnloaded;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(policy_.load_wait_s));
  ensure_loaded(i, lock, deadline);
}

void Registry::unload(std::string_view id) {
  const size_t i = require_index(id);
  std::vector<std::shared_ptr<ServedModel>> dropped;
  {
    std::lock_guard lock(mutex_);
    Slot& s = slots_[i];
    if (s.state == ExpertState::kLoading) {
      throw Busy(fmt::format("the model '{}' is loading; unload it once it is loaded", id));
    }
    if (s.state != ExpertState::kLoaded) return;
    if (s.active > 0) {
      throw Busy(
          fmt::format("the model '{}' has {} request(s) in flight; retry when idle", id, s.active));
    }
    evict_locked(i, dropped);
  }
  dropped.clear();
  return_freed_memory();
}

void Registry::cancel_all(const std::string& reason) {
  std::lock_guard lock(mutex_);
  for (auto& s : slots_) {
    if (s.model) s.model->engine->cancel_all(reason);
  }
}

std::vector<ExpertStatus> Registry::status() const {
  std::vector<ExpertStatus> out;
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < configs_.size(); ++i) {
    const Slot& s = slots_[i];
    const ExpertConfig& c = configs_[i];
    ExpertStatus st;
    st.id = c.id;
    st.domain = c.domain;
    st.description = c.description;
    st.priority = c.priority;
    st.aliases = c.aliases;
    st.state = s.state;
    st.error = s.error;
    st.created_unix = s.created_unix;
    st.load_count = s.load_count;
    st.unload_count = s.unload_count;
    st.last_load_seconds = s.last_load_seconds;
    st.last_load_unix = s.last_load_unix;
    st.last_used_unix = s.last_used_unix;
    st.active_requests = s.active;
    st.estimated_bytes = s.estimated_bytes;
    if (s.model) {
      st.stats = s.model->engine->stats();
      st.n_ctx = s.model->engine->max_model_len();
    }
    out.push_back(std::move(st));
  }
  return out;
}

MemoryStatus Registry::memory_status() const {
  MemoryStatus m;
  m.total_bytes = total_memory();
  m.budget_bytes =
      static_cast<int64_t>(policy_.memory_threshold * static_cast<double>(m.total_bytes));
  m.hard_limit = policy_.memory_hard_limit;
  std::lock_guard lock(mutex_);
  for (const Slot& s : slots_) {
    if (s.state == ExpertState::kLoaded || s.state == ExpertState::kLoading) {
      m.reserved_bytes += s.estimated_bytes;
    }
  }
  return m;
}

}  // namespace capibara
