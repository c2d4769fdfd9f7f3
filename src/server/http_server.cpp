// Routes of the OpenAI-compatible API on cpp-httplib.
#include "server/http_server.hpp"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>

#include <fmt/core.h>

#include "server/api_error.hpp"
#include "server/completion_handler.hpp"
#include "server/completion_request.hpp"
#include "server/metrics.hpp"

namespace capibara::server {
namespace {

using Json = nlohmann::json;

void send_json(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) {
  if (e.kind() == ApiErrorKind::kOverloaded || e.kind() == ApiErrorKind::kQueueFull) {
    res.set_header("Retry-After", "5");
  }
  send_json(res, e.http_status(), e.to_json());
}

// Ordered, so that tool schemas reach the chat template in the client's key order.
nlohmann::ordered_json parse_body(const httplib::Request& req) {
  try {
    return nlohmann::ordered_json::parse(req.body);
  } catch (const Json::parse_error& e) {
    throw ApiError(ApiErrorKind::kInvalidRequest,
                   fmt::format("the request body is not valid JSON: {}", e.what()));
  }
}

Json model_json(const ExpertStatus& e) {
  Json ext = {{"state", expert_state_name(e.state)},
              {"domain", e.domain},
              {"description", e.description},
              {"priority", e.priority},
              {"aliases", e.aliases},
              {"estimated_memory_bytes", e.estimated_bytes}};
  if (e.state == ExpertState::kLoaded) ext["context_length"] = e.n_ctx;
  if (!e.error.empty()) ext["error"] = e.error;
  return {{"id", e.id},
          {"object", "model"},
          {"created", e.created_unix},
          {"owned_by", "capibara"},
          {"capibara", std::move(ext)}};
}

}  // namespace

// What one request did, for the access log. Handlers leave it in private response headers
// (`X-Capibara-Log-*`), which are set after a stream's headers are gone, so nothing is shared.
struct AccessRecord {
  std::string method;
  std::string path;
  int status = 0;
  std::string model;
  std::string prompt_tokens;
  std::string completion_tokens;
  std::string ttft_ms;
  double duration_ms = 0;
};

namespace {

constexpr const char* kLogModel = "X-Capibara-Log-Model";
constexpr const char* kLogPrompt = "X-Capibara-Log-Prompt-Tokens";
constexpr const char* kLogCompletion = "X-Capibara-Log-Completion-Tokens";
constexpr const char* kLogTtft = "X-Capibara-Log-Ttft-Ms";
constexpr const char* kLogStart = "X-Capibara-Log-Start-Ns";
constexpr const char* kLogStreamed = "X-Capibara-Log-Streamed";

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void record_summary(httplib::Response& res, const CompletionJob::Summary& s) {
  res.set_header(kLogModel, s.model);
  res.set_header(kLogPrompt, std::to_string(s.prompt_tokens));
  res.set_header(kLogCompletion, std::to_string(s.completion_tokens));
  if (s.time_to_first_token_s >= 0) {
    res.set_header(kLogTtft, fmt::format("{:.1f}", s.time_to_first_token_s * 1000.0));
  }
}

// Debian 12's cpp-httplib (0.11) listens with a backlog of 5: a burst of clients connecting at
// once overflows the accept queue and some connections are dropped. Find our listening socket
// and widen its backlog (listen() on a listening socket updates it).
void widen_listen_backlog(int port) {
  for (int fd = 0; fd < 1024; ++fd) {
    int accepting = 0;
    socklen_t len = sizeof(accepting);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || !accepting) continue;
    sockaddr_storage addr{};
    socklen_t addr_len = sizeof(addr);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0) continue;
    int bound = -1;
    if (addr.ss_family == AF_INET) {
      bound = ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    } else if (addr.ss_family == AF_INET6) {
      bound = ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    }
    if (bound == port) ::listen(fd, SOMAXCONN);
  }
}

void fill_record(AccessRecord& r, const CompletionJob::Summary& s, const std::string& start) {
  r.model = s.model;
  r.prompt_tokens = std::to_string(s.prompt_tokens);
  r.completion_tokens = std::to_string(s.completion_tokens);
  if (s.time_to_first_token_s >= 0) {
    r.ttft_ms = fmt::format("{:.1f}", s.time_to_first_token_s * 1000.0);
  }
  if (!start.empty()) r.duration_ms = static_cast<double>(now_ns() - std::stoll(start)) / 1e6;
}

}  // namespace

void HttpServer::log_access(const AccessRecord& r) const {
  if (options_.log_format == LogFormat::kOff) return;
  if (options_.log_format == LogFormat::kJson) {
    Json j = {{"method", r.method},
              {"path", r.path},
              {"status", r.status},
              {"duration_ms", r.duration_ms}};
    if (!r.model.empty()) j["model"] = r.model;
    if (!r.prompt_tokens.empty()) j["prompt_tokens"] = std::stoll(r.prompt_tokens);
    if (!r.completion_tokens.empty()) j["completion_tokens"] = std::stoll(r.completion_tokens);
    if (!r.ttft_ms.empty()) j["ttft_ms"] = std::stod(r.ttft_ms);
    fmt::print(stderr, "{}\n", j.dump());
    return;
  }
  fmt::print(stderr, "{} {} {} model={} tokens={}+{} ttft_ms={} duration_ms={:.1f}\n", r.method,
             r.path, r.status, r.model.empty() ? "-" : r.model,
             r.prompt_tokens.empty() ? "0" : r.prompt_tokens,
             r.completion_tokens.empty() ? "0" : r.completion_tokens,
             r.ttft_ms.empty() ? "-" : r.ttft_ms, r.duration_ms);
}

HttpServer::HttpServer(ServerOptions options, Registry& registry)
    : options_(std::move(options)),
      registry_(registry),
      http_(std::make_unique<httplib::Server>()) {
  const int threads = std::max(2, options_.http_threads);
  http_->new_task_queue = [threads] {
    return new httplib::ThreadPool(static_cast<size_t>(threads));
  };
  http_->set_payload_max_length(options_.max_body_bytes);
  http_->set_read_timeout(600, 0);
  http_->set_write_timeout(600, 0);
  // httplib applies the keep-alive timeout to a connection's first request too: a short one
  // drops connections whose client is slow to send under load (seen with 64 clients on 2
  // cores), so it stays generous; stopping waits out idle connections at most this long.
  http_->set_keep_alive_timeout(10);
  install_routes();
  http_->set_pre_routing_handler([](const httplib::Request&, httplib::Response& res) {
    res.set_header(kLogStart, std::to_string(now_ns()));
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http_->set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    if (res.has_header(kLogStreamed)) return;  // logged when the stream ends
    AccessRecord r;
    r.method = req.method;
    r.path = req.path;
    r.status = res.status;
    r.model = res.get_header_value(kLogModel);
    r.prompt_tokens = res.get_header_value(kLogPrompt);
    r.completion_tokens = res.get_header_value(kLogCompletion);
    r.ttft_ms = res.get_header_value(kLogTtft);
    const std::string start = res.get_header_value(kLogStart);
    if (!start.empty()) r.duration_ms = static_cast<double>(now_ns() - std::stoll(start)) / 1e6;
    log_access(r);
  });
}

HttpServer::~HttpServer() {
  stop();
  if (thread_.joinable()) thread_.join();
}

void HttpServer::install_routes() {
  // Every handler runs inside this wrapper: API key check, then errors mapped to JSON.
  auto guarded = [this](bool needs_key, auto handler) {
    return [this, needs_key, handler](const httplib::Request& req, httplib::Response& res) {
      try {
        if (needs_key && !options_.api_keys.empty()) {
          const std::string auth = req.get_header_value("Authorization");
          const std::string prefix = "Bearer ";
          const bool ok = auth.starts_with(prefix) &&
                          std::find(options_.api_keys.begin(), options_.api_keys.end(),
                                    auth.substr(prefix.size())) != options_.api_keys.end();
          if (!ok) {
            throw ApiError(ApiErrorKind::kAuthentication,
                           "a valid API key is required (Authorization: Bearer KEY)", "",
                           "invalid_api_key");
          }
        }
        if (draining_.load() && req.path != "/health" && req.path != "/metrics") {
          throw ApiError(ApiErrorKind::kOverloaded, "the server is shutting down");
        }
        handler(req, res);
      } catch (const ApiError& e) {
        send_error(res, e);
      } catch (const Registry::NotFound& e) {
        send_error(res, ApiError(ApiErrorKind::kNotFound, e.what(), "model", "model_not_found"));
      } catch (const Registry::NotReady& e) {
        send_error(res, ApiError(ApiErrorKind::kOverloaded, e.what(), "model", "model_not_ready"));
      } catch (const Registry::InsufficientMemory& e) {
        send_error(res,
                   ApiError(ApiErrorKind::kOverloaded, e.what(), "model", "insufficient_memory"));
      } catch (const Registry::MemoryPressure& e) {
        send_error(res, ApiError(ApiErrorKind::kOverloaded, e.what(), "", "memory_pressure"));
      } catch (const Registry::Busy& e) {
        send_error(res, ApiError(ApiErrorKind::kConflict, e.what(), "", "model_busy"));
      } catch (const InvalidArgumentError& e) {
        send_error(res, ApiError(ApiErrorKind::kInvalidRequest, e.what()));
      } catch (const OverloadedError& e) {
        send_error(res, ApiError(ApiErrorKind::kOverloaded, e.what()));
      } catch (const std::exception& e) {
        send_error(res, ApiError(ApiErrorKind::kInternal, e.what()));
      }
    };
  };

  http_->Get("/health", guarded(false, [this](const httplib::Request&, httplib::Response& res) {
               if (registry_.ready()) {
                 send_json(res, 200, {{"status", "ok"}});
               } else {
                 res.set_header("Retry-After", "2");
                 send_json(res, 503, {{"status", "loading"}});
               }
             }));

  http_->Get("/v1/models", guarded(true, [this](const httplib::Request&, httplib::Response& res) {
               Json data = Json::array();
               for (const auto& e : registry_.status()) data.push_back(model_json(e));
               send_json(res, 200, {{"object", "list"}, {"data", data}});
             }));

  http_->Get(
      R"(/v1/models/(.+))",
      guarded(true, [this](const httplib::Request& req, httplib::Response& res) {
        const std::string id = req.matches[1];
        for (const auto& e : registry_.status()) {
          if (e.id == id || std::find(e.aliases.begin(), e.aliases.end(), id) != e.aliases.end()) {
            send_json(res, 200, model_json(e));
            return;
          }
        }
        // Lists what there is, as the completion routes' 404 (the registry's) does.
        std::string names;
        for (const auto& e : registry_.experts()) names += (names.empty() ? "" : ", ") + e.id;
        throw ApiError(ApiErrorKind::kNotFound,
                       fmt::format("the model '{}' does not exist (available: {})", id, names),
                       "model", "model_not_found");
      }));

  auto completion = [this](bool chat) {
    return [this, chat](const httplib::Request& req, httplib::Response& res) {
      const nlohmann::ordered_json body = parse_body(req);
      CompletionRequest request = chat ? parse_chat_request(body) : parse_completion_request(body);
      if (const int32_t limit = options_.max_tokens_per_request; limit > 0) {
        if (request.max_tokens && *request.max_tokens > limit) {
          throw ApiError(ApiErrorKind::kInvalidRequest,
                         fmt::format("max_tokens {} is over this server's limit of {}",
                                     *request.max_tokens, limit),
                         "max_tokens");
        }
        if (!request.max_tokens) request.max_tokens = limit;
      }
      auto model = registry_.acquire(request.model);
      const bool stream = request.stream;
      auto job = std::make_shared<CompletionJob>(std::move(model), std::move(request),
                                                 options_.request_timeout_s);
      if (!stream) {
        send_json(res, 200, job->collect());
        record_summary(res, job->summary());
        return;
      }
      res.set_header("Cache-Control", "no-cache");
      res.set_header("X-Accel-Buffering", "no");
      // The access log line of a stream is written when the stream ends (the logger hook
      // runs before the body for chunked responses).
      res.set_header(kLogStreamed, "1");
      AccessRecord record;
      record.method = req.method;
      record.path = req.path;
      record.status = 200;
      const std::string start = res.get_header_value(kLogStart);
      res.set_chunked_content_provider(
          "text/event-stream", [this, job, record, start](size_t, httplib::DataSink& sink) mutable {
            job->stream([&sink](std::string_view bytes) {
              return sink.is_writable() && sink.write(bytes.data(), bytes.size());
            });
            sink.done();
            fill_record(record, job->summary(), start);
            log_access(record);
            return true;
          });
    };
  };
  http_->Post("/v1/chat/completions", guarded(true, completion(true)));
  http_->Post("/v1/completions", guarded(true, completion(false)));

  // Admin: load or unload an expert by hand (API key required when keys are set).
  http_->Post(
      R"(/admin/experts/([^/]+)/(load|unload))",
      guarded(true, [this](const httplib::Request& req, httplib::Response& res) {
        const std::string id = req.matches[1];
        const bool load = req.matches[2] == "load";
        if (load) {
          registry_.load(id);
        } else {
          registry_.unload(id);
        }
        for (const auto& e : registry_.status()) {
          if (e.id == id || std::find(e.aliases.begin(), e.aliases.end(), id) != e.aliases.end()) {
            send_json(res, 200, model_json(e));
            return;
          }
        }
      }));

  http_->Get("/stats", guarded(true, [this](const httplib::Request&, httplib::Response& res) {
               send_json(
                   res, 200,
                   stats_json(registry_.status(), registry_.memory_status(), read_memory_info()));
             }));
  http_->Get("/metrics", guarded(false, [this](const httplib::Request&, httplib::Response& res) {
               res.set_content(prometheus_text(registry_.status(), registry_.memory_status(),
                                               read_memory_info()),
                               "text/plain; version=0.0.4");
             }));

  // Known routes with the wrong method: 405 (httplib alone would answer 404).
  const auto not_allowed = [](const char* allowed) {
    return [allowed](const httplib::Request& req, httplib::Response& res) {
      res.set_header("Allow", allowed);
      send_error(res, ApiError(ApiErrorKind::kMethodNotAllowed,
                               fmt::format("method {} is not allowed on {} (use {})", req.method,
                                           req.path, allowed)));
    };
  };
  for (const char* path : {"/v1/chat/completions", "/v1/completions"}) {
    http_->Get(path, not_allowed("POST"));
    http_->Put(path, not_allowed("POST"));
    http_->Delete(path, not_allowed("POST"));
    http_->Patch(path, not_allowed("POST"));
  }
  for (const char* path : {"/health", "/v1/models", "/stats", "/metrics"}) {
    http_->Post(path, not_allowed("GET"));
    http_->Put(path, not_allowed("GET"));
    http_->Delete(path, not_allowed("GET"));
    http_->Patch(path, not_allowed("GET"));
  }

  // Statuses httplib sets itself (unknown route, wrong method, body over the limit) still
  // answer in OpenAI's error shape.
  http_->set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    ApiErrorKind kind = ApiErrorKind::kInvalidRequest;
    std::string message = fmt::format("bad request: {} {}", req.method, req.path);
    if (res.status == 404) {
      kind = ApiErrorKind::kNotFound;
      message = fmt::format("no route for {} {}", req.method, req.path);
    } else if (res.status == 405) {
      kind = ApiErrorKind::kMethodNotAllowed;
      message = fmt::format("method {} is not allowed on {}", req.method, req.path);
    } else if (res.status == 413) {
      kind = ApiErrorKind::kPayloadTooLarge;
      message =
          fmt::format("the request body is over the limit of {} bytes", options_.max_body_bytes);
    }
    res.set_content(ApiError(kind, message).to_json().dump(), "application/json");
  });
}

void HttpServer::start() {
  if (options_.port == 0) {
    bound_port_ = http_->bind_to_any_port(options_.host);
  } else {
    bound_port_ = http_->bind_to_port(options_.host, options_.port) ? options_.port : -1;
  }
  if (bound_port_ <= 0) {
    throw SystemError(fmt::format("cannot listen on {}:{} (address in use or not available)",
                                  options_.host, options_.port));
  }
  widen_listen_backlog(bound_port_);
  thread_ = std::thread([this] {
    http_->listen_after_bind();
    std::lock_guard lock(stopped_mutex_);
    stopped_ = true;
    stopped_cv_.notify_all();
  });
  // httplib's stop() is a no-op until the listener runs: wait for it, so that a stop right
  // after start cannot be lost.
  while (!http_->is_running()) {
    std::unique_lock lock(stopped_mutex_);
    if (stopped_) break;
    lock.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void HttpServer::shutdown() {
  draining_ = true;
  // httplib's stop closes the listener and then joins its workers, which finish the requests
  // they are serving; a second thread waits for that while we watch the clock.
  std::thread stopper([this] { stop(); });
  std::unique_lock lock(stopped_mutex_);
  const auto grace = std::chrono::duration<double>(options_.shutdown_grace_s);
  if (!stopped_cv_.wait_for(lock, grace, [&] { return stopped_; })) {
    lock.unlock();
    registry_.cancel_all("the server is shutting down");
    lock.lock();
    stopped_cv_.wait(lock, [&] { return stopped_; });
  }
  lock.unlock();
  stopper.join();
}

void HttpServer::wait() {
  if (thread_.joinable()) thread_.join();
}

void HttpServer::stop() {
  if (http_) http_->stop();
}

}  // namespace capibara::server
