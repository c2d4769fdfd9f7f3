// Loading experts in the background and handing them out by name.
#include "registry/registry.hpp"

#include <algorithm>
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

Registry::Registry(std::vector<ExpertConfig> experts)
    : configs_(std::move(experts)), slots_(configs_.size()) {}

Registry::~Registry() {
  if (loader_.joinable()) loader_.join();
}

void Registry::start_loading() {
  {
    std::lock_guard lock(mutex_);
    for (auto& s : slots_) s.state = ExpertState::kLoading;
  }
  loader_ = std::thread([this] { load_all(); });
}

void Registry::load_all() {
  for (size_t i = 0; i < configs_.size(); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    std::shared_ptr<ServedModel> model;
    std::string error;
    try {
      model = load_served_model(configs_[i]);
    } catch (const std::exception& e) {
      error = e.what();
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::lock_guard lock(mutex_);
    Slot& s = slots_[i];
    s.last_load_seconds = seconds;
    if (model) {
      s.state = ExpertState::kLoaded;
      s.model = std::move(model);
      s.created_unix = unix_now();
      ++s.load_count;
    } else {
      s.state = ExpertState::kFailed;
      s.error = error;
    }
  }
}

bool Registry::ready() const {
  std::lock_guard lock(mutex_);
  return std::all_of(slots_.begin(), slots_.end(), [](const Slot& s) {
    return s.state == ExpertState::kLoaded || s.state == ExpertState::kFailed;
  });
}

size_t Registry::index_of(std::string_view id) const {
  for (size_t i = 0; i < configs_.size(); ++i) {
    if (configs_[i].id == id) return i;
    const auto& a = configs_[i].aliases;
    if (std::find(a.begin(), a.end(), id) != a.end()) return i;
  }
  return configs_.size();
}

std::shared_ptr<ServedModel> Registry::acquire(std::string_view id) const {
  const size_t i = index_of(id);
  if (i == configs_.size()) {
    std::string names;
    for (const auto& c : configs_) names += (names.empty() ? "" : ", ") + c.id;
    throw NotFound(fmt::format("the model '{}' does not exist (available: {})", id, names));
  }
  std::lock_guard lock(mutex_);
  const Slot& s = slots_[i];
  switch (s.state) {
    case ExpertState::kLoaded:
      return s.model;
    case ExpertState::kFailed:
      throw NotReady(fmt::format("the model '{}' failed to load: {}", configs_[i].id, s.error));
    default:
      throw NotReady(fmt::format("the model '{}' is loading; retry shortly", configs_[i].id));
  }
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
    ExpertStatus st;
    st.id = configs_[i].id;
    st.domain = configs_[i].domain;
    st.aliases = configs_[i].aliases;
    st.state = s.state;
    st.error = s.error;
    st.created_unix = s.created_unix;
    st.load_count = s.load_count;
    st.last_load_seconds = s.last_load_seconds;
    if (s.model) {
      st.stats = s.model->engine->stats();
      st.n_ctx = s.model->engine->max_model_len();
    }
    out.push_back(std::move(st));
  }
  return out;
}

}  // namespace capibara
