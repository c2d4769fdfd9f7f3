// `capibara serve`: the OpenAI-compatible server, on one model (`-m`) or on the experts of a
// config file (`--config`, see server/serve_config.hpp). Flags given on the command line
// override the config file's `server` block.
#include <pthread.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <fmt/core.h>

#include "cli/commands.hpp"
#include "cli/model_options.hpp"
#include "core/error.hpp"
#include "kernels/kernel_table.hpp"
#include "registry/registry.hpp"
#include "server/http_server.hpp"
#include "server/serve_config.hpp"

namespace capibara::cli {
namespace {

struct ServeOptions {
  std::optional<std::string> config_path;
  ModelFlags model;
  std::string alias;
  server::ServerOptions http;
  int parallel = 4;
  int64_t max_batched_tokens = 512;
  int32_t max_queued = 256;
  std::string log_format = "text";
  std::optional<std::string> chat_template_file;
};

// The experts, policy and server options of the `-m` shortcut: one expert, preloaded.
server::ServeConfig single_model_config(const ServeOptions& o) {
  server::ServeConfig config;
  ExpertConfig expert;
  expert.model_path = o.model.model_path;
  expert.id = o.alias.empty() ? std::filesystem::path(o.model.model_path).stem().string() : o.alias;
  expert.model = o.model.model_options();
  expert.engine.kv_type = o.model.kv();
  expert.engine.scheduler.max_num_seqs = o.parallel;
  expert.engine.scheduler.max_num_batched_tokens = o.max_batched_tokens;
  expert.engine.max_queued_requests = o.max_queued;
  if (o.chat_template_file) {
    std::ifstream in(*o.chat_template_file);
    if (!in) throw SystemError("cannot read chat template file '" + *o.chat_template_file + "'");
    expert.chat_template =
        std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  config.experts.push_back(std::move(expert));
  return config;
}

// Flags given on the command line replace the config file's `server` settings.
void apply_server_flags(const ServeOptions& o, const CLI::App& cmd, server::ServerOptions& http) {
  auto given = [&](const char* flag) {
    return !o.config_path || cmd.get_option(flag)->count() > 0;
  };
  if (given("--host")) http.host = o.http.host;
  if (given("--port")) http.port = o.http.port;
  if (given("--api-key")) http.api_keys = o.http.api_keys;
  if (given("--http-threads")) http.http_threads = o.http.http_threads;
  if (given("--max-tokens")) http.max_tokens_per_request = o.http.max_tokens_per_request;
  if (given("--max-body-bytes")) http.max_body_bytes = o.http.max_body_bytes;
  if (given("--timeout")) http.request_timeout_s = o.http.request_timeout_s;
  if (given("--shutdown-grace")) http.shutdown_grace_s = o.http.shutdown_grace_s;
  if (given("--log-format")) {
    http.log_format = o.log_format == "json"  ? server::LogFormat::kJson
                      : o.log_format == "off" ? server::LogFormat::kOff
                                              : server::LogFormat::kText;
  }
}

int serve(const ServeOptions& o, const CLI::App& cmd) {
  // SIGINT / SIGTERM are taken by one watcher thread (sigwait), so no handler touches state.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  server::ServeConfig config;
  if (o.config_path) {
    config = server::load_serve_config(*o.config_path);
    for (const auto& w : config.warnings) fmt::print(stderr, "capibara: warning: {}\n", w);
  } else {
    config = single_model_config(o);
  }
  server::ServerOptions& http_options = config.server;
  apply_server_flags(o, cmd, http_options);

  Registry registry(config.experts, config.policy);
  server::HttpServer http(http_options, registry);
  http.start();
  std::string names;
  for (const auto& e : config.experts) names += (names.empty() ? "" : ", ") + e.id;
  fmt::print(stderr, "capibara: listening on http://{}:{} ({} kernels); {} {}: {}\n",
             http_options.host, http.port(), kernels::isa_name(kernels::active_kernels().isa),
             config.policy.lazy ? "lazy loading" : "preloading",
             config.experts.size() == 1 ? "expert" : "experts", names);
  const MemoryStatus guard = registry.memory_status();
  fmt::print(stderr, "capibara: memory budget {} ({:.0f} % of {})\n",
             format_bytes(guard.budget_bytes), config.policy.memory_threshold * 100.0,
             format_bytes(guard.total_bytes));
  registry.start_loading();

  std::thread watcher([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    fmt::print(stderr, "capibara: signal {}, draining (grace {:.0f} s)\n", sig,
               http_options.shutdown_grace_s);
    http.shutdown();
  });
  // Report the load's outcome once it is known.
  while (!registry.ready()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  for (const auto& s : registry.status()) {
    if (s.state == ExpertState::kLoaded) {
      fmt::print(stderr, "capibara: {} loaded in {:.2f} s, context {} tokens, ~{}\n", s.id,
                 s.last_load_seconds, s.n_ctx, format_bytes(s.estimated_bytes));
    } else if (s.state == ExpertState::kFailed) {
      fmt::print(stderr, "capibara: error: {} failed to load: {}\n", s.id, s.error);
    } else if (!s.error.empty()) {
      fmt::print(stderr, "capibara: {} {}\n", s.id, s.error);
    } else {
      fmt::print(stderr, "capibara: {} loads on its first request\n", s.id);
    }
  }
  http.wait();
  pthread_kill(watcher.native_handle(), SIGTERM);  // wakes sigwait if we stopped otherwise
  watcher.join();
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, CommandAction& action) {
  auto o = std::make_shared<ServeOptions>();
  auto* cmd = app.add_subcommand("serve", "Serve models over an OpenAI-compatible HTTP API");
  auto* config =
      cmd->add_option("--config", o->config_path, "JSON config with several experts (see configs/)")
          ->check(CLI::ExistingFile);
  o->model.add_to(*cmd, "f16");
  cmd->add_option("--alias", o->alias, "Model name clients use (default: the file's stem)");
  cmd->add_option("--host", o->http.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", o->http.port, "Port to listen on (0: any free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--api-key", o->http.api_keys, "Accepted API key (repeatable)");
  cmd->add_option("--parallel", o->parallel, "Sequences decoded together (max_num_seqs)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-batched-tokens", o->max_batched_tokens,
                  "Tokens per engine step, all sequences together")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--http-threads", o->http.http_threads, "Connections served at once")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-queued", o->max_queued, "Requests queued per model before 429")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-tokens", o->http.max_tokens_per_request,
                  "Most tokens one request may generate (0: up to the context)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--max-body-bytes", o->http.max_body_bytes, "Largest request body (413 above)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--timeout", o->http.request_timeout_s, "Per-request time limit, s (0: none)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--shutdown-grace", o->http.shutdown_grace_s,
                  "Seconds in-flight requests get after SIGTERM")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--log-format", o->log_format, "Access log: text, json or off")
      ->check(CLI::IsMember({"text", "json", "off"}))
      ->capture_default_str();
  cmd->add_option("--chat-template-file", o->chat_template_file,
                  "Jinja chat template overriding the model's")
      ->check(CLI::ExistingFile);
  // One of -m and --config: the model flags make no sense beside a config file.
  cmd->get_option("--model")->required(false)->excludes(config);
  cmd->callback([o, cmd, &action] {
    if (!o->config_path && o->model.model_path.empty()) {
      throw CLI::RequiredError("--model or --config");
    }
    action = [o, cmd] { return serve(*o, *cmd); };
  });
}

}  // namespace capibara::cli
