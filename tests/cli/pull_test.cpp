// `capibara pull` run as a separate process against a local HTTP server (never the internet).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "download/sha256.hpp"
#include "download/test_file_server.hpp"
#include "support/shared_data.hpp"
#include "support/subprocess.hpp"

namespace capibara::testing {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class PullCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("pull_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(PullCommand, DownloadsVerifiesAndPrintsThePath) {
  CAPIBARA_REQUIRE_SHARED(shared);
  CAPIBARA_REQUIRE_BINARY(bin);
  TestFileServer::Options options;
  options.payload = slurp(shared / "models" / "stories260K.gguf");
  TestFileServer server(options);
  const std::string sha = download::sha256_hex(options.payload);
  const std::string cmd = bin + " pull " + shell_quote(server.url("/model.gguf")) + " -o " +
                          shell_quote(dir_.string()) + " --sha256 " + sha;

  auto r = run_command(cmd);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, (dir_ / "model.gguf").string() + "\n");  // stdout: the path alone
  EXPECT_EQ(slurp(dir_ / "model.gguf"), options.payload);
  EXPECT_NE(r.err.find("saved"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("architecture llama"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sha256 " + sha + " (matches --sha256)"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << "no bar when stderr is not a terminal";

  r = run_command(cmd);  // a second pull finds the file and downloads nothing
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("already there"), std::string::npos) << r.err;
  EXPECT_EQ(server.requests().size(), 1u);

  r = run_command(cmd + " --force --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, (dir_ / "model.gguf").string() + "\n");
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST_F(PullCommand, HuggingFaceReferenceWithEndpointAndTokenFromTheEnvironment) {
  CAPIBARA_REQUIRE_SHARED(shared);
  CAPIBARA_REQUIRE_BINARY(bin);
  TestFileServer::Options cdn_options;
  cdn_options.payload = slurp(shared / "models" / "stories260K.gguf");
  TestFileServer cdn(cdn_options);
  TestFileServer::Options hub_options;
  hub_options.hub_redirect_to = cdn.url("/model.gguf");
  hub_options.hub_linked_etag = "\"" + download::sha256_hex(cdn_options.payload) + "\"";
  hub_options.hub_token = "hf_secret";
  TestFileServer hub(hub_options);

  const auto r = run_command("HF_ENDPOINT=" + shell_quote(hub.origin()) + " HF_TOKEN=hf_secret " +
                             bin + " pull org/repo/model.gguf -o " + shell_quote(dir_.string()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(slurp(dir_ / "model.gguf"), cdn_options.payload);
  EXPECT_NE(r.err.find("matches the server's digest"), std::string::npos) << r.err;
  ASSERT_EQ(cdn.requests().size(), 1u);
  EXPECT_EQ(cdn.requests()[0].authorization, "");
}

TEST_F(PullCommand, ErrorsAreOneLineAndNonZero) {
  CAPIBARA_REQUIRE_BINARY(bin);
  TestFileServer::Options options;
  options.payload = "not used";
  TestFileServer server(options);
  const std::string url = server.url("/missing.gguf");
  auto r = run_command(bin + " pull " + shell_quote(url) + " -o " + shell_quote(dir_.string()));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("capibara: error: HTTP 404 Not Found: " + url), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");

  r = run_command(bin + " pull just-a-file.gguf");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("neither a URL nor a Hugging Face reference"), std::string::npos) << r.err;

  r = run_command(bin + " pull " + shell_quote(server.url("/model.gguf")) + " --sha256 xyz");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not a sha256 digest"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace capibara::testing
