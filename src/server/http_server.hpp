// The OpenAI-compatible HTTP front end: routes, API keys, error JSON, SSE streaming, health,
// stats and metrics. HTTP worker threads never run model code: they submit sequences to the
// engines and write what comes back.
//
// Thread safety: `start`/`stop` from the owning thread; handlers run on the worker pool.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "registry/registry.hpp"

namespace httplib {
class Server;
}

namespace capibara::server {

enum class LogFormat { kText, kJson, kOff };

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8082;                          // the original deployment's port
  std::vector<std::string> api_keys;        // empty: no authentication
  int http_threads = 64;                    // connections served at once (a stream holds one)
  size_t max_body_bytes = 8u << 20;         // larger bodies get 413
  int32_t max_tokens_per_request = 0;       // 0: up to the model's context
  double request_timeout_s = 600.0;         // 0: none
  double shutdown_grace_s = 10.0;           // in-flight work gets this long after SIGTERM
  LogFormat log_format = LogFormat::kText;  // one access-log line per request, on stderr
};

class HttpServer {
 public:
  HttpServer(ServerOptions options, Registry& registry);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds (SystemError when the address is taken) and serves on a background thread.
  void start();
  // Blocks until the server has stopped.
  void wait();
  // Stops accepting connections and returns once in-flight requests are done.
  void stop();
  // Graceful stop (SIGTERM): new requests get 503, in-flight ones have `shutdown_grace_s` to
  // finish before their sequences are cancelled; returns when the server has stopped.
  void shutdown();
  int port() const { return bound_port_; }

 private:
  void install_routes();
  void log_access(const struct AccessRecord& record) const;

  ServerOptions options_;
  Registry& registry_;
  std::unique_ptr<httplib::Server> http_;
  int bound_port_ = 0;
  std::atomic<bool> draining_{false};
  std::mutex stopped_mutex_;
  std::condition_variable stopped_cv_;
  bool stopped_ = false;  // guarded by stopped_mutex_: the listening thread has returned
  std::thread thread_;
};

}  // namespace capibara::server
