// A local HTTP server for download tests: one payload behind routes that each behave like a real
// server does (ranges, no ranges, early close, redirects, tokens, errors), with a log of what
// was asked and counters of what was sent. Listens on 127.0.0.1 only, on a free port.
//
// Thread safety: construct, then make requests from any thread; counters and the log may be read
// while it runs. `Options` are fixed at construction so the server thread never races on them.
#pragma once

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/core.h>

namespace capibara::testing {

class TestFileServer {
 public:
  struct Options {
    std::string payload;
    // Answer range requests with the whole file and 200, as some servers do.
    bool ignore_range = false;
    // Close the connection after this many body bytes, in the first `close_early_times`
    // responses of the file routes (simulates a network failure mid-transfer).
    int64_t close_after_bytes = -1;
    int close_early_times = 1;
    std::string etag;  // sent as ETag with the file when not empty
    // `/<org>/<repo>/resolve/<rev>/<file>` answers 302 to `hub_redirect_to` with these headers,
    // as the Hugging Face Hub does for LFS files.
    std::string hub_redirect_to;
    std::string hub_linked_etag;
    std::string hub_linked_size;
    std::string hub_token;  // when set, the Hub route and `/private/...` answer 401 without it
  };

  struct LoggedRequest {
    std::string path;
    std::string range;          // the Range header, "" if none
    std::string authorization;  // the Authorization header, "" if none
  };

  explicit TestFileServer(Options options) : options_(std::move(options)) {
    const auto serve = [this](const httplib::Request& req, httplib::Response& res) {
      serve_file(req, res);
    };
    server_.Get("/model.gguf", serve);
    server_.Get("/files/.*", serve);
    server_.Get("/private/model.gguf",
                [this, serve](const httplib::Request& req, httplib::Response& res) {
                  log(req);
                  if (!authorized(req)) return unauthorized(res);
                  serve_file(req, res, false);
                });
    server_.Get("/redirect", [this](const httplib::Request& req, httplib::Response& res) {
      log(req);
      res.set_redirect("/model.gguf", 302);
    });
    server_.Get("/redirect-loop", [this](const httplib::Request& req, httplib::Response& res) {
      log(req);
      res.set_redirect("/redirect-loop", 302);
    });
    server_.Get(R"(/status/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
      log(req);
      res.status = std::stoi(req.matches[1]);
      res.set_content("error", "text/plain");
    });
    server_.Get(R"(/([^/]+)/([^/]+)/resolve/(.+))",
                [this](const httplib::Request& req, httplib::Response& res) {
                  log(req);
                  if (!authorized(req)) return unauthorized(res);
                  if (!options_.hub_linked_etag.empty()) {
                    res.set_header("X-Linked-Etag", options_.hub_linked_etag);
                  }
                  if (!options_.hub_linked_size.empty()) {
                    res.set_header("X-Linked-Size", options_.hub_linked_size);
                  }
                  res.set_redirect(options_.hub_redirect_to, 302);
                });
    server_.set_logger([this](const httplib::Request& req, const httplib::Response&) {
      if (req.matches.empty()) log(req);  // unrouted requests (404s) are logged too
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  ~TestFileServer() {
    server_.stop();
    thread_.join();
  }

  TestFileServer(const TestFileServer&) = delete;
  TestFileServer& operator=(const TestFileServer&) = delete;

  int port() const { return port_; }
  std::string origin() const { return fmt::format("http://127.0.0.1:{}", port_); }
  std::string url(std::string_view path) const { return origin() + std::string(path); }

  uint64_t body_bytes_sent() const { return body_bytes_sent_.load(); }
  std::vector<LoggedRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void log(const httplib::Request& req) {
    std::lock_guard lock(mutex_);
    requests_.push_back(
        {req.path, req.get_header_value("Range"), req.get_header_value("Authorization")});
  }

  bool authorized(const httplib::Request& req) const {
    return options_.hub_token.empty() ||
           req.get_header_value("Authorization") == "Bearer " + options_.hub_token;
  }

  static void unauthorized(httplib::Response& res) {
    res.status = 401;
    res.set_header("X-Error-Message", "Invalid credentials in Authorization header");
    res.set_content("unauthorized", "text/plain");
  }

  void serve_file(const httplib::Request& req, httplib::Response& res, bool log_it = true) {
    if (log_it) log(req);
    const size_t size = options_.payload.size();
    if (!options_.etag.empty()) res.set_header("ETag", options_.etag);
    res.set_header("Accept-Ranges", options_.ignore_range ? "none" : "bytes");
    // cpp-httplib applies `req.ranges` to whatever the handler returns; the request object is
    // the server's own (non-const) local, so a server that "ignores" ranges just drops them.
    auto& ranges = const_cast<httplib::Request&>(req).ranges;
    if (options_.ignore_range) ranges.clear();
    if (ranges.size() == 1 && ranges[0].first >= 0 &&
        static_cast<size_t>(ranges[0].first) >= size) {
      ranges.clear();
      res.status = 416;
      res.set_header("Content-Range", fmt::format("bytes */{}", size));
      return;
    }
    const bool close_early = options_.close_after_bytes >= 0 &&
                             close_early_count_.fetch_add(1) < options_.close_early_times;
    auto sent = std::make_shared<int64_t>(0);  // bytes of this response
    res.set_content_provider(
        size, "application/octet-stream",
        [this, close_early, sent](size_t offset, size_t length, httplib::DataSink& sink) {
          size_t chunk = std::min<size_t>(length, 64 * 1024);
          if (close_early) {
            const int64_t left = options_.close_after_bytes - *sent;
            chunk = std::min<size_t>(chunk, static_cast<size_t>(std::max<int64_t>(0, left)));
          }
          if (chunk > 0) {
            sink.write(options_.payload.data() + offset, chunk);
            *sent += static_cast<int64_t>(chunk);
            body_bytes_sent_ += chunk;
          }
          return !(close_early &&
                   *sent >= options_.close_after_bytes);  // false: drop the connection
        });
  }

  const Options options_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<uint64_t> body_bytes_sent_{0};
  std::atomic<int> close_early_count_{0};
  mutable std::mutex mutex_;
  std::vector<LoggedRequest> requests_;
};

}  // namespace capibara::testing
