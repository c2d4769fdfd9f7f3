// The HTTP server in-process, for behaviour of issue 4 that http_server_test.cpp leaves out:
// the per-request timeout (504), a missing API key (401), true streaming, the 404 of
// `GET /v1/models/{id}` and text completions with several prompts, `echo` and `logprobs`.
#include <httplib.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "registry/registry.hpp"
#include "server/http_server.hpp"
#include "support/shared_data.hpp"

namespace capibara::server {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

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

// The status of a response, -1 when none came.
int status_of(const httplib::Result& r) { return r ? r->status : -1; }
// The body of a response, empty when none came.
std::string body_of(const httplib::Result& r) { return r ? r->body : std::string(); }

class HttpServerBehaviourTest : public ::testing::Test {
 protected:
  // Starts a server on stories260K (context 2048, so that a long generation takes seconds);
  // `tweak` adjusts the options first. The model is loaded before this returns.
  void start(const std::function<void(ServerOptions&, std::vector<ExpertConfig>&)>& tweak = {}) {
    const auto dir = capibara::testing::shared_dir();
    if (!dir) GTEST_SKIP() << "shared test data not found: set CAPIBARA_SHARED";
    TearDown();
    ExpertConfig e;
    e.id = "stories";
    e.model_path = *dir / "models" / "stories260K.gguf";
    e.model = {2, 2048, 512};
    e.engine.scheduler = {16, 64, true};
    std::vector<ExpertConfig> experts = {e};
    ServerOptions o;
    o.port = 0;
    o.http_threads = 16;
    o.log_format = std::getenv("CAPIBARA_TEST_ACCESS_LOG") ? LogFormat::kText : LogFormat::kOff;
    if (tweak) tweak(o, experts);
    registry_ = std::make_unique<Registry>(experts);
    server_ = std::make_unique<HttpServer>(o, *registry_);
    server_->start();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(120, 0);
    registry_->start_loading();
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (!registry_->ready() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(registry_->ready());
  }
  void TearDown() override {
    client_.reset();
    server_.reset();
    registry_.reset();
  }
  Json stats() {
    auto r = client_->Get("/stats");
    return r ? Json::parse(r->body)["models"][0] : Json();
  }
  // Polls /stats until `done` holds for the first model's entry (or 60 s pass).
  Json wait_stats(const std::function<bool(const Json&)>& done) {
    Json s;
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < deadline) {
      s = stats();
      if (done(s)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return s;
  }

  std::unique_ptr<Registry> registry_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

// A request that runs past the time limit gets a 504 and its sequence is cancelled; it does
// not wait for the generation to end. max_tokens 2000 takes seconds on stories260K, the limit
// is 50 ms.
TEST_F(HttpServerBehaviourTest, ARequestPastTheTimeoutGets504AndIsCancelled) {
  start([](ServerOptions& o, std::vector<ExpertConfig>&) { o.request_timeout_s = 0.05; });
  const auto t0 = Clock::now();
  auto r =
      client_->Post("/v1/completions", R"({"model":"stories","prompt":"Once","max_tokens":2000})",
                    "application/json");
  const double elapsed_s = std::chrono::duration<double>(Clock::now() - t0).count();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504) << r->body;
  const Json error = Json::parse(r->body)["error"];
  EXPECT_EQ(error["type"], "timeout_error");
  EXPECT_TRUE(error["message"].is_string());
  // The engine updates these counters one after the other: wait for all of them.
  const Json s = wait_stats([](const Json& j) {
    return j.contains("requests") && j["requests"]["cancelled"] == 1 &&
           j["requests"]["running"] == 0 && j["kv_cache"]["used_tokens"] == 0;
  });
  EXPECT_EQ(s["requests"]["cancelled"], 1);
  EXPECT_EQ(s["requests"]["running"], 0);
  EXPECT_EQ(s["kv_cache"]["used_tokens"], 0);
  EXPECT_LT(s["tokens"]["generated"].get<int>(), 2000);
  // Generous for a loaded CI machine under sanitizers; the generation alone takes far longer.
  EXPECT_LT(elapsed_s, 30.0);
}

// Once a stream has started the status is sent, so the timeout arrives as an error event,
// followed by `[DONE]` and no finish_reason.
TEST_F(HttpServerBehaviourTest, AStreamPastTheTimeoutEndsWithATimeoutErrorEvent) {
  start([](ServerOptions& o, std::vector<ExpertConfig>&) { o.request_timeout_s = 0.05; });
  auto r = client_->Post(
      "/v1/chat/completions",
      R"({"model":"stories","messages":[{"role":"user","content":"Once"}],"max_tokens":2000,)"
      R"("stream":true})",
      "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const auto events = sse_events(r->body);
  ASSERT_GE(events.size(), 3u) << r->body;
  EXPECT_EQ(Json::parse(events.front())["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(events.back(), "[DONE]");
  const Json error = Json::parse(events[events.size() - 2]);
  ASSERT_TRUE(error.contains("error")) << error;
  EXPECT_EQ(error["error"]["type"], "timeout_error");
  for (size_t i = 0; i + 2 < events.size(); ++i) {
    EXPECT_TRUE(Json::parse(events[i])["choices"][0]["finish_reason"].is_null()) << events[i];
  }
  const Json s = wait_stats(
      [](const Json& j) { return j.contains("requests") && j["requests"]["cancelled"] == 1; });
  EXPECT_EQ(s["requests"]["cancelled"], 1);
}

// The same request under the default limit completes: the 504s above come from the limit.
TEST_F(HttpServerBehaviourTest, ARequestWithinTheTimeoutCompletes) {
  start([](ServerOptions& o, std::vector<ExpertConfig>&) { o.request_timeout_s = 600; });
  auto r =
      client_->Post("/v1/completions", R"({"model":"stories","prompt":"Once","max_tokens":50})",
                    "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Json::parse(r->body)["usage"]["completion_tokens"], 50);
}

// With keys set, a request without any key is refused like one with a wrong key; health and
// metrics stay open for probes and scrapers.
TEST_F(HttpServerBehaviourTest, AMissingApiKeyIs401) {
  start([](ServerOptions& o, std::vector<ExpertConfig>&) { o.api_keys = {"k1", "k2"}; });
  const std::string completion = R"({"model":"stories","prompt":"Once","max_tokens":2})";
  struct Probe {
    const char* what;
    httplib::Headers headers;
  };
  const std::vector<Probe> refused = {
      {"no Authorization header", {}},
      {"empty Authorization header", {{"Authorization", ""}}},
      {"Bearer without a key", {{"Authorization", "Bearer "}}},
      {"another scheme", {{"Authorization", "Basic k1"}}},
      {"the key without Bearer", {{"Authorization", "k1"}}},
  };
  for (const auto& p : refused) {
    for (const auto& [method, path] :
         std::vector<std::pair<std::string, std::string>>{{"GET", "/v1/models"},
                                                          {"GET", "/v1/models/stories"},
                                                          {"GET", "/stats"},
                                                          {"POST", "/v1/completions"},
                                                          {"POST", "/v1/chat/completions"}}) {
      auto r = method == "GET" ? client_->Get(path, p.headers)
                               : client_->Post(path, p.headers, completion, "application/json");
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 401) << p.what << ": " << method << " " << path << " -> " << r->body;
      const Json error = Json::parse(r->body)["error"];
      EXPECT_EQ(error["type"], "authentication_error") << p.what;
      EXPECT_EQ(error["code"], "invalid_api_key") << p.what;
    }
  }
  EXPECT_EQ(status_of(client_->Get("/health")), 200);
  EXPECT_EQ(status_of(client_->Get("/metrics")), 200);
  for (const char* key : {"k1", "k2"}) {
    const httplib::Headers auth = {{"Authorization", std::string("Bearer ") + key}};
    EXPECT_EQ(status_of(client_->Get("/v1/models", auth)), 200) << key;
    EXPECT_EQ(status_of(client_->Post("/v1/completions", auth, completion, "application/json")),
              200)
        << key;
  }
}

// True streaming: the first token reaches the client while the engine is still generating the
// sequence (a server that buffered the response would only send it once the sequence is done),
// in another read than `[DONE]`.
TEST_F(HttpServerBehaviourTest, TheFirstChunkArrivesWhileTheSequenceIsStillGenerating) {
  start();
  constexpr int kMaxTokens = 500;  // a fraction of a second here, seconds under TSan
  httplib::Client stats_client("127.0.0.1", server_->port());
  stats_client.set_read_timeout(60, 0);
  std::string buffer;
  int reads = 0;
  int first_token_read = -1;
  int done_read = -1;
  Json stats_at_first_token;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = Json{
      {"model", "stories"},
      {"prompt", "Once"},
      {"max_tokens", kMaxTokens},
      {"temperature", 0},
      {"stream",
       true}}.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    ++reads;
    buffer.append(data, n);
    if (first_token_read < 0 && buffer.find("\"text\"") != std::string::npos) {
      first_token_read = reads;
      auto s = stats_client.Get("/stats");
      if (s) stats_at_first_token = Json::parse(s->body)["models"][0];
    }
    if (done_read < 0 && buffer.find("data: [DONE]") != std::string::npos) done_read = reads;
    return true;
  };
  auto r = client_->send(req);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  ASSERT_GT(first_token_read, 0) << buffer.substr(0, 500);
  ASSERT_GT(done_read, 0) << buffer.substr(buffer.size() > 500 ? buffer.size() - 500 : 0);
  EXPECT_LT(first_token_read, done_read);
  ASSERT_TRUE(stats_at_first_token.is_object());
  EXPECT_EQ(stats_at_first_token["requests"]["finished"], 0) << stats_at_first_token;
  EXPECT_EQ(stats_at_first_token["requests"]["running"], 1) << stats_at_first_token;
  EXPECT_LT(stats_at_first_token["tokens"]["generated"].get<int>(), kMaxTokens);
  // And the whole stream did arrive.
  const auto events = sse_events(buffer);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(Json::parse(events[events.size() - 2])["choices"][0]["finish_reason"], "length");
}

// An unknown model id gets a 404 whose message lists the models there are, as the completion
// routes' 404 does.
TEST_F(HttpServerBehaviourTest, AnUnknownModelIdIs404ListingTheAvailableModels) {
  start([](ServerOptions&, std::vector<ExpertConfig>& experts) {
    ExpertConfig second = experts[0];
    second.id = "tales";
    second.aliases = {"bedtime"};
    experts.push_back(second);
  });
  auto r = client_->Get("/v1/models/nope");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  const Json error = Json::parse(r->body)["error"];
  EXPECT_EQ(error["code"], "model_not_found");
  EXPECT_EQ(error["param"], "model");
  const std::string message = error["message"];
  auto completion =
      client_->Post("/v1/completions", R"({"model":"nope","prompt":"x"})", "application/json");
  ASSERT_TRUE(completion);
  EXPECT_EQ(completion->status, 404);
  const std::string completion_message = Json::parse(completion->body)["error"]["message"];
  for (const std::string& m : {message, completion_message}) {
    EXPECT_NE(m.find("'nope'"), std::string::npos) << m;
    EXPECT_NE(m.find("available"), std::string::npos) << m;
    EXPECT_NE(m.find("stories"), std::string::npos) << m;
    EXPECT_NE(m.find("tales"), std::string::npos) << m;
  }
  // Ids and aliases still resolve.
  EXPECT_EQ(Json::parse(body_of(client_->Get("/v1/models/tales")))["id"], "tales");
  EXPECT_EQ(Json::parse(body_of(client_->Get("/v1/models/bedtime")))["id"], "tales");
}

// `prompt` as an array of strings gives one choice per prompt (in order), `echo` puts each
// prompt before its completion, and `logprobs` describes the generated tokens.
TEST_F(HttpServerBehaviourTest, CompletionsWithSeveralPromptsEchoAndLogprobs) {
  start();
  const std::vector<std::string> prompts = {"Once upon a time", "The dog"};
  constexpr int kTokens = 6;
  constexpr int kTop = 3;
  auto post = [&](const Json& body) {
    auto r = client_->Post("/v1/completions", body.dump(), "application/json");
    if (!r) {
      ADD_FAILURE() << "no response to " << body;
      return Json::object();
    }
    EXPECT_EQ(r->status, 200) << r->body;
    return Json::parse(r->body);
  };
  std::vector<std::string> alone;
  int64_t prompt_tokens = 0;
  for (const auto& p : prompts) {
    const Json a =
        post({{"model", "stories"}, {"prompt", p}, {"max_tokens", kTokens}, {"temperature", 0}});
    alone.push_back(a["choices"][0]["text"]);
    prompt_tokens += a["usage"]["prompt_tokens"].get<int64_t>();
  }
  const Json r = post({{"model", "stories"},
                       {"prompt", prompts},
                       {"max_tokens", kTokens},
                       {"temperature", 0},
                       {"echo", true},
                       {"logprobs", kTop}});
  EXPECT_EQ(r["object"], "text_completion");
  ASSERT_EQ(r["choices"].size(), prompts.size()) << r;
  EXPECT_EQ(r["usage"]["prompt_tokens"], prompt_tokens);
  EXPECT_EQ(r["usage"]["completion_tokens"], kTokens * static_cast<int>(prompts.size()));
  for (size_t i = 0; i < prompts.size(); ++i) {
    const Json& c = r["choices"][i];
    EXPECT_EQ(c["index"], i);
    EXPECT_EQ(c["finish_reason"], "length");
    EXPECT_EQ(c["text"], prompts[i] + alone[i]) << "echo puts the prompt first";
    const Json& lp = c["logprobs"];
    ASSERT_TRUE(lp.is_object()) << c;
    ASSERT_EQ(lp["tokens"].size(), static_cast<size_t>(kTokens)) << lp;
    ASSERT_EQ(lp["token_logprobs"].size(), static_cast<size_t>(kTokens));
    ASSERT_EQ(lp["top_logprobs"].size(), static_cast<size_t>(kTokens));
    ASSERT_EQ(lp["text_offset"].size(), static_cast<size_t>(kTokens));
    std::string joined;
    for (int t = 0; t < kTokens; ++t) {
      const std::string token = lp["tokens"][t];
      const double logprob = lp["token_logprobs"][t];
      EXPECT_LE(logprob, 0.0);
      // Offsets index the returned text, which starts with the echoed prompt.
      EXPECT_EQ(lp["text_offset"][t], prompts[i].size() + joined.size());
      const Json& top = lp["top_logprobs"][t];
      ASSERT_TRUE(top.is_object());
      EXPECT_GE(top.size(), 1u);
      EXPECT_LE(top.size(), static_cast<size_t>(kTop));
      // Greedy picks the most likely token, so it is among the top ones with its logprob.
      ASSERT_TRUE(top.contains(token)) << top << " lacks " << token;
      EXPECT_DOUBLE_EQ(top[token].get<double>(), logprob);
      for (const auto& [_, v] : top.items()) EXPECT_LE(v.get<double>(), logprob + 1e-6);
      joined += token;
    }
    EXPECT_EQ(joined, alone[i]);
  }
}

}  // namespace
}  // namespace capibara::server
