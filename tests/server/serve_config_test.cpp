// The `capibara serve --config` format: every key to its field, vLLM keys warned about by name,
// every problem reported at once with its JSON path, and the shipped files in configs/.
#include "server/serve_config.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/shared_data.hpp"

namespace capibara::server {
namespace {

namespace fs = std::filesystem;

// The repository's configs/ folder, found from this file's path (CMake compiles it by its
// absolute path); empty when that does not lead to it.
fs::path configs_dir() {
  const fs::path dir = fs::path(__FILE__).parent_path().parent_path().parent_path() / "configs";
  std::error_code ec;
  return fs::is_directory(dir, ec) ? dir : fs::path();
}

// A fresh folder per test, removed with the fixture.
class ServeConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) / ("serve_config_" + std::to_string(::getpid()) + "_" +
                                             std::to_string(counter++) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Writes `text` to `relative` under the test's folder (creating folders) and returns its path.
  fs::path write(const fs::path& relative, const std::string& text = "") const {
    const fs::path path = dir_ / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  // Parses `text` as if it were `dir_/serve.json`; fails the test on a ConfigError.
  ServeConfig parse(const std::string& text) const {
    try {
      return parse_serve_config(text, dir_, "serve.json");
    } catch (const ConfigError& e) {
      ADD_FAILURE() << e.what();
      return {};
    }
  }

  // The problems `text` is rejected with; fails the test when it is accepted.
  std::vector<std::string> problems(const std::string& text) const {
    try {
      parse_serve_config(text, dir_, "serve.json");
    } catch (const ConfigError& e) {
      return e.problems();
    }
    ADD_FAILURE() << "accepted:\n" << text;
    return {};
  }

  fs::path dir_;
};

// Whether one of `lines` contains `fragment`.
bool mentions(const std::vector<std::string>& lines, const std::string& fragment) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.find(fragment) != std::string::npos; });
}

std::string joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += "  " + l + "\n";
  return s;
}

TEST_F(ServeConfigTest, FullConfigMapsEveryKey) {
  write("models/a.gguf");
  const fs::path b = write("elsewhere/b.gguf");
  write("models/c.gguf");
  write("templates/chat.jinja", "{% for m in messages %}{{ m.content }}{% endfor %}");
  const ServeConfig c = parse(R"({
    "server": {"host": "0.0.0.0", "port": 9001, "api_keys": ["k1", "k2"], "api_key": "k3",
               "http_threads": 12, "max_body_bytes": 1048576, "max_tokens_per_request": 256,
               "request_timeout_s": 30.5, "shutdown_grace_s": 2.5, "log_format": "json"},
    "experts": [
      {"expert_id": "alpha", "model_path": "models/a.gguf", "domain": "coding", "priority": 7,
       "description": "the first", "aliases": ["a1", "a2"], "chat_template": "{{ x }}",
       "max_num_seqs": 3, "max_num_batched_tokens": 96, "max_model_len": 1024,
       "kv_cache_dtype": "bf16", "enable_chunked_prefill": false, "enable_prefix_caching": false,
       "max_queued_requests": 5, "threads": 2},
      {"expert_id": "beta", "model_path": ")" +
                              b.string() + R"(", "aliases": "b1",
       "chat_template_file": "templates/chat.jinja", "kv_cache_dtype": "auto"},
      {"expert_id": "gamma", "model_path": "models/c.gguf", "kv_cache_dtype": "FP32",
       "priority": -2}
    ],
    "lazy_loading": {"enabled": true, "warmup_pool_size": 1, "max_loaded_experts": 2,
                     "memory_threshold": 0.75, "auto_unload_after_s": 120,
                     "load_timeout_s": 45},
    "memory": {"limit_bytes": 8589934592, "hard_limit": 0.95}
  })");
  EXPECT_TRUE(c.warnings.empty()) << joined(c.warnings);

  EXPECT_EQ(c.server.host, "0.0.0.0");
  EXPECT_EQ(c.server.port, 9001);
  EXPECT_EQ(c.server.api_keys, (std::vector<std::string>{"k1", "k2", "k3"}));
  EXPECT_EQ(c.server.http_threads, 12);
  EXPECT_EQ(c.server.max_body_bytes, 1048576u);
  EXPECT_EQ(c.server.max_tokens_per_request, 256);
  EXPECT_DOUBLE_EQ(c.server.request_timeout_s, 30.5);
  EXPECT_DOUBLE_EQ(c.server.shutdown_grace_s, 2.5);
  EXPECT_EQ(c.server.log_format, LogFormat::kJson);

  ASSERT_EQ(c.experts.size(), 3u);
  const ExpertConfig& a = c.experts[0];
  EXPECT_EQ(a.id, "alpha");
  EXPECT_EQ(a.model_path, dir_ / "models" / "a.gguf");
  EXPECT_EQ(a.domain, "coding");
  EXPECT_EQ(a.priority, 7);
  EXPECT_EQ(a.description, "the first");
  EXPECT_EQ(a.aliases, (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(a.chat_template, "{{ x }}");
  EXPECT_EQ(a.engine.scheduler.max_num_seqs, 3);
  EXPECT_EQ(a.engine.scheduler.max_num_batched_tokens, 96);
  EXPECT_FALSE(a.engine.scheduler.enable_chunked_prefill);
  EXPECT_EQ(a.engine.max_model_len, 1024);
  EXPECT_EQ(a.model.n_ctx, 1024);  // the KV cache is sized by max_model_len too
  EXPECT_EQ(a.engine.kv_type, KvType::kBF16);
  EXPECT_EQ(a.engine.max_queued_requests, 5);
  EXPECT_EQ(a.model.n_threads, 2);

  // Defaults where the file says nothing; an absolute path is kept; "auto" is f16.
  const ExpertConfig& e = c.experts[1];
  EXPECT_EQ(e.id, "beta");
  EXPECT_EQ(e.model_path, b);
  EXPECT_EQ(e.aliases, (std::vector<std::string>{"b1"}));
  EXPECT_EQ(e.chat_template, "{% for m in messages %}{{ m.content }}{% endfor %}");
  EXPECT_EQ(e.domain, "general");
  EXPECT_EQ(e.priority, 0);
  EXPECT_EQ(e.engine.kv_type, KvType::kF16);
  const ExpertConfig defaults;
  EXPECT_EQ(e.engine.scheduler.max_num_seqs, defaults.engine.scheduler.max_num_seqs);
  EXPECT_EQ(e.engine.scheduler.max_num_batched_tokens,
            defaults.engine.scheduler.max_num_batched_tokens);
  EXPECT_TRUE(e.engine.scheduler.enable_chunked_prefill);
  EXPECT_EQ(e.engine.max_model_len, 0);
  EXPECT_EQ(e.model.n_ctx, 0);
  EXPECT_EQ(c.experts[2].engine.kv_type, KvType::kF32);
  EXPECT_EQ(c.experts[2].priority, -2);
  EXPECT_FALSE(c.experts[2].chat_template.has_value());

  EXPECT_TRUE(c.policy.lazy);
  EXPECT_EQ(c.policy.warmup_pool_size, 1);
  EXPECT_EQ(c.policy.max_loaded_experts, 2);
  EXPECT_DOUBLE_EQ(c.policy.memory_threshold, 0.75);
  ASSERT_TRUE(c.policy.auto_unload_after_s.has_value());
  EXPECT_DOUBLE_EQ(*c.policy.auto_unload_after_s, 120.0);
  EXPECT_DOUBLE_EQ(c.policy.load_wait_s, 45.0);
  EXPECT_EQ(c.policy.memory_limit_bytes, int64_t{8} << 30);
  EXPECT_DOUBLE_EQ(c.policy.memory_hard_limit, 0.95);
  EXPECT_TRUE(c.routing.is_null());
  EXPECT_TRUE(c.consensus.is_null());
}

TEST_F(ServeConfigTest, KvCacheTokensSizesThePoolAndTheEstimate) {
  write("models/a.gguf");
  const ServeConfig c = parse(R"({"experts": [
      {"expert_id": "a", "model_path": "models/a.gguf", "kv_cache_tokens": 4096,
       "kv_cache_dtype": "fp8", "enable_prefix_caching": true}]})");
  ASSERT_EQ(c.experts.size(), 1u);
  EXPECT_EQ(c.experts[0].engine.kv_cache_tokens, 4096);
  EXPECT_EQ(c.experts[0].engine.kv_type, KvType::kFp8);
  EXPECT_TRUE(c.experts[0].engine.scheduler.enable_prefix_caching);
  EXPECT_TRUE(c.warnings.empty()) << joined(c.warnings);
  const auto p = problems(R"({"experts": [
      {"expert_id": "a", "model_path": "models/a.gguf", "kv_cache_tokens": -1}]})");
  EXPECT_TRUE(mentions(p, "experts[0].kv_cache_tokens: expected an integer >= 0")) << joined(p);
}

TEST_F(ServeConfigTest, NullAutoUnloadTopLevelMemoryLimitAndDefaults) {
  write("m.gguf");
  write("n.gguf");
  const ServeConfig c = parse(R"({
    "experts": [{"expert_id": "m", "model_path": "m.gguf"},
                {"expert_id": "n", "model_path": "n.gguf"}],
    "lazy_loading": {"enabled": false, "max_loaded_experts": 1, "auto_unload_after_s": null},
    "memory_limit_bytes": 123456789
  })");
  const ServerOptions server_defaults;
  EXPECT_EQ(c.server.host, server_defaults.host);
  EXPECT_EQ(c.server.port, 8082);
  EXPECT_TRUE(c.server.api_keys.empty());
  EXPECT_EQ(c.server.log_format, LogFormat::kText);
  EXPECT_FALSE(c.policy.lazy);
  EXPECT_FALSE(c.policy.auto_unload_after_s.has_value());
  EXPECT_EQ(c.policy.memory_limit_bytes, 123456789);
  const RegistryPolicy policy_defaults;
  EXPECT_DOUBLE_EQ(c.policy.memory_threshold, policy_defaults.memory_threshold);
  EXPECT_DOUBLE_EQ(c.policy.memory_hard_limit, policy_defaults.memory_hard_limit);
  // Preloading two experts with room for one cannot keep both: said, not refused.
  EXPECT_TRUE(mentions(c.warnings, "lazy_loading.max_loaded_experts: 1 is fewer than the 2"))
      << joined(c.warnings);
}

TEST_F(ServeConfigTest, SeedStyleConfigLoadsAndWarnsAboutEachVllmKey) {
  write("models/phi-4-mini/phi-4-mini-Q4_K_M.gguf");
  write("models/phi-4-mini/tokenizer.json", "{}");
  write("models/qwen.gguf");
  // The shape of the original deployment's config.low_latency.json (seed 004).
  const fs::path path = write("config.low_latency.json", R"({
  // phi4_fast tuned for latency
  "experts": [
    {
      "expert_id": "phi4_fast",
      "model_path": "models/phi-4-mini",
      "domain": "general",
      "priority": 5,
      "quantization": "awq",
      "tensor_parallel_size": 1,
      "gpu_memory_utilization": 0.7,
      "max_num_seqs": 256,
      "enable_neon": true,
      "enable_chunked_prefill": false,
      "max_num_batched_tokens": 4096,
      "max_model_len": 4096,
      "enforce_eager": false,
      "kv_cache_dtype": "auto",
      "use_v2_block_manager": true,
      "enable_prefix_caching": true,
      "device": "cpu",
      "dtype": "float16",
      "use_captured_graph": true,
      "swap_space": 4,
      "cpu_offload_gb": 2,
      "num_scheduler_steps": 4
    },
    {"expert_id": "qwen_coder", "model_path": "models/qwen.gguf", "domain": "coding",
     "kv_cache_dtype": "fp8", "dtype": "bfloat16"}
  ],
  "lazy_loading": {
    "enabled": false,   // all preloaded
    "warmup_pool_size": 5,
    "max_loaded_experts": 5,
    "memory_threshold": 0.6,
    "auto_unload_after_s": null
  },
  "performance_tuning": {"swap_space": 16, "cpu_offload_gb": 4, "enforce_eager": false}
})");
  ServeConfig c;
  ASSERT_NO_THROW(c = load_serve_config(path));
  for (const char* key :
       {"quantization", "tensor_parallel_size", "gpu_memory_utilization", "enable_neon",
        "enforce_eager", "use_v2_block_manager", "device", "dtype", "use_captured_graph",
        "swap_space", "cpu_offload_gb", "num_scheduler_steps"}) {
    EXPECT_TRUE(mentions(c.warnings, std::string("experts[0].") + key +
                                         ": a vLLM setting with no effect in capibara; ignored"))
        << key << "\n"
        << joined(c.warnings);
  }
  EXPECT_TRUE(mentions(c.warnings, "experts[1].dtype: a vLLM setting")) << joined(c.warnings);
  EXPECT_TRUE(mentions(c.warnings, "performance_tuning: a vLLM setting")) << joined(c.warnings);
  // Prefix caching and the fp8 KV cache are capibara features: no warning, they take effect.
  EXPECT_FALSE(mentions(c.warnings, "enable_prefix_caching")) << joined(c.warnings);
  EXPECT_FALSE(mentions(c.warnings, "kv_cache_dtype")) << joined(c.warnings);
  EXPECT_FALSE(mentions(c.warnings, "unknown key")) << joined(c.warnings);
  EXPECT_EQ(c.warnings.size(), 14u) << joined(c.warnings);

  ASSERT_EQ(c.experts.size(), 2u);
  const ExpertConfig& phi = c.experts[0];
  EXPECT_EQ(phi.id, "phi4_fast");
  // A folder downloaded for vLLM that also holds one GGUF file resolves to it.
  EXPECT_EQ(phi.model_path, dir_ / "models/phi-4-mini/phi-4-mini-Q4_K_M.gguf");
  EXPECT_EQ(phi.priority, 5);
  EXPECT_EQ(phi.engine.scheduler.max_num_seqs, 256);
  EXPECT_EQ(phi.engine.scheduler.max_num_batched_tokens, 4096);
  EXPECT_FALSE(phi.engine.scheduler.enable_chunked_prefill);
  EXPECT_EQ(phi.engine.max_model_len, 4096);
  EXPECT_EQ(phi.engine.kv_type, KvType::kF16);
  EXPECT_TRUE(phi.engine.scheduler.enable_prefix_caching);
  EXPECT_EQ(c.experts[1].engine.kv_type, KvType::kFp8);
  EXPECT_FALSE(c.experts[1].engine.scheduler.enable_prefix_caching);
  EXPECT_FALSE(c.policy.lazy);
  EXPECT_EQ(c.policy.max_loaded_experts, 5);
  EXPECT_DOUBLE_EQ(c.policy.memory_threshold, 0.6);
  EXPECT_FALSE(c.policy.auto_unload_after_s.has_value());
}

TEST_F(ServeConfigTest, UnknownKeysAreWarnedAboutWithTheirPath) {
  write("m.gguf");
  const ServeConfig c = parse(R"({
    "server": {"port": 8082, "hots": "x"},
    "experts": [{"expert_id": "m", "model_path": "m.gguf", "max_num_seq": 4}],
    "lazy_loading": {"enable": true},
    "extra": 1,
    "routing": {"strategy": "semantic"}
  })");
  for (const char* fragment :
       {"server.hots: unknown key", "experts[0].max_num_seq: unknown key",
        "lazy_loading.enable: unknown key", "extra: unknown key", "routing: model \"auto\""}) {
    EXPECT_TRUE(mentions(c.warnings, fragment)) << fragment << "\n" << joined(c.warnings);
  }
  EXPECT_EQ(c.routing["strategy"], "semantic");
}

TEST_F(ServeConfigTest, ReportsEveryProblemAtOnceWithItsPath) {
  write("m.gguf");
  const auto p = problems(R"({
    "server": {"port": 70000, "log_format": "xml", "http_threads": 0},
    "experts": [
      {"model_path": "m.gguf"},
      {"expert_id": "b"},
      {"expert_id": "c", "model_path": "m.gguf", "max_num_seqs": 0},
      {"expert_id": "d", "model_path": "missing.gguf"},
      {"expert_id": "c", "model_path": "m.gguf"},
      {"expert_id": "e", "model_path": "m.gguf", "aliases": ["d"]},
      {"expert_id": "auto", "model_path": "m.gguf"},
      {"expert_id": "f", "model_path": "m.gguf", "aliases": ["consensus"]},
      {"expert_id": "g", "model_path": "m.gguf", "kv_cache_dtype": "int3", "priority": "high",
       "enable_chunked_prefill": "yes", "max_model_len": 4.5},
      {"expert_id": "has space", "model_path": 7},
      {"expert_id": "h", "model_path": "m.gguf", "max_num_seqs": 4294967297},
      "not an expert"
    ],
    "lazy_loading": {"memory_threshold": 1.5, "auto_unload_after_s": 0,
                     "max_loaded_experts": 0, "warmup_pool_size": -1},
    "memory": {"hard_limit": 0}
  })");
  const std::vector<std::string> expected = {
      "server.port: expected a port number 0..65535 (got 70000)",
      "server.log_format: expected text, json or off (got \"xml\")",
      "server.http_threads: expected a positive integer (got 0)",
      "lazy_loading.warmup_pool_size: expected an integer >= 0 (got -1)",
      "lazy_loading.max_loaded_experts: expected a positive integer",
      "lazy_loading.memory_threshold: expected a fraction of RAM in (0, 1] (got 1.5)",
      "lazy_loading.auto_unload_after_s: expected a number of seconds > 0",
      "memory.hard_limit: expected a fraction of memory in (0, 1] (got 0)",
      "experts[0].expert_id: required",
      "experts[1].model_path: required",
      "experts[2].max_num_seqs: expected a positive integer (got 0)",
      "experts[3].model_path: no such file: '" + (dir_ / "missing.gguf").string() + "'",
      "experts[4]: the name \"c\" is already used by experts[2]",
      "experts[5]: the name \"d\" is already used by experts[3]",
      "experts[6].expert_id: \"auto\" is reserved for orchestration",
      "experts[7].aliases: \"consensus\" is reserved for orchestration",
      "experts[8].kv_cache_dtype: expected auto, f16, bf16, f32 or fp8 (got \"int3\")",
      "experts[8].priority: expected an integer (got \"high\")",
      "experts[8].enable_chunked_prefill: expected true or false (got \"yes\")",
      "experts[8].max_model_len: expected a positive integer (got 4.5)",
      "experts[9].expert_id: \"has space\" must be letters, digits",
      "experts[9].model_path: expected a string (got 7)",
      "experts[10].max_num_seqs: expected a positive integer no larger than 2147483647",
      "experts[11]: expected an object",
  };
  for (const auto& fragment : expected) {
    EXPECT_TRUE(mentions(p, fragment)) << "missing: " << fragment << "\ngot:\n" << joined(p);
  }
  // Nothing else, and one problem reported once (a wrongly typed model_path is not also
  // "required").
  EXPECT_EQ(p.size(), expected.size()) << joined(p);
}

TEST_F(ServeConfigTest, MessageCountsProblemsAndNamesTheFile) {
  const fs::path path = write("bad.json", R"({"experts": {"a": 1}, "server": {"log_format": 1}})");
  try {
    load_serve_config(path);
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what, path.string() +
                        ": 2 problems:\n"
                        "  server.log_format: expected a string (got 1)\n"
                        "  experts: expected a non-empty array of experts");
  }
}

TEST_F(ServeConfigTest, ExpertsMustBeANonEmptyArray) {
  for (const char* text : {R"({})", R"({"experts": []})", R"({"experts": {"id": "x"}})",
                           R"({"experts": "x", "server": null})"}) {
    const auto p = problems(text);
    EXPECT_EQ(p, std::vector<std::string>{"experts: expected a non-empty array of experts"})
        << text;
  }
  EXPECT_EQ(problems(R"([1, 2])"), std::vector<std::string>{"the top level must be an object"});
  EXPECT_TRUE(mentions(problems(R"({"server": 5, "experts": []})"), "server: expected an object"));
}

TEST_F(ServeConfigTest, InvalidJsonReportsLineAndColumn) {
  const auto p = problems("{\n  \"experts\": [\n    {\"expert_id\": \"a\",}\n  ]\n}\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("not valid JSON"), std::string::npos) << p[0];
  EXPECT_NE(p[0].find("line 3, column"), std::string::npos) << p[0];
}

TEST_F(ServeConfigTest, UnreadableFileIsASystemError) {
  EXPECT_THROW(load_serve_config(dir_ / "absent.json"), SystemError);
}

TEST_F(ServeConfigTest, PathsAreRelativeToTheConfigFile) {
  const fs::path model = write("models/x.gguf");
  write("conf/chat.jinja", "T");
  const fs::path path = write("conf/serve.json", R"({"experts": [
    {"expert_id": "x", "model_path": "../models/x.gguf", "chat_template_file": "chat.jinja"}]})");
  // The working directory is elsewhere (the build folder), so this only passes if paths
  // are resolved against conf/.
  ASSERT_NE(fs::current_path(), path.parent_path());
  const ServeConfig c = load_serve_config(path);
  ASSERT_EQ(c.experts.size(), 1u);
  EXPECT_EQ(c.experts[0].model_path, model);
  EXPECT_EQ(c.experts[0].chat_template, "T");

  // A missing template file is a problem of that key, as is giving both forms.
  const auto p = problems(R"({"experts": [
    {"expert_id": "x", "model_path": "models/x.gguf", "chat_template_file": "nope.jinja"},
    {"expert_id": "y", "model_path": "models/x.gguf", "chat_template": "A",
     "chat_template_file": "conf/chat.jinja"}]})");
  EXPECT_TRUE(mentions(p, "experts[0].chat_template_file: cannot read")) << joined(p);
  EXPECT_TRUE(mentions(p, "experts[1]: chat_template and chat_template_file are exclusive"))
      << joined(p);
  EXPECT_EQ(p.size(), 2u) << joined(p);
}

TEST_F(ServeConfigTest, AFolderWithExactlyOneGgufResolvesToIt) {
  write("one/config.json", "{}");
  write("one/model-Q4_K_M.gguf");
  write("none/config.json", "{}");
  write("none/model.safetensors");
  write("two/a.gguf");
  write("two/b.gguf");
  const ServeConfig c = parse(R"({"experts": [{"expert_id": "one", "model_path": "one"}]})");
  ASSERT_EQ(c.experts.size(), 1u);
  EXPECT_EQ(c.experts[0].model_path, dir_ / "one" / "model-Q4_K_M.gguf");

  const auto p = problems(R"({"experts": [{"expert_id": "none", "model_path": "none"},
                                          {"expert_id": "two", "model_path": "two/"},
                                          {"expert_id": "empty", "model_path": ""}]})");
  ASSERT_EQ(p.size(), 3u) << joined(p);
  EXPECT_TRUE(mentions(p, "experts[0].model_path: the folder '")) << joined(p);
  EXPECT_TRUE(mentions(p, "holds no .gguf file")) << joined(p);
  EXPECT_TRUE(mentions(p, "experts[1].model_path: the folder '")) << joined(p);
  EXPECT_TRUE(mentions(p, "holds several .gguf files (a.gguf, b.gguf): name one")) << joined(p);
  // An empty path would otherwise name the config's own folder.
  EXPECT_TRUE(mentions(p, "experts[2].model_path: required")) << joined(p);
}

// configs/demo.json runs on the shared test models, found at ../../shared/models from configs/.
TEST_F(ServeConfigTest, ShippedDemoConfigParses) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const fs::path configs = configs_dir();
  if (configs.empty()) GTEST_SKIP() << "configs/ not found beside " << __FILE__;
  if (!fs::exists(configs / "../../shared/models/stories260K.gguf")) {
    GTEST_SKIP() << "demo.json expects the shared models at " << configs / "../../shared/models";
  }
  ServeConfig c;
  try {
    c = load_serve_config(configs / "demo.json");
  } catch (const ConfigError& e) {
    FAIL() << e.what();
  }
  EXPECT_TRUE(c.warnings.empty()) << joined(c.warnings);
  ASSERT_EQ(c.experts.size(), 5u);
  std::vector<std::string> ids;
  for (const auto& e : c.experts) {
    ids.push_back(e.id);
    EXPECT_TRUE(fs::is_regular_file(e.model_path)) << e.model_path;
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"stories", "coder", "technical", "multimodal",
                                           "multilingual"}));
  EXPECT_TRUE(std::all_of(c.experts.begin() + 1, c.experts.end(), [&](const ExpertConfig& e) {
    return e.priority < c.experts[0].priority;
  }));
  for (size_t i = 1; i < c.experts.size(); ++i) {
    EXPECT_NE(c.experts[i].description.find("random"), std::string::npos) << c.experts[i].id;
    EXPECT_NE(c.experts[i].description.find("gibberish"), std::string::npos) << c.experts[i].id;
  }
  EXPECT_EQ(c.server.host, "127.0.0.1");
  EXPECT_EQ(c.server.port, 8082);
  EXPECT_TRUE(c.policy.lazy);
  EXPECT_EQ(c.policy.warmup_pool_size, 2);
  EXPECT_EQ(c.policy.max_loaded_experts, 4);
  EXPECT_DOUBLE_EQ(c.policy.memory_threshold, 0.8);
  ASSERT_TRUE(c.policy.auto_unload_after_s.has_value());
  EXPECT_DOUBLE_EQ(*c.policy.auto_unload_after_s, 600.0);
}

const char* const kOriginalIds[] = {"phi4_fast", "mistral_balanced", "qwen_coder",
                                    "gemma3_multimodal", "aya_expanse_multilingual"};
const char* const kOriginalFiles[] = {
    "microsoft_Phi-4-mini-instruct-Q4_K_M.gguf", "Mistral-7B-Instruct-v0.3-Q4_K_M.gguf",
    "Qwen2.5-Coder-7B-Instruct-Q4_K_M.gguf", "google_gemma-3-4b-it-Q4_K_M.gguf",
    "aya-expanse-8b-Q4_K_M.gguf"};

// In place, the only possible problems are the models not yet pulled into models/.
TEST_F(ServeConfigTest, ShippedOriginalConfigsFailOnlyOnMissingModels) {
  const fs::path configs = configs_dir();
  if (configs.empty()) GTEST_SKIP() << "configs/ not found beside " << __FILE__;
  for (const char* name : {"original-preload.json", "original-lazy.json"}) {
    try {
      const ServeConfig c = load_serve_config(configs / name);
      EXPECT_EQ(c.experts.size(), 5u) << name;  // every model has been pulled
    } catch (const ConfigError& e) {
      for (const auto& problem : e.problems()) {
        EXPECT_NE(problem.find(".model_path: no such file: '"), std::string::npos)
            << name << ": " << problem;
        EXPECT_NE(problem.find("/models/"), std::string::npos) << name << ": " << problem;
      }
    }
  }
}

// Beside stand-ins for the five models (empty files), they parse with no warning at all.
TEST_F(ServeConfigTest, ShippedOriginalConfigsParseBesideTheirModels) {
  const fs::path configs = configs_dir();
  if (configs.empty()) GTEST_SKIP() << "configs/ not found beside " << __FILE__;
  for (const char* file : kOriginalFiles) write(fs::path("models") / file);
  for (const char* name : {"original-preload.json", "original-lazy.json"}) {
    SCOPED_TRACE(name);
    fs::create_directories(dir_ / "configs");
    fs::copy_file(configs / name, dir_ / "configs" / name, fs::copy_options::overwrite_existing);
    ServeConfig c;
    try {
      c = load_serve_config(dir_ / "configs" / name);
    } catch (const ConfigError& e) {
      FAIL() << e.what();
    }
    EXPECT_TRUE(c.warnings.empty()) << joined(c.warnings);
    ASSERT_EQ(c.experts.size(), 5u);
    for (size_t i = 0; i < 5; ++i) {
      EXPECT_EQ(c.experts[i].id, kOriginalIds[i]);
      EXPECT_EQ(c.experts[i].model_path, dir_ / "models" / kOriginalFiles[i]);
      EXPECT_EQ(c.experts[i].engine.scheduler.max_num_seqs, 8);
      EXPECT_EQ(c.experts[i].engine.max_model_len, 4096);
      EXPECT_FALSE(c.experts[i].aliases.empty());
    }
    EXPECT_EQ(c.experts[0].domain, "general");
    EXPECT_EQ(c.experts[2].domain, "coding");
    EXPECT_EQ(c.experts[4].domain, "multilingual");
    EXPECT_EQ(c.server.host, "0.0.0.0");
    EXPECT_EQ(c.server.port, 8082);
    if (std::string(name) == "original-preload.json") {
      EXPECT_FALSE(c.policy.lazy);
      EXPECT_EQ(c.policy.warmup_pool_size, 5);
      EXPECT_EQ(c.policy.max_loaded_experts, 5);
      EXPECT_DOUBLE_EQ(c.policy.memory_threshold, 0.6);
      EXPECT_FALSE(c.policy.auto_unload_after_s.has_value());
    } else {
      EXPECT_TRUE(c.policy.lazy);
      EXPECT_EQ(c.policy.warmup_pool_size, 2);
      EXPECT_EQ(c.policy.max_loaded_experts, 3);
      EXPECT_DOUBLE_EQ(c.policy.memory_threshold, 0.8);
      ASSERT_TRUE(c.policy.auto_unload_after_s.has_value());
      EXPECT_DOUBLE_EQ(*c.policy.auto_unload_after_s, 300.0);
    }
  }
}

}  // namespace
}  // namespace capibara::server
