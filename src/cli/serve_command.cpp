// `capibara serve`: the OpenAI-compatible server on one model (`-m`); the multi-expert config
// file arrives with the registry issue.
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

namespace capibara::cli {
namespace {

struct ServeOptions {
  ModelFlags model;
  std::string alias;
  server::ServerOptions http;
  int parallel = 4;
  int64_t max_batched_tokens = 512;
  int32_t max_queued = 256;
  std::string log_format = "text";
  std::optional<std::string> chat_template_file;
};

int serve(const ServeOptions& o) {
  // SIGINT / SIGTERM are taken by one watcher thread (sigwait), so no handler touches state.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  ExpertConfig expert;
  expert.model_path = o.model.model_path;
  expert.id = o.alias.empty() ? std::filesystem::path(o.model.model_path).stem().string() : o.alias;
  expert.model = o.model.model_options();
  expert.engine.kv_type = o.model.kv();
  expert.engine.scheduler.max_num_seqs = o.parallel;
  expert.engine.scheduler.max_num_batched_tokens = o.max_batched_tokens;
  expert.engine.max_queued_requests = o.max_queued;
  server::ServerOptions http_options = o.http;
  http_options.log_format = o.log_format == "json"  ? server::LogFormat::kJson
                            : o.log_format == "off" ? server::LogFormat::kOff
                                                    : server::LogFormat::kText;
  if (o.chat_template_file) {
    std::ifstream in(*o.chat_template_file);
    if (!in) throw SystemError("cannot read chat template file '" + *o.chat_template_file + "'");
    expert.chat_template =
        std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

  Registry registry({expert});
  server::HttpServer http(http_options, registry);
  http.start();
  fmt::print(stderr, "capibara: listening on http://{}:{} ({} kernels); loading {}\n", o.http.host,
             http.port(), kernels::isa_name(kernels::active_kernels().isa), expert.id);
  registry.start_loading();

  std::thread watcher([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    fmt::print(stderr, "capibara: signal {}, draining (grace {:.0f} s)\n", sig,
               o.http.shutdown_grace_s);
    http.shutdown();
  });
  // Report the load's outcome once it is known.
  while (!registry.ready()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  for (const auto& s : registry.status()) {
    if (s.state == ExpertState::kLoaded) {
      fmt::print(stderr, "capibara: {} loaded in {:.2f} s, context {} tokens\n", s.id,
                 s.last_load_seconds, s.n_ctx);
    } else {
      fmt::print(stderr, "capibara: error: {} failed to load: {}\n", s.id, s.error);
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
  cmd->callback([o, &action] { action = [o] { return serve(*o); }; });
}

}  // namespace capibara::cli
