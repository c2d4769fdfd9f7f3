// Routes of the OpenAI-compatible API on cpp-httplib.
#include "server/http_server.hpp"

#include <httplib.h>

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
  if (e.kind() == ApiErrorKind::kOverloaded) res.set_header("Retry-After", "5");
  send_json(res, e.http_status(), e.to_json());
}

Json parse_body(const httplib::Request& req) {
  try {
    return Json::parse(req.body);
  } catch (const Json::parse_error& e) {
    throw ApiError(ApiErrorKind::kInvalidRequest,
                   fmt::format("the request body is not valid JSON: {}", e.what()));
  }
}

Json model_json(const ExpertStatus& e) {
  return {{"id", e.id},
          {"object", "model"},
          {"created", e.created_unix},
          {"owned_by", "capibara"},
          {"capibara",
           {{"state", expert_state_name(e.state)},
            {"domain", e.domain},
            {"aliases", e.aliases},
            {"context_length", e.n_ctx}}}};
}

}  // namespace

HttpServer::HttpServer(ServerOptions options, Registry& registry)
    : options_(std::move(options)),
      registry_(registry),
      http_(std::make_unique<httplib::Server>()) {
  const int threads = std::max(2, options_.http_threads);
  http_->new_task_queue = [threads] {
    return new httplib::ThreadPool(static_cast<size_t>(threads));
  };
  http_->set_payload_max_length(32u << 20);
  http_->set_read_timeout(600, 0);
  http_->set_write_timeout(600, 0);
  // httplib waits out idle keep-alive connections when stopping; a short idle window keeps
  // shutdown quick while still letting a client reuse its connection between requests.
  http_->set_keep_alive_timeout(2);
  install_routes();
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
        handler(req, res);
      } catch (const ApiError& e) {
        send_error(res, e);
      } catch (const Registry::NotFound& e) {
        send_error(res, ApiError(ApiErrorKind::kNotFound, e.what(), "model", "model_not_found"));
      } catch (const Registry::NotReady& e) {
        send_error(res, ApiError(ApiErrorKind::kOverloaded, e.what(), "model"));
      } catch (const InvalidArgumentError& e) {
        send_error(res, ApiError(ApiErrorKind::kInvalidRequest, e.what()));
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
        throw ApiError(ApiErrorKind::kNotFound, fmt::format("the model '{}' does not exist", id),
                       "model", "model_not_found");
      }));

  auto completion = [this](bool chat) {
    return [this, chat](const httplib::Request& req, httplib::Response& res) {
      const Json body = parse_body(req);
      CompletionRequest request = chat ? parse_chat_request(body) : parse_completion_request(body);
      auto model = registry_.acquire(request.model);
      const bool stream = request.stream;
      auto job = std::make_shared<CompletionJob>(std::move(model), std::move(request));
      if (!stream) {
        send_json(res, 200, job->collect());
        return;
      }
      res.set_header("Cache-Control", "no-cache");
      res.set_header("X-Accel-Buffering", "no");
      res.set_chunked_content_provider("text/event-stream", [job](size_t, httplib::DataSink& sink) {
        job->stream([&sink](std::string_view bytes) {
          return sink.is_writable() && sink.write(bytes.data(), bytes.size());
        });
        sink.done();
        return true;
      });
    };
  };
  http_->Post("/v1/chat/completions", guarded(true, completion(true)));
  http_->Post("/v1/completions", guarded(true, completion(false)));

  http_->Get("/stats", guarded(true, [this](const httplib::Request&, httplib::Response& res) {
               send_json(res, 200, stats_json(registry_.status(), read_memory_info()));
             }));
  http_->Get("/metrics", guarded(false, [this](const httplib::Request&, httplib::Response& res) {
               res.set_content(prometheus_text(registry_.status(), read_memory_info()),
                               "text/plain; version=0.0.4");
             }));

  // Unknown routes and wrong methods still answer in OpenAI's error shape.
  http_->set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const ApiError e(res.status == 405 ? ApiErrorKind::kMethodNotAllowed : ApiErrorKind::kNotFound,
                     fmt::format("no route for {} {}", req.method, req.path));
    res.set_content(e.to_json().dump(), "application/json");
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
  thread_ = std::thread([this] { http_->listen_after_bind(); });
}

void HttpServer::wait() {
  if (thread_.joinable()) thread_.join();
}

void HttpServer::stop() {
  if (http_) http_->stop();
}

}  // namespace capibara::server
