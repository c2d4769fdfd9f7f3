// The OpenAI-compatible HTTP front end: routes, API keys, error JSON, SSE streaming, health,
// stats and metrics. HTTP worker threads never run model code: they submit sequences to the
// engines and write what comes back.
//
// Thread safety: `start`/`stop` from the owning thread; handlers run on the worker pool.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "registry/registry.hpp"

namespace httplib {
class Server;
}

namespace capibara::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8082;                    // the original deployment's port
  std::vector<std::string> api_keys;  // empty: no authentication
  int http_threads = 16;              // concurrent connections being served
};

class HttpServer {
 public:
  HttpServer(ServerOptions options, Registry& registry);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds (SystemError when the address is taken) and serves on a background thread.
  void start();
  // Blocks until `stop` is called (from another thread or a signal watcher).
  void wait();
  void stop();
  int port() const { return bound_port_; }

 private:
  void install_routes();

  ServerOptions options_;
  Registry& registry_;
  std::unique_ptr<httplib::Server> http_;
  int bound_port_ = 0;
  std::thread thread_;
};

}  // namespace capibara::server
