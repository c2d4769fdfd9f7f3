// Many experts behind one HTTP server: `/v1/models` states, admin load / unload, API keys, the
// memory guard's 503s, and the load counters of `/stats` and `/metrics`, over real HTTP.
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "registry/memory_estimate.hpp"
#include "registry/registry.hpp"
#include "server/http_server.hpp"
#include "support/shared_data.hpp"

namespace capibara::server {
namespace {

using Json = nlohmann::json;

struct ExpertSpec {
  const char* id;
  const char* file;
  const char* domain;
  int priority;
};
// Five experts over the shared models, as in the original deployment; `stories` has the highest
// priority, so a warm-up pool of one loads it.
constexpr ExpertSpec kExperts[] = {
    {"stories", "stories260K.gguf", "stories", 5},
    {"qwen", "synth-qwen2-f32.gguf", "code", 4},
    {"phi", "synth-phi3-f32.gguf", "reasoning", 3},
    {"gemma", "synth-gemma3-f32.gguf", "multimodal", 2},
    {"aya", "synth-command-r-f32.gguf", "multilingual", 1},
};
constexpr int64_t kLimitBytes = int64_t{1} << 30;  // memory_limit_bytes of most tests
constexpr int64_t kBudgetBytes = kLimitBytes / 2;  // × memory_threshold 0.5

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// `name{labels}`'s value in Prometheus text, or -1 when the sample is missing.
double metric(const std::string& text, const std::string& sample) {
  const size_t at = text.find("\n" + sample + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + sample.size() + 2));
}

class ExpertAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto dir = capibara::testing::shared_dir();
    if (!dir) GTEST_SKIP() << "shared test data not found: set CAPIBARA_SHARED";
    for (const auto& spec : kExperts) {
      ExpertConfig e;
      e.id = spec.id;
      e.model_path = *dir / "models" / spec.file;
      e.domain = spec.domain;
      e.priority = spec.priority;
      e.model = {1, 256, 64};
      e.engine.scheduler = {2, 64, true};
      configs_.push_back(e);
    }
    // Lazy, `stories` warm, and a fixed budget so that nothing depends on the machine's RAM
    // (with `memory_limit_bytes` set, the hard limit compares our RSS to it: never reached).
    policy_.lazy = true;
    policy_.warmup_pool_size = 1;
    policy_.memory_limit_bytes = kLimitBytes;
    policy_.memory_threshold = 0.5;
    policy_.memory_hard_limit = 1e9;
    policy_.load_wait_s = 30;
  }
  void start(Registry::Loader loader = load_served_model,
             Registry::MemoryProbe probe = read_memory_info) {
    registry_ = std::make_unique<Registry>(configs_, policy_, loader, probe);
    options_.port = 0;
    options_.http_threads = 8;
    options_.log_format = LogFormat::kOff;
    server_ = std::make_unique<HttpServer>(options_, *registry_);
    server_->start();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(60, 0);
    registry_->start_loading();
    for (int i = 0; i < 3000 && !registry_->ready(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(registry_->ready());
  }
  void TearDown() override {
    client_.reset();
    server_.reset();
    registry_.reset();
  }

  MemoryEstimate estimate_of(std::string_view id) const {
    for (const auto& c : configs_) {
      if (c.id == id) return estimate_expert_memory(c);
    }
    ADD_FAILURE() << "no expert " << id;
    return {};
  }
  int64_t estimate(std::string_view id) const { return estimate_of(id).total(); }
  httplib::Headers auth(const std::string& key) const {
    if (key.empty()) return {};
    return {{"Authorization", "Bearer " + key}};
  }
  httplib::Result complete(const std::string& model, const std::string& key = "") {
    const Json body = {{"model", model}, {"prompt", "Once"}, {"max_tokens", 2}};
    return client_->Post("/v1/completions", auth(key), body.dump(), "application/json");
  }
  // POST /admin/experts/{id}/{action} with an empty body.
  httplib::Result admin(const std::string& id, const std::string& action,
                        const std::string& key = "") {
    return client_->Post("/admin/experts/" + id + "/" + action, auth(key), "", "application/json");
  }
  // id → the `capibara` block of each `/v1/models` entry.
  std::map<std::string, Json> models(const std::string& key = "") {
    auto r = client_->Get("/v1/models", auth(key));
    std::map<std::string, Json> out;
    if (!r || r->status != 200) {
      ADD_FAILURE() << "/v1/models failed";
      return out;
    }
    const Json list = Json::parse(r->body);  // named: the loop must not range over a temporary
    for (const auto& m : list["data"]) out[m["id"]] = m["capibara"];
    return out;
  }
  std::string state(const std::string& id) {
    const Json m = models()[id];
    return m.is_object() ? m.value("state", "?") : "?";
  }
  // The error object of a response, after checking its status and OpenAI shape.
  static Json error_of(const httplib::Result& r, int status) {
    if (!r) {
      ADD_FAILURE() << "no response: " << httplib::to_string(r.error());
      return {};
    }
    EXPECT_EQ(r->status, status) << r->body;
    const Json j = Json::parse(r->body, nullptr, /*allow_exceptions=*/false);
    if (!j.contains("error")) {
      ADD_FAILURE() << "not an OpenAI error: " << r->body;
      return {};
    }
    EXPECT_TRUE(j["error"]["message"].is_string()) << r->body;
    EXPECT_TRUE(j["error"]["type"].is_string()) << r->body;
    return j["error"];
  }

  std::vector<ExpertConfig> configs_;
  RegistryPolicy policy_;
  ServerOptions options_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ExpertAdminTest, ModelsListEveryExpertAndALazyFirstRequestLoadsIt) {
  start();
  auto r = client_->Get("/v1/models");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  const Json list = Json::parse(r->body);
  EXPECT_EQ(list["object"], "list");
  ASSERT_EQ(list["data"].size(), std::size(kExperts));
  for (size_t i = 0; i < std::size(kExperts); ++i) {
    const Json& m = list["data"][i];
    EXPECT_EQ(m["id"], kExperts[i].id);
    EXPECT_EQ(m["object"], "model");
    EXPECT_EQ(m["capibara"]["domain"], kExperts[i].domain);
    EXPECT_EQ(m["capibara"]["state"], i == 0 ? "loaded" : "unloaded") << kExperts[i].id;
    EXPECT_EQ(m["capibara"]["estimated_memory_bytes"], estimate(kExperts[i].id));
  }
  auto c = complete("phi");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, 200) << c->body;
  const auto after = models();
  EXPECT_EQ(after.at("phi")["state"], "loaded");
  EXPECT_EQ(after.at("stories")["state"], "loaded");
  EXPECT_EQ(after.at("qwen")["state"], "unloaded");
}

TEST_F(ExpertAdminTest, ModelsShowLoadingWhileAnExpertLoads) {
  std::promise<void> gate;
  std::shared_future<void> opened = gate.get_future().share();
  start([opened](const ExpertConfig& c) {
    if (c.id == "gemma") opened.wait();
    return load_served_model(c);
  });
  int status = 0;
  std::thread loader([&] {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(60, 0);
    auto r = c.Post("/admin/experts/gemma/load", "", "application/json");
    status = r ? r->status : -1;
  });
  std::string seen;
  for (int i = 0; i < 1000 && (seen = state("gemma")) != "loading"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(seen, "loading");
  gate.set_value();
  loader.join();
  EXPECT_EQ(status, 200);
  EXPECT_EQ(state("gemma"), "loaded");
}

TEST_F(ExpertAdminTest, AdminLoadAndUnloadChangeTheState) {
  start();
  auto r = admin("aya", "load");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Json::parse(r->body)["id"], "aya");
  EXPECT_EQ(Json::parse(r->body)["capibara"]["state"], "loaded");
  EXPECT_EQ(state("aya"), "loaded");
  EXPECT_EQ(admin("aya", "load")->status, 200);  // loading a loaded expert is a no-op
  r = admin("aya", "unload");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Json::parse(r->body)["capibara"]["state"], "unloaded");
  EXPECT_EQ(state("aya"), "unloaded");
  EXPECT_EQ(registry_->status()[4].load_count, 1);
  EXPECT_EQ(registry_->status()[4].unload_count, 1);
  for (const char* action : {"load", "unload"}) {
    const Json e = error_of(admin("nope", action), 404);
    EXPECT_EQ(e["type"], "invalid_request_error");
    EXPECT_EQ(e["code"], "model_not_found");
    EXPECT_NE(e["message"].get<std::string>().find("'nope'"), std::string::npos);
  }
}

TEST_F(ExpertAdminTest, AdminNeedsTheApiKeyWhenKeysAreSet) {
  options_.api_keys = {"sesame"};
  start();
  for (const std::string key : {"", "wrong"}) {
    const Json e = error_of(admin("qwen", "load", key), 401);
    EXPECT_EQ(e["type"], "authentication_error");
    EXPECT_EQ(e["code"], "invalid_api_key");
    EXPECT_EQ(error_of(admin("stories", "unload", key), 401)["code"], "invalid_api_key");
  }
  EXPECT_EQ(registry_->status()[1].state, ExpertState::kUnloaded);  // refused means not done
  EXPECT_EQ(registry_->status()[0].state, ExpertState::kLoaded);
  EXPECT_EQ(admin("qwen", "load", "sesame")->status, 200);
  EXPECT_EQ(models("sesame")["qwen"]["state"], "loaded");
  EXPECT_EQ(admin("qwen", "unload", "sesame")->status, 200);
  EXPECT_EQ(models("sesame")["qwen"]["state"], "unloaded");
}

// A lease from `acquire` is what a running request holds: the expert must not go under it.
TEST_F(ExpertAdminTest, UnloadingAnExpertWithARequestInFlightIs409) {
  start();
  auto lease = registry_->acquire("qwen");
  const Json e = error_of(admin("qwen", "unload"), 409);
  EXPECT_EQ(e["code"], "model_busy");
  EXPECT_NE(e["message"].get<std::string>().find("1 request(s) in flight"), std::string::npos);
  EXPECT_EQ(state("qwen"), "loaded");
  EXPECT_EQ(complete("qwen")->status, 200);  // still serving
  lease.reset();
  EXPECT_EQ(admin("qwen", "unload")->status, 200);
  EXPECT_EQ(state("qwen"), "unloaded");
}

TEST_F(ExpertAdminTest, AnExpertThatCannotFitIs503AndTheOthersStillServe) {
  // The budget lies between the smallest and the largest expert's estimate.
  std::string big = kExperts[0].id;
  for (const auto& spec : kExperts) {
    if (estimate(spec.id) > estimate(big)) big = spec.id;
  }
  const int64_t small = estimate("stories");
  ASSERT_LT(small, estimate(big));
  const int64_t budget = small + (estimate(big) - small) / 2;
  policy_.memory_limit_bytes = 2 * budget;
  start();
  for (const auto& r : {complete(big), admin(big, "load")}) {
    ASSERT_TRUE(r);
    const Json e = error_of(r, 503);
    EXPECT_EQ(e["type"], "service_unavailable_error");
    EXPECT_EQ(e["code"], "insufficient_memory");
    EXPECT_EQ(e["param"], "model");
    const std::string message = e["message"];
    const std::string need = estimate_of(big).describe();
    EXPECT_NE(message.find("'" + big + "' needs " + need), std::string::npos) << message;
    EXPECT_NE(message.find("budget is " + format_bytes(budget)), std::string::npos) << message;
    EXPECT_EQ(r->get_header_value("Retry-After"), "5");
  }
  EXPECT_NE(models()[big]["error"].get<std::string>().find("needs"), std::string::npos);
  EXPECT_EQ(state(big), "unloaded");
  auto ok = complete("stories");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
}

TEST_F(ExpertAdminTest, MemoryPressureRefusesRequestsButHealthAnswers) {
  policy_.memory_limit_bytes = 0;  // the probe's numbers count
  policy_.memory_hard_limit = 0.9;
  policy_.warmup_pool_size = 0;
  auto pressure = std::make_shared<std::atomic<bool>>(false);
  start(load_served_model, [pressure] {
    MemoryInfo info = read_memory_info();
    if (pressure->load()) info.available_bytes = info.total_bytes / 50;  // 98 % in use
    return info;
  });
  EXPECT_EQ(complete("stories")->status, 200);
  *pressure = true;
  auto r = complete("stories");
  ASSERT_TRUE(r);
  const Json e = error_of(r, 503);
  EXPECT_EQ(e["code"], "memory_pressure");
  EXPECT_EQ(e["type"], "service_unavailable_error");
  EXPECT_NE(e["message"].get<std::string>().find("98 %"), std::string::npos) << e["message"];
  EXPECT_EQ(r->get_header_value("Retry-After"), "5");
  auto health = client_->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(models().size(), std::size(kExperts));
  *pressure = false;
  EXPECT_EQ(complete("stories")->status, 200);
}

TEST_F(ExpertAdminTest, StatsAndMetricsCountLoadsAndUnloads) {
  start();
  const int64_t t0 = unix_now();
  ASSERT_EQ(complete("stories")->status, 200);
  ASSERT_EQ(admin("qwen", "load")->status, 200);
  Json stats = Json::parse(client_->Get("/stats")->body);
  EXPECT_EQ(stats["memory_guard"]["reserved_bytes"], estimate("stories") + estimate("qwen"));
  ASSERT_EQ(admin("qwen", "unload")->status, 200);
  const int64_t t1 = unix_now();

  stats = Json::parse(client_->Get("/stats")->body);
  const Json& guard = stats["memory_guard"];
  EXPECT_EQ(guard["budget_bytes"], kBudgetBytes);
  EXPECT_EQ(guard["total_bytes"], kLimitBytes);
  EXPECT_EQ(guard["reserved_bytes"], estimate("stories"));
  EXPECT_EQ(guard["hard_limit_fraction"], 1e9);
  std::map<std::string, Json> by_id;
  for (const auto& m : stats["models"]) by_id[m["id"]] = m;
  ASSERT_EQ(by_id.size(), std::size(kExperts));
  const Json& qwen = by_id["qwen"];
  EXPECT_EQ(qwen["state"], "unloaded");
  EXPECT_EQ(qwen["domain"], "code");
  EXPECT_EQ(qwen["load_count"], 1);
  EXPECT_EQ(qwen["unload_count"], 1);
  EXPECT_GT(qwen["last_load_seconds"].get<double>(), 0.0);
  EXPECT_GE(qwen["last_load_unix"].get<int64_t>(), t0);
  EXPECT_LE(qwen["last_load_unix"].get<int64_t>(), t1);
  EXPECT_EQ(qwen["estimated_memory_bytes"], estimate("qwen"));
  const Json& stories = by_id["stories"];
  EXPECT_EQ(stories["state"], "loaded");
  EXPECT_EQ(stories["load_count"], 1);
  EXPECT_EQ(stories["unload_count"], 0);
  EXPECT_GE(stories["last_used_unix"].get<int64_t>(), t0);
  EXPECT_LE(stories["last_used_unix"].get<int64_t>(), t1);
  EXPECT_EQ(stories["requests"]["total"], 1);
  EXPECT_EQ(by_id["phi"]["load_count"], 0);
  EXPECT_EQ(by_id["phi"]["last_used_unix"], 0);

  auto r = client_->Get("/metrics");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  const std::string& text = r->body;
  EXPECT_EQ(metric(text, R"(capibara_model_loads_total{model="qwen"})"), 1);
  EXPECT_EQ(metric(text, R"(capibara_model_unloads_total{model="qwen"})"), 1);
  EXPECT_EQ(metric(text, R"(capibara_model_loads_total{model="stories"})"), 1);
  EXPECT_EQ(metric(text, R"(capibara_model_unloads_total{model="stories"})"), 0);
  EXPECT_EQ(metric(text, R"(capibara_model_loads_total{model="phi"})"), 0);
  EXPECT_EQ(metric(text, R"(capibara_model_loaded{model="qwen",state="unloaded"})"), 0);
  EXPECT_EQ(metric(text, "capibara_memory_budget_bytes"), static_cast<double>(kBudgetBytes));
  EXPECT_EQ(metric(text, "capibara_memory_reserved_bytes"),
            static_cast<double>(estimate("stories")));
}

}  // namespace
}  // namespace capibara::server
