// `capibara serve --config` refusing bad input as an operator sees it: exit status and stderr.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "support/shared_data.hpp"
#include "support/subprocess.hpp"

namespace capibara::testing {
namespace {

namespace fs = std::filesystem;

// A fresh folder per test, removed with the fixture.
class ServeConfigCli : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::path(::testing::TempDir()) /
           ("serve_config_cli_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  fs::path write(const std::string& name, const std::string& text) const {
    const fs::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  fs::path dir_;
};

// Runs `capibara serve ARGS` under a time limit: a regression that starts the server instead of
// refusing fails the test rather than hanging it.
CommandResult serve(const std::string& bin, const std::string& args) {
  return run_command("timeout 30 " + bin + " serve " + args);
}

TEST_F(ServeConfigCli, BadConfigExitsNonZeroListingEveryProblem) {
  CAPIBARA_REQUIRE_BINARY(bin);
  write("m.gguf", "");
  const fs::path config = write("bad.json", R"({
    // a vLLM-era file with mistakes in several places
    "server": {"port": 70000, "log_format": "xml"},
    "experts": [
      {"expert_id": "a", "model_path": "m.gguf", "gpu_memory_utilization": 0.9},
      {"expert_id": "b", "model_path": "missing.gguf", "max_num_seqs": 0},
      {"expert_id": "a", "model_path": "m.gguf"},
      {"model_path": "m.gguf"}
    ],
    "lazy_loading": {"memory_threshold": 1.5}
  })");
  const auto r = serve(bin, "--config " + shell_quote(config.string()));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  for (const char* fragment : {
           "7 problems:",
           "server.port: expected a port number 0..65535 (got 70000)",
           "server.log_format: expected text, json or off (got \"xml\")",
           "lazy_loading.memory_threshold: expected a fraction of RAM in (0, 1] (got 1.5)",
           "experts[1].model_path: no such file: '",
           "experts[1].max_num_seqs: expected a positive integer (got 0)",
           "experts[2]: the name \"a\" is already used by experts[0]",
           "experts[3].expert_id: required",
       }) {
    EXPECT_NE(r.err.find(fragment), std::string::npos) << "missing: " << fragment << "\n" << r.err;
  }
  // The file is named so the operator knows which one to fix, and nothing started listening.
  EXPECT_NE(r.err.find(config.string()), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("listening"), std::string::npos) << r.err;
}

TEST_F(ServeConfigCli, InvalidJsonNamesLineAndColumn) {
  CAPIBARA_REQUIRE_BINARY(bin);
  const fs::path config = write("broken.json", "{\n  \"experts\": [\n    {\"expert_id\": }\n]}\n");
  const auto r = serve(bin, "--config " + shell_quote(config.string()));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("not valid JSON"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 3, column"), std::string::npos) << r.err;
}

TEST_F(ServeConfigCli, MissingConfigFileIsRefused) {
  CAPIBARA_REQUIRE_BINARY(bin);
  const auto r = serve(bin, "--config " + shell_quote((dir_ / "nope.json").string()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("nope.json"), std::string::npos) << r.err;
}

TEST_F(ServeConfigCli, NeitherModelNorConfigIsAnError) {
  CAPIBARA_REQUIRE_BINARY(bin);
  const auto r = serve(bin, "--port 0");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--model"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--config"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("listening"), std::string::npos) << r.err;
}

TEST_F(ServeConfigCli, ModelAndConfigTogetherAreAnError) {
  CAPIBARA_REQUIRE_BINARY(bin);
  const fs::path model = write("m.gguf", "");
  const fs::path config = write(
      "ok.json", R"({"experts": [{"expert_id": "m", "model_path": ")" + model.string() + R"("}]})");
  const auto r = serve(bin, "-m " + shell_quote(model.string()) + " --config " +
                                shell_quote(config.string()) + " --port 0");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--config"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("excludes"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("listening"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace capibara::testing
