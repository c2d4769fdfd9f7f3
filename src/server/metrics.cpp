// Rendering of statistics as JSON and as Prometheus text.
#include "server/metrics.hpp"

#include <fmt/core.h>

namespace capibara::server {
namespace {

using Json = nlohmann::json;

Json latency_json(const LatencyHistogram::Snapshot& h) {
  return {{"count", h.count},
          {"p50_ms", h.p50_seconds * 1000.0},
          {"p95_ms", h.p95_seconds * 1000.0},
          {"mean_ms", h.count ? h.sum_seconds * 1000.0 / static_cast<double>(h.count) : 0.0}};
}

// Prometheus label values escape backslash, quote and newline.
std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void histogram(std::string& out, const char* name, const std::string& model,
               const LatencyHistogram::Snapshot& h) {
  for (size_t i = 0; i < LatencyHistogram::kBoundsSeconds.size(); ++i) {
    out += fmt::format("{}_bucket{{model=\"{}\",le=\"{}\"}} {}\n", name, model,
                       LatencyHistogram::kBoundsSeconds[i], h.cumulative[i]);
  }
  out += fmt::format("{}_bucket{{model=\"{}\",le=\"+Inf\"}} {}\n", name, model, h.count);
  out += fmt::format("{}_sum{{model=\"{}\"}} {}\n", name, model, h.sum_seconds);
  out += fmt::format("{}_count{{model=\"{}\"}} {}\n", name, model, h.count);
}

}  // namespace

Json stats_json(const std::vector<ExpertStatus>& experts, const MemoryStatus& guard,
                const MemoryInfo& memory) {
  Json models = Json::array();
  for (const auto& e : experts) {
    Json m = {{"id", e.id},
              {"domain", e.domain},
              {"state", expert_state_name(e.state)},
              {"loaded", e.state == ExpertState::kLoaded},
              {"priority", e.priority},
              {"load_count", e.load_count},
              {"unload_count", e.unload_count},
              {"last_load_seconds", e.last_load_seconds},
              {"last_load_unix", e.last_load_unix},
              {"last_used_unix", e.last_used_unix},
              {"active_requests", e.active_requests},
              {"estimated_memory_bytes", e.estimated_bytes}};
    if (!e.error.empty()) m["error"] = e.error;
    if (e.stats) {
      const auto& s = *e.stats;
      m["requests"] = {{"running", s.requests_running},
                       {"queued", s.requests_waiting},
                       {"total", s.requests_total},
                       {"finished", s.requests_finished},
                       {"cancelled", s.requests_cancelled}};
      m["tokens"] = {{"prompt", s.prompt_tokens_total}, {"generated", s.generation_tokens_total}};
      m["generation_tokens_per_second"] = s.generation_tok_per_s;
      m["time_to_first_token"] = latency_json(s.time_to_first_token);
      m["inter_token_latency"] = latency_json(s.inter_token_latency);
      m["request_latency"] = latency_json(s.request_latency);
      const double usage = s.kv_cache_capacity_tokens > 0
                               ? static_cast<double>(s.kv_cache_used_tokens) /
                                     static_cast<double>(s.kv_cache_capacity_tokens)
                               : 0.0;
      m["kv_cache"] = {{"used_tokens", s.kv_cache_used_tokens},
                       {"capacity_tokens", s.kv_cache_capacity_tokens},
                       {"allocated_bytes", s.kv_cache_bytes},
                       {"usage", usage},
                       {"preemptions", s.preemptions_total}};
      m["prefix_cache"] = {{"queried_tokens", s.prefix_cache_queried_tokens},
                           {"cached_tokens", s.prefix_cache_hit_tokens},
                           {"hit_rate", s.prefix_cache_hit_rate}};
      m["context_length"] = e.n_ctx;
    }
    models.push_back(std::move(m));
  }
  return {{"models", std::move(models)},
          {"memory_guard",
           {{"budget_bytes", guard.budget_bytes},
            {"reserved_bytes", guard.reserved_bytes},
            {"total_bytes", guard.total_bytes},
            {"hard_limit_fraction", guard.hard_limit}}},
          {"process", {{"rss_bytes", memory.process_rss_bytes}}},
          {"system",
           {{"memory_total_bytes", memory.total_bytes},
            {"memory_available_bytes", memory.available_bytes},
            {"memory_used_fraction", memory.used_fraction()}}}};
}

std::string prometheus_text(const std::vector<ExpertStatus>& experts, const MemoryStatus& guard,
                            const MemoryInfo& memory) {
  std::string out;
  family(out, "capibara_model_loaded", "gauge", "1 when the model is loaded and serving");
  for (const auto& e : experts) {
    out += fmt::format("capibara_model_loaded{{model=\"{}\",state=\"{}\"}} {}\n", label(e.id),
                       expert_state_name(e.state), e.state == ExpertState::kLoaded ? 1 : 0);
  }
  struct ExpertGauge {
    const char* name;
    const char* type;
    const char* help;
    double (*get)(const ExpertStatus&);
  };
  const ExpertGauge expert_gauges[] = {
      {"capibara_model_loads_total", "counter", "Times the model was loaded",
       [](const ExpertStatus& e) { return static_cast<double>(e.load_count); }},
      {"capibara_model_unloads_total", "counter", "Times the model was unloaded or evicted",
       [](const ExpertStatus& e) { return static_cast<double>(e.unload_count); }},
      {"capibara_model_last_load_seconds", "gauge", "Duration of the model's last load",
       [](const ExpertStatus& e) { return e.last_load_seconds; }},
      {"capibara_model_last_used_timestamp_seconds", "gauge", "Unix time of the last request",
       [](const ExpertStatus& e) { return static_cast<double>(e.last_used_unix); }},
      {"capibara_model_active_requests", "gauge", "Requests holding the model",
       [](const ExpertStatus& e) { return static_cast<double>(e.active_requests); }},
      {"capibara_model_estimated_memory_bytes", "gauge", "Memory the guard reserves for it",
       [](const ExpertStatus& e) { return static_cast<double>(e.estimated_bytes); }},
  };
  for (const auto& g : expert_gauges) {
    family(out, g.name, g.type, g.help);
    for (const auto& e : experts) {
      out += fmt::format("{}{{model=\"{}\"}} {}\n", g.name, label(e.id), g.get(e));
    }
  }
  family(out, "capibara_memory_budget_bytes", "gauge", "Memory the experts may take together");
  out += fmt::format("capibara_memory_budget_bytes {}\n", guard.budget_bytes);
  family(out, "capibara_memory_reserved_bytes", "gauge", "Estimates of the experts in memory");
  out += fmt::format("capibara_memory_reserved_bytes {}\n", guard.reserved_bytes);
  struct Counter {
    const char* name;
    const char* type;
    const char* help;
    double (*get)(const EngineStats::Snapshot&);
  };
  const Counter counters[] = {
      {"capibara_requests_total", "counter", "Requests received",
       [](const EngineStats::Snapshot& s) { return static_cast<double>(s.requests_total); }},
      {"capibara_requests_finished_total", "counter", "Requests finished (any reason)",
       [](const EngineStats::Snapshot& s) { return static_cast<double>(s.requests_finished); }},
      {"capibara_requests_cancelled_total", "counter", "Requests cancelled by their client",
       [](const EngineStats::Snapshot& s) { return static_cast<double>(s.requests_cancelled); }},
      {"capibara_requests_running", "gauge", "Sequences being computed",
       [](const EngineStats::Snapshot& s) { return static_cast<double>(s.requests_running); }},
      {"capibara_requests_waiting", "gauge", "Sequences queued for a slot",
       [](const EngineStats::Snapshot& s) { return static_cast<double>(s.requests_waiting); }},
      {"capibara_prompt_tokens_total", "counter", "Prompt tokens received",
       [](const EngineStats::Snapshot& s) { return static_cast<double>(s.prompt_tokens_total); }},
      {"capibara_generation_tokens_total", "counter", "Tokens generated",
       [](const EngineStats::Snapshot& s) {
         return static_cast<double>(s.generation_tokens_total);
       }},
      {"capibara_generation_tokens_per_second", "gauge", "Generated tokens per busy second",
       [](const EngineStats::Snapshot& s) { return s.generation_tok_per_s; }},
      {"capibara_kv_cache_used_tokens", "gauge", "KV cache positions in use",
       [](const EngineStats::Snapshot& s) { return static_cast<double>(s.kv_cache_used_tokens); }},
      {"capibara_kv_cache_capacity_tokens", "gauge", "KV cache positions available",
       [](const EngineStats::Snapshot& s) {
         return static_cast<double>(s.kv_cache_capacity_tokens);
       }},
      {"capibara_kv_cache_allocated_bytes", "gauge", "KV cache memory allocated",
       [](const EngineStats::Snapshot& s) { return static_cast<double>(s.kv_cache_bytes); }},
      {"capibara_preemptions_total", "counter", "Sequences preempted for want of KV blocks",
       [](const EngineStats::Snapshot& s) { return static_cast<double>(s.preemptions_total); }},
      {"capibara_prefix_cache_queried_tokens_total", "counter",
       "Prompt tokens looked up in the prefix cache",
       [](const EngineStats::Snapshot& s) {
         return static_cast<double>(s.prefix_cache_queried_tokens);
       }},
      {"capibara_prefix_cache_hit_tokens_total", "counter",
       "Prompt tokens found in the prefix cache (not computed)",
       [](const EngineStats::Snapshot& s) {
         return static_cast<double>(s.prefix_cache_hit_tokens);
       }},
  };
  for (const auto& c : counters) {
    family(out, c.name, c.type, c.help);
    for (const auto& e : experts) {
      if (e.stats)
        out += fmt::format("{}{{model=\"{}\"}} {}\n", c.name, label(e.id), c.get(*e.stats));
    }
  }
  struct Hist {
    const char* name;
    const char* help;
    const LatencyHistogram::Snapshot EngineStats::Snapshot::*member;
  };
  const Hist hists[] = {
      {"capibara_time_to_first_token_seconds", "Time from arrival to first token",
       &EngineStats::Snapshot::time_to_first_token},
      {"capibara_inter_token_latency_seconds", "Time between consecutive tokens",
       &EngineStats::Snapshot::inter_token_latency},
      {"capibara_request_latency_seconds", "Time from arrival to the end of a request",
       &EngineStats::Snapshot::request_latency},
  };
  for (const auto& h : hists) {
    family(out, h.name, "histogram", h.help);
    for (const auto& e : experts) {
      if (e.stats) histogram(out, h.name, label(e.id), (*e.stats).*(h.member));
    }
  }
  family(out, "capibara_process_resident_memory_bytes", "gauge", "Resident memory of capibara");
  out += fmt::format("capibara_process_resident_memory_bytes {}\n", memory.process_rss_bytes);
  family(out, "capibara_system_memory_total_bytes", "gauge", "Memory of the machine or cgroup");
  out += fmt::format("capibara_system_memory_total_bytes {}\n", memory.total_bytes);
  family(out, "capibara_system_memory_available_bytes", "gauge", "Memory still available");
  out += fmt::format("capibara_system_memory_available_bytes {}\n", memory.available_bytes);
  return out;
}

}  // namespace capibara::server
