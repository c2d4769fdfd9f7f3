// The HTTP server in-process with a real model: raw SSE framing, error JSON, health while
// loading, concurrency. (The openai-client tests in tests/e2e cover the client's view.)
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "registry/registry.hpp"
#include "server/http_server.hpp"
#include "support/shared_data.hpp"

namespace capibara::server {
namespace {

using Json = nlohmann::json;

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { start({}); }
  // Starts a server on stories260K; `tweak` adjusts the options first.
  void start(const std::function<void(ServerOptions&, ExpertConfig&)>& tweak) {
    const auto dir = capibara::testing::shared_dir();
    if (!dir) GTEST_SKIP() << "shared test data not found: set CAPIBARA_SHARED";
    TearDown();
    ExpertConfig e;
    e.id = "stories";
    e.model_path = *dir / "models" / "stories260K.gguf";
    e.model = {2, 512, 512};
    e.engine.scheduler = {16, 64, true};
    ServerOptions o;
    o.port = 0;
    o.http_threads = 80;
    o.log_format = std::getenv("CAPIBARA_TEST_ACCESS_LOG") ? LogFormat::kText : LogFormat::kOff;
    if (tweak) tweak(o, e);
    registry_ = std::make_unique<Registry>(std::vector<ExpertConfig>{e});
    server_ = std::make_unique<HttpServer>(o, *registry_);
    server_->start();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(60, 0);
  }
  void wait_ready() {
    registry_->start_loading();
    for (int i = 0; i < 500 && !registry_->ready(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(registry_->ready());
  }
  void TearDown() override {
    client_.reset();
    server_.reset();
    registry_.reset();
  }
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpServerTest, HealthIs503WhileLoadingThen200) {
  auto r = client_->Get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(Json::parse(r->body)["status"], "loading");
  auto c =
      client_->Post("/v1/completions", R"({"model":"stories","prompt":"x"})", "application/json");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, 503);
  wait_ready();
  r = client_->Get("/health");
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Json::parse(r->body), (Json{{"status", "ok"}}));
}

TEST_F(HttpServerTest, StreamsServerSentEvents) {
  wait_ready();
  std::string body;
  std::vector<std::string> events;
  const std::string req =
      R"({"model":"stories","messages":[{"role":"user","content":"Once"}],"max_tokens":6,)"
      R"("temperature":0,"stream":true,"stream_options":{"include_usage":true}})";
  auto r = client_->Post("/v1/chat/completions", req, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  size_t pos = 0;
  while ((pos = r->body.find("data: ", pos)) != std::string::npos) {
    const size_t end = r->body.find("\n\n", pos);
    ASSERT_NE(end, std::string::npos) << "every event ends with a blank line";
    events.push_back(r->body.substr(pos + 6, end - pos - 6));
    pos = end + 2;
  }
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  const Json first = Json::parse(events.front());
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  const Json usage = Json::parse(events[events.size() - 2]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 6);
  const Json last = Json::parse(events[events.size() - 3]);
  EXPECT_EQ(last["choices"][0]["finish_reason"], "length");
}

TEST_F(HttpServerTest, ErrorsAreOpenAIJson) {
  wait_ready();
  auto bad_json = client_->Post("/v1/chat/completions", "{nope", "application/json");
  ASSERT_TRUE(bad_json);
  EXPECT_EQ(bad_json->status, 400);
  EXPECT_EQ(Json::parse(bad_json->body)["error"]["type"], "invalid_request_error");
  auto unknown =
      client_->Post("/v1/completions", R"({"model":"x","prompt":"a"})", "application/json");
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(Json::parse(unknown->body)["error"]["code"], "model_not_found");
  auto route = client_->Get("/v1/nothing");
  EXPECT_EQ(route->status, 404);
  EXPECT_TRUE(Json::parse(route->body).contains("error"));
  auto bad_token = client_->Post("/v1/completions", R"({"model":"stories","prompt":[1,99999]})",
                                 "application/json");
  EXPECT_EQ(bad_token->status, 400);
}

TEST_F(HttpServerTest, ConcurrentRequestsAllSucceed) {
  wait_ready();
  std::vector<std::thread> threads;
  std::vector<int> status(6, 0);
  std::vector<std::string> texts(6);
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", server_->port());
      c.set_read_timeout(60, 0);
      auto r = c.Post("/v1/completions",
                      R"({"model":"stories","prompt":"The dog","max_tokens":12,"temperature":0})",
                      "application/json");
      if (r) {
        status[i] = r->status;
        texts[i] = Json::parse(r->body)["choices"][0]["text"];
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(status[i], 200);
    EXPECT_EQ(texts[i], texts[0]);  // batched greedy decoding is deterministic
  }
  auto stats = Json::parse(client_->Get("/stats")->body);
  EXPECT_EQ(stats["models"][0]["requests"]["total"], 6);
}

// Each malformed request gets its status and an OpenAI error object, and the server keeps
// serving afterwards.
TEST_F(HttpServerTest, ATableOfBadRequests) {
  wait_ready();
  struct Case {
    const char* path;
    std::string body;
    int status;
    const char* param;  // expected `error.param`, or nullptr
  };
  const std::string msgs = R"("messages":[{"role":"user","content":"hi"}])";
  auto chat = [&](const std::string& extra) {
    return "{\"model\":\"stories\"," + msgs + (extra.empty() ? "" : "," + extra) + "}";
  };
  const std::vector<Case> cases = {
      {"/v1/chat/completions", "", 400, nullptr},
      {"/v1/chat/completions", "{", 400, nullptr},
      {"/v1/chat/completions", "[]", 400, nullptr},
      {"/v1/chat/completions", "42", 400, nullptr},
      {"/v1/chat/completions", R"({"messages":[{"role":"user","content":"x"}]})", 400, "model"},
      {"/v1/chat/completions", R"({"model":7,"messages":[]})", 400, "model"},
      {"/v1/chat/completions", R"({"model":"stories"})", 400, "messages"},
      {"/v1/chat/completions", R"({"model":"stories","messages":"hi"})", 400, "messages"},
      {"/v1/chat/completions", R"({"model":"stories","messages":[]})", 400, "messages"},
      {"/v1/chat/completions", R"({"model":"stories","messages":[1]})", 400, "messages[0]"},
      {"/v1/chat/completions", R"({"model":"stories","messages":[{"content":"x"}]})", 400,
       "messages[0].role"},
      {"/v1/chat/completions", R"({"model":"stories","messages":[{"role":"bot","content":"x"}]})",
       400, "messages[0].role"},
      {"/v1/chat/completions", R"({"model":"stories","messages":[{"role":"user"}]})", 400,
       "messages[0].content"},
      {"/v1/chat/completions",
       R"({"model":"stories","messages":[{"role":"user","content":[{"type":"image_url"}]}]})", 400,
       "messages[0].content"},
      {"/v1/chat/completions", chat(R"("temperature":-1)"), 400, "temperature"},
      {"/v1/chat/completions", chat(R"("temperature":"warm")"), 400, "temperature"},
      {"/v1/chat/completions", chat(R"("top_p":1.5)"), 400, "top_p"},
      {"/v1/chat/completions", chat(R"("n":0)"), 400, "n"},
      {"/v1/chat/completions", chat(R"("n":100)"), 400, "n"},
      {"/v1/chat/completions", chat(R"("max_tokens":-5)"), 400, "max_tokens"},
      {"/v1/chat/completions", chat(R"("max_tokens":1.5)"), 400, "max_tokens"},
      {"/v1/chat/completions", chat(R"("stop":[1,2])"), 400, "stop"},
      {"/v1/chat/completions", chat(R"("stop":["a","b","c","d","e"])"), 400, "stop"},
      {"/v1/chat/completions", chat(R"("stream":"yes")"), 400, "stream"},
      {"/v1/chat/completions", chat(R"("stream_options":{"include_usage":true})"), 400,
       "stream_options"},
      {"/v1/chat/completions", chat(R"("logit_bias":{"x":1})"), 400, "logit_bias"},
      {"/v1/chat/completions", chat(R"("logit_bias":{"5":500})"), 400, "logit_bias"},
      {"/v1/chat/completions", chat(R"("logit_bias":{"99999":1})"), 400, nullptr},
      {"/v1/chat/completions", chat(R"("top_logprobs":2)"), 400, "top_logprobs"},
      {"/v1/chat/completions", chat(R"("logprobs":true,"top_logprobs":30)"), 400, "top_logprobs"},
      {"/v1/chat/completions", chat(R"("frequency_penalty":3)"), 400, "frequency_penalty"},
      {"/v1/chat/completions", chat(R"("seed":"abc")"), 400, "seed"},
      {"/v1/chat/completions", chat(R"("response_format":{"type":"json_object"})"), 400,
       "response_format"},
      {"/v1/chat/completions", chat(R"("response_format":{"type":"xml"})"), 400, "response_format"},
      {"/v1/chat/completions", R"({"model":"nope","messages":[{"role":"user","content":"x"}]})",
       404, "model"},
      {"/v1/completions", R"({"model":"stories"})", 400, "prompt"},
      {"/v1/completions", R"({"model":"stories","prompt":{}})", 400, "prompt"},
      {"/v1/completions", R"({"model":"stories","prompt":[1,"a"]})", 400, "prompt"},
      {"/v1/completions", R"({"model":"stories","prompt":[1,99999]})", 400, nullptr},
      {"/v1/completions", R"({"model":"stories","prompt":"x","suffix":"y"})", 400, "suffix"},
      {"/v1/completions", R"({"model":"stories","prompt":"x","logprobs":6})", 400, "logprobs"},
      {"/v1/completions", R"({"model":"stories","prompt":"x","echo":1})", 400, "echo"},
      {"/v1/completions",
       R"({"model":"stories","prompt":")" + std::string(6000, 'a') + " " + std::string(6000, 'b') +
           R"("})",
       400, "prompt"},
      {"/v1/unknown", "{}", 404, nullptr},
  };
  ASSERT_GE(cases.size(), 30u);
  for (const auto& c : cases) {
    auto r = client_->Post(c.path, c.body, "application/json");
    ASSERT_TRUE(r) << c.body;
    EXPECT_EQ(r->status, c.status) << c.path << " " << c.body.substr(0, 200) << " -> " << r->body;
    Json j;
    ASSERT_NO_THROW(j = Json::parse(r->body)) << r->body;
    ASSERT_TRUE(j.contains("error")) << r->body;
    EXPECT_TRUE(j["error"]["message"].is_string());
    EXPECT_TRUE(j["error"]["type"].is_string());
    if (c.param != nullptr) {
      EXPECT_EQ(j["error"]["param"], c.param) << c.body;
    }
  }
  // Other statuses httplib produces, in the same shape.
  auto get_chat = client_->Get("/v1/chat/completions");
  EXPECT_EQ(get_chat->status, 405);
  EXPECT_EQ(get_chat->get_header_value("Allow"), "POST");
  EXPECT_TRUE(Json::parse(get_chat->body).contains("error"));
  auto post_models = client_->Post("/v1/models", "{}", "application/json");
  EXPECT_EQ(post_models->status, 405);
  auto ok =
      client_->Post("/v1/completions", R"({"model":"stories","prompt":"Once","max_tokens":3})",
                    "application/json");
  EXPECT_EQ(ok->status, 200);
}

TEST_F(HttpServerTest, BodyOverTheLimitIs413) {
  start([](ServerOptions& o, ExpertConfig&) { o.max_body_bytes = 1000; });
  wait_ready();
  auto r = client_->Post("/v1/completions",
                         R"({"model":"stories","prompt":")" + std::string(5000, 'a') + R"("})",
                         "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(Json::parse(r->body)["error"]["type"], "invalid_request_error");
}

TEST_F(HttpServerTest, AFullQueueIs429WithRetryAfter) {
  start([](ServerOptions&, ExpertConfig& e) {
    e.engine.scheduler.max_num_seqs = 1;
    e.engine.max_queued_requests = 1;
  });
  wait_ready();
  // One slot running and one queued: with several clients hammering long requests the
  // queue is full nearly all the time. The tiny model finishes a request in milliseconds
  // (far less under a fast CPU), so the test keeps the pressure on instead of relying on
  // sleeps, and probes until a request is refused.
  std::atomic<bool> stop{false};
  std::vector<std::thread> busy;
  for (int i = 0; i < 4; ++i) {
    busy.emplace_back([this, &stop] {
      httplib::Client c("127.0.0.1", server_->port());
      c.set_read_timeout(60, 0);
      while (!stop.load()) {
        c.Post("/v1/completions",
               R"({"model":"stories","prompt":"Once","max_tokens":1500,"temperature":1})",
               "application/json");
      }
    });
  }
  std::optional<httplib::Response> refused;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = client_->Post("/v1/completions", R"({"model":"stories","prompt":"Once"})",
                           "application/json");
    ASSERT_TRUE(r);
    if (r->status != 200) {
      refused = *r;
      break;
    }
  }
  stop = true;
  registry_->cancel_all("test over");
  for (auto& t : busy) t.join();
  ASSERT_TRUE(refused.has_value()) << "no request was refused within 60 s";
  EXPECT_EQ(refused->status, 429) << refused->body;
  EXPECT_FALSE(refused->get_header_value("Retry-After").empty());
  EXPECT_EQ(Json::parse(refused->body)["error"]["code"], "queue_full");
}

// 64 clients stream at once; each gets the text a lone greedy request gets.
TEST_F(HttpServerTest, SixtyFourConcurrentStreamsMatchTheSameRequestsAlone) {
  wait_ready();
  const std::vector<std::string> prompts = {"Once upon a time", "The dog", "Lily saw",
                                            "Tom and Sam",      "One day", "The sun was"};
  auto body = [&](size_t i, bool stream) {
    return Json{{"model", "stories"},
                {"prompt", prompts[i % prompts.size()]},
                {"max_tokens", 24},
                {"temperature", 0},
                {"stream", stream}}
        .dump();
  };
  std::vector<std::string> alone(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    alone[i] = Json::parse(client_->Post("/v1/completions", body(i, false), "application/json")
                               ->body)["choices"][0]["text"];
  }
  std::vector<std::string> streamed(64);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < 64; ++i) {
    threads.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", server_->port());
      c.set_read_timeout(120, 0);
      std::string buffer;
      httplib::Request req;
      req.method = "POST";
      req.path = "/v1/completions";
      req.body = body(i, true);
      req.set_header("Content-Type", "application/json");
      req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
        buffer.append(data, n);
        return true;
      };
      auto r = c.send(req);
      if (!r) {
        streamed[i] = "<error " + httplib::to_string(r.error()) + ">";
        return;
      }
      if (r->status != 200) {
        streamed[i] = "<status " + std::to_string(r->status) + ">";
        return;
      }
      size_t pos = 0;
      while ((pos = buffer.find("data: ", pos)) != std::string::npos) {
        const size_t end = buffer.find("\n\n", pos);
        const std::string event = buffer.substr(pos + 6, end - pos - 6);
        pos = end;
        if (event == "[DONE]") break;
        streamed[i] += Json::parse(event)["choices"][0]["text"].get<std::string>();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < 64; ++i) EXPECT_EQ(streamed[i], alone[i % prompts.size()]) << i;
}

TEST_F(HttpServerTest, ADisconnectMidStreamCancelsTheSequence) {
  wait_ready();
  {
    httplib::Client c("127.0.0.1", server_->port());
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = R"({"model":"stories","prompt":"Once","max_tokens":1800,"stream":true})";
    req.set_header("Content-Type", "application/json");
    int chunks = 0;
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 3; };
    c.send(req);  // the receiver's `false` closes the connection
  }
  Json stats;
  for (int i = 0; i < 200; ++i) {
    stats = Json::parse(client_->Get("/stats")->body)["models"][0];
    if (stats["requests"]["cancelled"] == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(stats["requests"]["cancelled"], 1);
  EXPECT_EQ(stats["requests"]["running"], 0);
  EXPECT_EQ(stats["kv_cache"]["used_tokens"], 0);
  EXPECT_LT(stats["tokens"]["generated"].get<int>(), 1800);
}

// Every line of /metrics is a comment or `name{labels} value` (the text exposition format),
// and histograms come with cumulative buckets, _sum and _count.
TEST_F(HttpServerTest, MetricsParseAsPrometheusText) {
  wait_ready();
  client_->Post("/v1/completions", R"({"model":"stories","prompt":"Once","max_tokens":5})",
                "application/json");
  auto r = client_->Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const std::regex sample(R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? )"
                          R"([-+]?([0-9.e+-]+|Inf|NaN)$)");
  const std::regex comment(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$)");
  std::istringstream in(r->body);
  std::string line;
  int samples = 0;
  std::map<std::string, double> values;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      EXPECT_TRUE(std::regex_match(line, comment)) << line;
      continue;
    }
    EXPECT_TRUE(std::regex_match(line, sample)) << line;
    const auto space = line.rfind(' ');
    values[line.substr(0, space)] = std::stod(line.substr(space + 1));
    ++samples;
  }
  EXPECT_GT(samples, 20);
  const std::string h = "capibara_time_to_first_token_seconds";
  EXPECT_EQ(values[h + "_count{model=\"stories\"}"], 1);
  EXPECT_EQ(values[h + "_bucket{model=\"stories\",le=\"+Inf\"}"], 1);
  EXPECT_LE(values[h + "_bucket{model=\"stories\",le=\"0.001\"}"],
            values[h + "_bucket{model=\"stories\",le=\"60\"}"]);
  EXPECT_EQ(values["capibara_generation_tokens_total{model=\"stories\"}"], 5);
  EXPECT_EQ(values["capibara_model_loaded{model=\"stories\",state=\"loaded\"}"], 1);
}

TEST_F(HttpServerTest, ShutdownLetsInFlightRequestsFinish) {
  wait_ready();
  int status = 0;
  std::string text;
  std::thread client([&] {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(60, 0);
    auto r = c.Post("/v1/completions",
                    R"({"model":"stories","prompt":"Once","max_tokens":200,"temperature":0})",
                    "application/json");
    if (r) {
      status = r->status;
      text = Json::parse(r->body)["choices"][0]["text"];
    }
  });
  // Shut down once the request is being computed (not before it even arrived).
  for (int i = 0; i < 1000; ++i) {
    const auto st = registry_->status();
    if (st[0].stats && st[0].stats->requests_total > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  server_->shutdown();
  client.join();
  EXPECT_EQ(status, 200);
  EXPECT_FALSE(text.empty());
}

}  // namespace
}  // namespace capibara::server
