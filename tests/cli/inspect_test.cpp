// `capibara inspect` run as a separate process, as a user or a script would run it.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/shared_data.hpp"

namespace capibara {
namespace {

struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ProcessResult run_capibara(const std::filesystem::path& bin, const std::string& args) {
  const auto dir = std::filesystem::path(::testing::TempDir());
  // Unique per process, since ctest may run these tests in parallel.
  const std::string stem = "inspect_test_" + std::to_string(::getpid());
  const auto out = dir / (stem + ".out");
  const auto err = dir / (stem + ".err");
  const std::string cmd = quoted(bin.string()) + " " + args + " >" + quoted(out.string()) + " 2>" +
                          quoted(err.string());
  const int status = std::system(cmd.c_str());
  ProcessResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  std::filesystem::remove(out);
  std::filesystem::remove(err);
  return r;
}

#define CAPIBARA_REQUIRE_BINARY(bin)                                                     \
  const auto bin##_opt = ::capibara::testing::capibara_binary();                         \
  if (!bin##_opt || !std::filesystem::exists(*bin##_opt)) {                              \
    GTEST_SKIP() << "capibara binary not found: run through ctest, or set CAPIBARA_BIN"; \
  }                                                                                      \
  const std::filesystem::path bin = *bin##_opt

TEST(InspectCommandTest, JsonOnStories260K) {
  CAPIBARA_REQUIRE_BINARY(bin);
  CAPIBARA_REQUIRE_SHARED(shared);
  const auto model = shared / "models" / "stories260K.gguf";
  const ProcessResult r = run_capibara(bin, "inspect " + quoted(model.string()) + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["gguf_version"], 3);
  EXPECT_EQ(j["file_size_bytes"], std::filesystem::file_size(model));
  EXPECT_EQ(j["architecture"], "llama");
  EXPECT_EQ(j["supported"], true);
  EXPECT_EQ(j["hyperparameters"]["block_count"], 5);
  EXPECT_EQ(j["hyperparameters"]["embedding_length"], 64);
  EXPECT_EQ(j["hyperparameters"]["attention.head_count_kv"], 4);
  EXPECT_EQ(j["hyperparameters"]["attention.layer_norm_rms_epsilon"], 1e-5);
  EXPECT_EQ(j["tokenizer"]["model"], "llama");
  EXPECT_EQ(j["tokenizer"]["vocab_size"], 512);
  EXPECT_EQ(j["tokenizer"]["bos_token_id"], 1);
  EXPECT_EQ(j["tokenizer"]["eos_token_id"], 2);
  EXPECT_EQ(j["chat_template"]["present"], false);
  EXPECT_EQ(j["metadata"]["tokenizer.ggml.scores"]["array_length"], 512);
  EXPECT_FALSE(j["metadata"].contains("general.architecture"));
  ASSERT_EQ(j["tensors"].size(), 48u);
  EXPECT_EQ(j["tensors"][0]["name"], "token_embd.weight");
  EXPECT_EQ(j["tensors"][0]["type"], "f32");
  EXPECT_EQ(j["tensors"][0]["shape"], nlohmann::json::array({64, 512}));
  EXPECT_EQ(j["tensors"][0]["bytes"], 64 * 512 * 4);
  EXPECT_EQ(j["totals"]["tensor_count"], 48);
  EXPECT_EQ(j["totals"]["bits_per_weight"], 32.0);
}

TEST(InspectCommandTest, TextOnQuantizedModel) {
  CAPIBARA_REQUIRE_BINARY(bin);
  CAPIBARA_REQUIRE_SHARED(shared);
  const ProcessResult r = run_capibara(
      bin, "inspect " + quoted((shared / "models" / "synth-llama-q4_0.gguf").string()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("architecture:  llama"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("block_count"), std::string::npos);
  EXPECT_NE(r.out.find("vocab_size"), std::string::npos);
  EXPECT_NE(r.out.find("q6_K"), std::string::npos);
  EXPECT_NE(r.out.find("q4_0"), std::string::npos);
  EXPECT_NE(r.out.find("total: 30 tensors"), std::string::npos);
}

TEST(InspectCommandTest, BadFilesGiveOneLineErrors) {
  CAPIBARA_REQUIRE_BINARY(bin);
  const auto dir = std::filesystem::path(::testing::TempDir());
  const std::string pid = std::to_string(::getpid());
  const auto v1 = dir / ("inspect_test_v1_" + pid + ".gguf");
  std::ofstream(v1, std::ios::binary) << std::string("GGUF\x01\0\0\0", 8) << std::string(16, '\0');
  const auto junk = dir / ("inspect_test_junk_" + pid + ".gguf");
  std::ofstream(junk, std::ios::binary) << "this is not a model\n";

  const struct {
    std::filesystem::path path;
    const char* expected;
  } cases[] = {{v1, "unsupported GGUF version 1"},
               {junk, "not a GGUF file"},
               {dir / "inspect_test_missing.gguf", "No such file or directory"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path.string());
    const ProcessResult r = run_capibara(bin, "inspect " + quoted(c.path.string()) + " --json");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.rfind("capibara: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(c.expected), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.path.string()), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r.err;
  }
  std::filesystem::remove(v1);
  std::filesystem::remove(junk);
}

TEST(InspectCommandTest, HelpDescribesTheCommand) {
  CAPIBARA_REQUIRE_BINARY(bin);
  const ProcessResult r = run_capibara(bin, "inspect --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--json"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("GGUF"), std::string::npos) << r.out;
  EXPECT_NE(run_capibara(bin, "inspect").exit_code, 0);  // the file is required
}

}  // namespace
}  // namespace capibara
