// `capibara serve` as a process: the access log it writes on stderr (text and JSON), the
// `--timeout` flag, and the SIGTERM drain (in-flight requests finish, new ones get 503, the
// grace period ends what is left, exit status 0).
#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/shared_data.hpp"

namespace capibara::testing {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// Generous: a loaded 2-core CI machine running sanitizer builds.
constexpr auto kStartDeadline = std::chrono::seconds(60);
constexpr auto kExitDeadline = std::chrono::seconds(90);

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The `data:` payloads of a Server-Sent Events body, in order.
std::vector<std::string> sse_events(const std::string& body) {
  std::vector<std::string> events;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) break;
    events.push_back(body.substr(pos + 6, end - pos - 6));
    pos = end + 2;
  }
  return events;
}

// One `capibara serve -m stories260K --port 0 ARGS` process. Its stderr goes to a file (the
// access log and the start-up lines are read from there); the port comes from the
// "listening on" line. The destructor kills a process the test left running.
class ServeProcess {
 public:
  ServeProcess(const fs::path& bin, const fs::path& model, const std::vector<std::string>& args) {
    static std::atomic<int> counter{0};
    stderr_path_ = fs::path(::testing::TempDir()) / ("serve_process_" + std::to_string(::getpid()) +
                                                     "_" + std::to_string(counter++) + ".err");
    std::vector<std::string> argv = {bin.string(), "serve",   "-m",         model.string(),
                                     "--alias",    "stories", "--port",     "0",
                                     "--threads",  "2",       "--parallel", "4"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> c_argv;
    for (auto& a : argv) c_argv.push_back(a.data());
    c_argv.push_back(nullptr);
    const std::string err_path = stderr_path_.string();
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      // The child: only async-signal-safe calls until exec. It dies with the test process, so
      // a test killed by a timeout leaves no server behind.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      const int in = ::open("/dev/null", O_RDONLY);
      const int out = ::open("/dev/null", O_WRONLY);
      const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || out < 0 || err < 0) ::_exit(127);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
      ::execv(c_argv[0], c_argv.data());
      ::_exit(127);
    }
  }
  ~ServeProcess() {
    if (pid_ > 0 && !exit_status_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    std::error_code ec;
    fs::remove(stderr_path_, ec);
  }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  std::string err() const { return slurp(stderr_path_); }

  // Waits for the "listening on" line, then for /health to say the model is loaded. Returns
  // false (the reason is in `err()`) when the process died or the deadline passed.
  bool wait_ready() {
    if (pid_ <= 0) return false;
    const std::regex listening(R"(listening on http://127\.0\.0\.1:(\d+))");
    const auto deadline = Clock::now() + kStartDeadline;
    while (port_ == 0) {
      std::smatch m;
      const std::string text = err();
      if (std::regex_search(text, m, listening)) {
        port_ = std::stoi(m[1]);
        break;
      }
      if (poll_exit() || Clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    httplib::Client c("127.0.0.1", port_);
    while (Clock::now() < deadline) {
      if (auto r = c.Get("/health"); r && r->status == 200) return true;
      if (poll_exit()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  int port() const { return port_; }
  void signal(int sig) const { ::kill(pid_, sig); }

  // Waits until stderr contains `text` (true) or the process exits or the deadline passes.
  bool wait_for_err(const std::string& text) {
    const auto deadline = Clock::now() + kExitDeadline;
    while (Clock::now() < deadline) {
      if (err().find(text) != std::string::npos) return true;
      if (poll_exit()) return err().find(text) != std::string::npos;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  // The exit code after a normal exit, -(signal) after a signal, nullopt while it runs past
  // the deadline.
  std::optional<int> wait_exit() {
    const auto deadline = Clock::now() + kExitDeadline;
    while (!poll_exit() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return exit_status_;
  }

  // SIGTERM and the exit code.
  std::optional<int> terminate() {
    signal(SIGTERM);
    return wait_exit();
  }

 private:
  bool poll_exit() {
    if (exit_status_) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    return true;
  }

  pid_t pid_ = -1;
  fs::path stderr_path_;
  int port_ = 0;
  std::optional<int> exit_status_;
};

// Lines of `text` that contain `fragment`.
std::vector<std::string> lines_with(const std::string& text, const std::string& fragment) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(fragment) != std::string::npos) out.push_back(line);
  }
  return out;
}

#define START_SERVER(server, ...)                                                      \
  CAPIBARA_REQUIRE_SHARED(shared);                                                     \
  const auto bin_path = capibara_binary();                                             \
  if (!bin_path) GTEST_SKIP() << "CAPIBARA_BIN is not set (run through ctest)";        \
  ServeProcess server(*bin_path, shared / "models" / "stories260K.gguf", __VA_ARGS__); \
  ASSERT_TRUE(server.wait_ready()) << server.err()

// The status of a response, -1 when none came.
int status_of(const httplib::Result& r) { return r ? r->status : -1; }

const std::string kCompletion =
    R"({"model":"stories","prompt":"Once upon a time","max_tokens":5,"temperature":0})";

// The text access log: one line per request with method, path, status, model, prompt +
// completion tokens, time to first token and duration; streams are logged when they end.
TEST(ServeProcess, TextAccessLogHasOneLinePerRequest) {
  START_SERVER(server, {});
  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(60, 0);
  ASSERT_EQ(status_of(c.Post("/v1/completions", kCompletion, "application/json")), 200);
  Json streamed = Json::parse(kCompletion);
  streamed["stream"] = true;
  ASSERT_EQ(status_of(c.Post("/v1/completions", streamed.dump(), "application/json")), 200);
  ASSERT_EQ(status_of(c.Get("/v1/nothing")), 404);
  ASSERT_EQ(server.terminate(), 0) << server.err();
  const std::string err = server.err();
  // "Once upon a time" is 5 tokens with BOS (see the e2e test's usage check).
  const std::regex completion(
      R"(^POST /v1/completions 200 model=stories tokens=5\+5 ttft_ms=[0-9]+\.[0-9] )"
      R"(duration_ms=[0-9]+\.[0-9]$)");
  const auto completions = lines_with(err, "POST /v1/completions");
  ASSERT_EQ(completions.size(), 2u) << err;
  for (const auto& line : completions) EXPECT_TRUE(std::regex_match(line, completion)) << line;
  const auto not_found = lines_with(err, "GET /v1/nothing");
  ASSERT_EQ(not_found.size(), 1u) << err;
  EXPECT_TRUE(std::regex_match(
      not_found[0],
      std::regex(R"(^GET /v1/nothing 404 model=- tokens=0\+0 ttft_ms=- duration_ms=[0-9.]+$)")))
      << not_found[0];
  // The /health probes of `wait_ready` are logged too.
  EXPECT_FALSE(lines_with(err, "GET /health 200").empty()) << err;
}

// `--log-format json`: each access line is one JSON object with typed fields.
TEST(ServeProcess, JsonAccessLogLinesAreObjects) {
  START_SERVER(server, {"--log-format", "json"});
  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(60, 0);
  ASSERT_EQ(status_of(c.Post("/v1/completions", kCompletion, "application/json")), 200);
  Json streamed = Json::parse(kCompletion);
  streamed["stream"] = true;
  ASSERT_EQ(status_of(c.Post("/v1/completions", streamed.dump(), "application/json")), 200);
  ASSERT_EQ(status_of(c.Post("/v1/completions", "{nope", "application/json")), 400);
  ASSERT_EQ(server.terminate(), 0) << server.err();
  const std::string err = server.err();
  std::vector<Json> entries;
  std::istringstream in(err);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("capibara: ")) continue;  // start-up and shutdown messages
    Json j;
    ASSERT_NO_THROW(j = Json::parse(line)) << "not JSON: " << line;
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_TRUE(j["method"].is_string()) << line;
    EXPECT_TRUE(j["path"].is_string()) << line;
    EXPECT_TRUE(j["status"].is_number_integer()) << line;
    EXPECT_TRUE(j["duration_ms"].is_number()) << line;
    EXPECT_GE(j["duration_ms"].get<double>(), 0.0) << line;
    if (j["path"] == "/v1/completions") entries.push_back(j);
  }
  // A stream's line is written once the stream has ended, possibly after the client's next
  // request was logged: the order of lines is not the order of requests.
  ASSERT_EQ(entries.size(), 3u) << err;
  std::vector<Json> ok;
  std::vector<Json> bad;
  for (const Json& j : entries) (j["status"] == 200 ? ok : bad).push_back(j);
  ASSERT_EQ(ok.size(), 2u) << err;
  for (const Json& j : ok) {
    EXPECT_EQ(j["method"], "POST");
    EXPECT_EQ(j["model"], "stories") << j;
    EXPECT_EQ(j["prompt_tokens"], 5) << j;
    EXPECT_EQ(j["completion_tokens"], 5) << j;
    ASSERT_TRUE(j["ttft_ms"].is_number()) << j;
    // ttft_ms is rounded to 0.1 ms.
    EXPECT_LE(j["ttft_ms"].get<double>(), j["duration_ms"].get<double>() + 0.1) << j;
  }
  ASSERT_EQ(bad.size(), 1u) << err;
  EXPECT_EQ(bad[0]["status"], 400);
  EXPECT_FALSE(bad[0].contains("model")) << bad[0];
  EXPECT_FALSE(bad[0].contains("ttft_ms")) << bad[0];
}

TEST(ServeProcess, LogFormatOffWritesNoAccessLines) {
  START_SERVER(server, {"--log-format", "off"});
  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(60, 0);
  ASSERT_EQ(status_of(c.Post("/v1/completions", kCompletion, "application/json")), 200);
  ASSERT_EQ(server.terminate(), 0) << server.err();
  const std::string err = server.err();
  EXPECT_TRUE(lines_with(err, "/v1/completions").empty()) << err;
  EXPECT_TRUE(lines_with(err, "/health").empty()) << err;
}

// `--timeout` reaches the server: a long generation under a 50 ms limit gets a 504.
TEST(ServeProcess, TimeoutFlagGives504) {
  START_SERVER(server, {"--timeout", "0.05"});
  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(60, 0);
  auto r = c.Post("/v1/completions", R"({"model":"stories","prompt":"Once","max_tokens":2000})",
                  "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504) << r->body;
  EXPECT_EQ(Json::parse(r->body)["error"]["type"], "timeout_error");
  EXPECT_EQ(server.terminate(), 0) << server.err();
}

// A streamed completion read on a background thread, with the moments that matter. The
// fields other than the atomics are read after `join`.
struct StreamClient {
  std::string body;
  std::optional<Clock::time_point> end;
  int status = 0;
  std::string error;
  std::atomic<bool> got_token{false};
  std::atomic<bool> finished{false};
  // The receiver hangs up past this (steady clock, ns), so that a server that never ends the
  // stream fails the test instead of hanging it.
  std::atomic<int64_t> give_up_ns{std::numeric_limits<int64_t>::max()};
  std::thread thread;

  static int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
        .count();
  }

  void run(int port, const std::string& request) {
    thread = std::thread([this, port, request] {
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(120, 0);
      httplib::Request req;
      req.method = "POST";
      req.path = "/v1/completions";
      req.body = request;
      req.set_header("Content-Type", "application/json");
      req.content_receiver = [this](const char* data, size_t n, uint64_t, uint64_t) {
        body.append(data, n);
        if (!got_token && body.find("\"text\"") != std::string::npos) got_token = true;
        return now_ns() < give_up_ns.load();
      };
      auto r = c.send(req);
      end = Clock::now();
      if (r) {
        status = r->status;
      } else {
        error = httplib::to_string(r.error());
      }
      finished = true;
    });
  }
  // True once the first token arrived (false when the request ended first or 60 s passed).
  bool wait_token() {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (!got_token && !finished && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return got_token;
  }
  void give_up_after(std::chrono::seconds s) {
    give_up_ns = now_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(s).count();
  }
  void join() {
    if (thread.joinable()) thread.join();
  }
  // A test that stops early hangs up first.
  ~StreamClient() {
    give_up_ns = 0;
    join();
  }
};

// SIGTERM while a request is generating: the request still gets every token, a new request
// on an open connection gets 503 with Retry-After, and the process exits 0 once the request
// is done (the grace period is long).
TEST(ServeProcess, SigtermLetsInFlightRequestsFinishAndRefusesNewOnes) {
  START_SERVER(server, {"--shutdown-grace", "300"});
  // httplib closes the listening socket as soon as the drain begins, so a new request during
  // the drain can only come on a connection that is already open and idle: its worker then
  // waits for the next request and no longer looks at the listener. Open one, and let its
  // worker finish the first request (its access-log line is written last) well before the
  // signal.
  httplib::Client late("127.0.0.1", server.port());
  late.set_keep_alive(true);
  late.set_read_timeout(60, 0);
  const size_t health_lines = lines_with(server.err(), "GET /health 200").size();
  ASSERT_EQ(status_of(late.Get("/health")), 200);
  const auto deadline = Clock::now() + kStartDeadline;
  while (lines_with(server.err(), "GET /health 200").size() == health_lines &&
         Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // 1000 tokens on one sequence take around a second here, far longer under sanitizers.
  StreamClient in_flight;
  in_flight.run(server.port(), Json{{"model", "stories"},
                                    {"prompt", "Once"},
                                    {"max_tokens", 1000},
                                    {"temperature", 0},
                                    {"stream", true}}
                                   .dump());
  if (!in_flight.wait_token()) {
    in_flight.join();
    FAIL() << "the stream did not start: " << in_flight.error << " " << in_flight.body << "\n"
           << server.err();
  }
  server.signal(SIGTERM);
  in_flight.give_up_after(std::chrono::seconds(120));
  ASSERT_TRUE(server.wait_for_err("draining")) << server.err();
  auto refused = late.Post("/v1/completions", kCompletion, "application/json");
  in_flight.join();
  ASSERT_TRUE(refused) << httplib::to_string(refused.error()) << "\n" << server.err();
  EXPECT_EQ(refused->status, 503) << refused->body;
  EXPECT_FALSE(refused->get_header_value("Retry-After").empty());
  EXPECT_EQ(Json::parse(refused->body)["error"]["type"], "service_unavailable_error");
  // The request in flight ran to its end.
  EXPECT_EQ(in_flight.status, 200) << in_flight.error;
  const auto events = sse_events(in_flight.body);
  ASSERT_GE(events.size(), 2u) << in_flight.body;
  EXPECT_EQ(events.back(), "[DONE]");
  const Json last = Json::parse(events[events.size() - 2]);
  ASSERT_TRUE(last.contains("choices")) << "the stream was cut short: " << last;
  EXPECT_EQ(last["choices"][0]["finish_reason"], "length") << last;
  int tokens = 0;
  for (const auto& e : events) {
    if (e == "[DONE]") continue;
    const Json j = Json::parse(e);
    EXPECT_FALSE(j.contains("error")) << e;
    if (j.contains("choices") && !j["choices"][0]["text"].get<std::string>().empty()) ++tokens;
  }
  EXPECT_GT(tokens, 500) << "every token, not a cut-short stream";
  EXPECT_EQ(server.wait_exit(), 0) << server.err();
  // The server's own count: every one of the 1000 tokens was generated and sent.
  EXPECT_EQ(
      lines_with(server.err(), "POST /v1/completions 200 model=stories tokens=2+1000 ").size(), 1u)
      << server.err();
}

// SIGTERM with a generation far longer than the grace period: the stream ends with an error
// event once the grace period is over (not before), and the process exits 0.
TEST(ServeProcess, SigtermCancelsWhatIsLeftAfterTheGracePeriod) {
  constexpr double kGraceS = 1.0;
  // 16000 tokens at a 16384 context take minutes even on a fast machine.
  START_SERVER(server, {"--shutdown-grace", "1", "--ctx", "16384"});
  StreamClient in_flight;
  in_flight.run(server.port(), Json{{"model", "stories"},
                                    {"prompt", "Once"},
                                    {"max_tokens", 16000},
                                    {"temperature", 0},
                                    {"stream", true}}
                                   .dump());
  if (!in_flight.wait_token()) {
    in_flight.join();
    FAIL() << "the stream did not start: " << in_flight.error << " " << in_flight.body << "\n"
           << server.err();
  }
  const auto signalled = Clock::now();
  server.signal(SIGTERM);
  in_flight.give_up_after(std::chrono::seconds(60));
  in_flight.join();
  ASSERT_TRUE(in_flight.end.has_value());
  const double after_signal_s = std::chrono::duration<double>(*in_flight.end - signalled).count();
  EXPECT_GE(after_signal_s, kGraceS * 0.9) << "cancelled before the grace period was over";
  EXPECT_LT(after_signal_s, 60.0);
  EXPECT_EQ(in_flight.status, 200) << in_flight.error;
  const auto events = sse_events(in_flight.body);
  ASSERT_GE(events.size(), 2u) << in_flight.body;
  EXPECT_EQ(events.back(), "[DONE]");
  const Json error = Json::parse(events[events.size() - 2]);
  ASSERT_TRUE(error.contains("error")) << error;
  EXPECT_NE(error["error"]["message"].get<std::string>().find("shutting down"), std::string::npos)
      << error;
  // The server ended it, not the request: retryable elsewhere, not an internal error.
  EXPECT_EQ(error["error"]["type"], "service_unavailable_error") << error;
  for (size_t i = 0; i + 2 < events.size(); ++i) {
    EXPECT_TRUE(Json::parse(events[i])["choices"][0]["finish_reason"].is_null()) << events[i];
  }
  EXPECT_EQ(server.wait_exit(), 0) << server.err();
}

}  // namespace
}  // namespace capibara::testing
