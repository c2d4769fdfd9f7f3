// The HTTP server in-process with a real model: raw SSE framing, error JSON, health while
// loading, concurrency. (The openai-client tests in tests/e2e cover the client's view.)
#include <httplib.h>

#include <chrono>
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
  void SetUp() override {
    const auto dir = capibara::testing::shared_dir();
    if (!dir) GTEST_SKIP() << "shared test data not found: set CAPIBARA_SHARED";
    ExpertConfig e;
    e.id = "stories";
    e.model_path = *dir / "models" / "stories260K.gguf";
    e.model = {2, 512, 512};
    e.engine.scheduler = {4, 64, true};
    registry_ = std::make_unique<Registry>(std::vector<ExpertConfig>{e});
    ServerOptions o;
    o.port = 0;
    o.http_threads = 8;
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

}  // namespace
}  // namespace capibara::server
