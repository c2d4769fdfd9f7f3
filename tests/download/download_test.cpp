// `download_model` against a local HTTP server serving a real GGUF (../shared/models): whole,
// resumed, restarted, verified, rejected. Nothing here touches the internet.
#include "download/download.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "download/sha256.hpp"
#include "download/test_file_server.hpp"
#include "support/shared_data.hpp"

namespace capibara::download {
namespace {

using testing::TestFileServer;
namespace fs = std::filesystem;

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

class DownloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CAPIBARA_REQUIRE_SHARED(shared);
    model_ = slurp(shared / "models" / "stories260K.gguf");
    ASSERT_GT(model_.size(), 100'000u);
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           fmt::format("download_test_{}_{}", ::getpid(), info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  TestFileServer::Options serving_model() const {
    TestFileServer::Options o;
    o.payload = model_;
    return o;
  }

  DownloadRequest request_for(const std::string& source) const {
    DownloadRequest r;
    r.source = source;
    r.output_dir = dir_;
    r.max_retries = 0;
    r.retry_delay = std::chrono::milliseconds(0);
    r.connect_timeout = std::chrono::seconds(5);
    r.read_timeout = std::chrono::seconds(5);
    return r;
  }

  fs::path final_path() const { return dir_ / "model.gguf"; }
  fs::path part_path() const { return dir_ / "model.gguf.part"; }

  std::string model_;
  fs::path dir_;
};

TEST_F(DownloadTest, FullDownloadIsByteIdentical) {
  TestFileServer server(serving_model());
  std::vector<DownloadProgress> progress;
  DownloadObserver observer;
  observer.on_progress = [&](const DownloadProgress& p) { progress.push_back(p); };
  const auto r = download_model(request_for(server.url("/model.gguf")), observer);

  EXPECT_EQ(r.path, final_path());
  EXPECT_EQ(slurp(final_path()), model_);
  EXPECT_FALSE(fs::exists(part_path()));
  EXPECT_EQ(r.size_bytes, model_.size());
  EXPECT_EQ(r.transferred_bytes, model_.size());
  EXPECT_EQ(r.resumed_from_bytes, 0u);
  EXPECT_FALSE(r.already_present);
  EXPECT_EQ(r.sha256, sha256_hex(model_));
  EXPECT_FALSE(r.sha256_matched_expected);
  EXPECT_FALSE(r.sha256_matched_server);
  EXPECT_EQ(r.architecture, "llama");
  EXPECT_GT(r.n_tensors, 0u);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().downloaded_bytes, model_.size());
  EXPECT_EQ(progress.back().total_bytes, model_.size());
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].range, "");
  EXPECT_EQ(requests[0].authorization, "");
}

TEST_F(DownloadTest, ResumesFromPartialFileTransferringOnlyTheRest) {
  TestFileServer server(serving_model());
  const size_t half = model_.size() / 2;
  write_file(part_path(), std::string_view(model_).substr(0, half));
  std::vector<std::string> notices;
  DownloadObserver observer;
  observer.on_notice = [&](std::string_view m) { notices.emplace_back(m); };
  const auto r = download_model(request_for(server.url("/model.gguf")), observer);

  EXPECT_EQ(slurp(final_path()), model_);
  EXPECT_FALSE(fs::exists(part_path()));
  EXPECT_EQ(server.body_bytes_sent(), model_.size() - half);
  EXPECT_EQ(r.transferred_bytes, model_.size() - half);
  EXPECT_EQ(r.resumed_from_bytes, half);
  // The digest covers the resumed bytes too, not only the transferred ones.
  EXPECT_EQ(r.sha256, sha256_hex(model_));
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].range, fmt::format("bytes={}-", half));
  ASSERT_FALSE(notices.empty());
  EXPECT_NE(notices[0].find("resuming"), std::string::npos) << notices[0];
}

TEST_F(DownloadTest, ServerIgnoringRangeRestartsFromScratch) {
  auto options = serving_model();
  options.ignore_range = true;
  TestFileServer server(options);
  // A partial file whose bytes differ from the model's: appending the full body to it, or
  // keeping it, would both show in the result.
  std::string stale = model_.substr(0, model_.size() / 3);
  stale[100] = static_cast<char>(stale[100] ^ 0x5a);
  write_file(part_path(), stale);
  std::vector<std::string> notices;
  DownloadObserver observer;
  observer.on_notice = [&](std::string_view m) { notices.emplace_back(m); };
  const auto r = download_model(request_for(server.url("/model.gguf")), observer);

  EXPECT_EQ(slurp(final_path()), model_);
  EXPECT_EQ(server.body_bytes_sent(), model_.size());
  EXPECT_EQ(r.transferred_bytes, model_.size());
  EXPECT_EQ(r.sha256, sha256_hex(model_));
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_NE(server.requests()[0].range, "");
  ASSERT_EQ(notices.size(), 2u);
  EXPECT_NE(notices[1].find("starting over"), std::string::npos) << notices[1];
}

TEST_F(DownloadTest, CompletePartialFileAnswered416IsInstalledWithoutTransfer) {
  TestFileServer server(serving_model());
  write_file(part_path(), model_);
  const auto r = download_model(request_for(server.url("/model.gguf")));
  EXPECT_EQ(slurp(final_path()), model_);
  EXPECT_EQ(r.transferred_bytes, 0u);
  EXPECT_EQ(server.body_bytes_sent(), 0u);
  EXPECT_EQ(r.sha256, sha256_hex(model_));
}

TEST_F(DownloadTest, PartialFileLongerThanTheRemoteFileIsDiscarded) {
  TestFileServer server(serving_model());
  write_file(part_path(), model_ + "extra bytes");
  const auto r = download_model(request_for(server.url("/model.gguf")));
  EXPECT_EQ(slurp(final_path()), model_);
  EXPECT_EQ(r.transferred_bytes, model_.size());
  ASSERT_EQ(server.requests().size(), 2u);
  EXPECT_EQ(server.requests()[1].range, "");
}

TEST_F(DownloadTest, PartialFileThatIsNotGgufIsDiscarded) {
  TestFileServer server(serving_model());
  write_file(part_path(), "<!DOCTYPE html><html>a web page saved by mistake</html>");
  const auto r = download_model(request_for(server.url("/model.gguf")));
  EXPECT_EQ(slurp(final_path()), model_);
  EXPECT_EQ(r.transferred_bytes, model_.size());
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].range, "");
}

TEST_F(DownloadTest, Sha256Match) {
  TestFileServer server(serving_model());
  auto request = request_for(server.url("/model.gguf"));
  std::string upper = sha256_hex(model_);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  request.expected_sha256 = upper;  // case does not matter
  const auto r = download_model(request);
  EXPECT_TRUE(r.sha256_matched_expected);
  EXPECT_EQ(slurp(final_path()), model_);
}

TEST_F(DownloadTest, Sha256MismatchLeavesNoFinalFile) {
  TestFileServer server(serving_model());
  auto request = request_for(server.url("/model.gguf"));
  request.expected_sha256 = std::string(64, '0');
  try {
    download_model(request);
    FAIL() << "expected IntegrityError";
  } catch (const IntegrityError& e) {
    EXPECT_NE(std::string(e.what()).find("sha256 mismatch"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(sha256_hex(model_)), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(final_path()));
  EXPECT_TRUE(fs::exists(part_path()));
}

TEST_F(DownloadTest, MalformedExpectedDigestIsRejectedBeforeAnyRequest) {
  TestFileServer server(serving_model());
  auto request = request_for(server.url("/model.gguf"));
  request.expected_sha256 = "abc123";
  EXPECT_THROW(download_model(request), InvalidArgumentError);
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(DownloadTest, ServerEtagDigestIsVerified) {
  auto options = serving_model();
  options.etag = "\"" + sha256_hex(model_) + "\"";
  {
    TestFileServer server(options);
    EXPECT_TRUE(download_model(request_for(server.url("/model.gguf"))).sha256_matched_server);
  }
  fs::remove(final_path());
  options.etag = "\"" + std::string(64, 'a') + "\"";
  TestFileServer server(options);
  EXPECT_THROW(download_model(request_for(server.url("/model.gguf"))), IntegrityError);
  EXPECT_FALSE(fs::exists(final_path()));
}

TEST_F(DownloadTest, TruncatedResponseIsAnErrorAndResumable) {
  auto options = serving_model();
  options.close_after_bytes = 200'000;
  TestFileServer server(options);
  const auto request = request_for(server.url("/model.gguf"));
  try {
    download_model(request);
    FAIL() << "expected NetworkError";
  } catch (const NetworkError& e) {
    EXPECT_NE(std::string(e.what()).find("stopped at 0.2 MB of 1.2 MB"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("again to resume"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(final_path()));
  ASSERT_TRUE(fs::exists(part_path()));
  EXPECT_EQ(fs::file_size(part_path()), 200'000u);

  const auto r = download_model(request);  // the server now sends everything
  EXPECT_EQ(slurp(final_path()), model_);
  EXPECT_EQ(r.resumed_from_bytes, 200'000u);
  EXPECT_EQ(r.transferred_bytes, model_.size() - 200'000);
  EXPECT_EQ(server.body_bytes_sent(), model_.size());
}

TEST_F(DownloadTest, RetriesResumeAutomatically) {
  auto options = serving_model();
  options.close_after_bytes = 300'000;
  options.close_early_times = 2;
  TestFileServer server(options);
  auto request = request_for(server.url("/model.gguf"));
  request.max_retries = 2;
  std::vector<std::string> notices;
  DownloadObserver observer;
  observer.on_notice = [&](std::string_view m) { notices.emplace_back(m); };
  const auto r = download_model(request, observer);
  EXPECT_EQ(slurp(final_path()), model_);
  EXPECT_EQ(server.body_bytes_sent(), model_.size());
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[1].range, "bytes=300000-");
  EXPECT_EQ(requests[2].range, "bytes=600000-");
  ASSERT_EQ(notices.size(), 2u);
  EXPECT_NE(notices[0].find("attempt 2 of 3"), std::string::npos) << notices[0];
  EXPECT_EQ(r.sha256, sha256_hex(model_));
}

TEST_F(DownloadTest, NotFoundNamesTheUrl) {
  TestFileServer server(serving_model());
  const std::string url = server.url("/missing.gguf");
  try {
    download_model(request_for(url));
    FAIL() << "expected HttpError";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status(), 404);
    EXPECT_NE(std::string(e.what()).find("404"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(url), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir_ / "missing.gguf"));
  EXPECT_FALSE(fs::exists(dir_ / "missing.gguf.part"));
}

TEST_F(DownloadTest, ServerErrorsAreRetriedClientErrorsAreNot) {
  TestFileServer server(serving_model());
  auto request = request_for(server.url("/status/503"));
  request.file_name = "model.gguf";
  request.max_retries = 2;
  EXPECT_THROW(download_model(request), HttpError);
  EXPECT_EQ(server.requests().size(), 3u);
  request.source = server.url("/status/403");
  EXPECT_THROW(download_model(request), HttpError);
  EXPECT_EQ(server.requests().size(), 4u);
}

TEST_F(DownloadTest, UnauthorizedAsksForAToken) {
  auto options = serving_model();
  options.hub_token = "secret";
  TestFileServer server(options);
  auto request = request_for(server.url("/private/model.gguf"));
  try {
    download_model(request);
    FAIL() << "expected HttpError";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status(), 401);
    EXPECT_NE(std::string(e.what()).find("HF_TOKEN"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Invalid credentials"), std::string::npos) << e.what();
  }
  request.token = "secret";
  download_model(request);
  EXPECT_EQ(slurp(final_path()), model_);
  EXPECT_EQ(server.requests().back().authorization, "Bearer secret");
}

TEST_F(DownloadTest, RedirectIsFollowed) {
  TestFileServer server(serving_model());
  auto request = request_for(server.url("/redirect"));
  request.file_name = "model.gguf";
  download_model(request);
  EXPECT_EQ(slurp(final_path()), model_);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].path, "/model.gguf");
}

TEST_F(DownloadTest, RedirectLoopIsAnError) {
  TestFileServer server(serving_model());
  auto request = request_for(server.url("/redirect-loop"));
  request.file_name = "model.gguf";
  EXPECT_THROW(download_model(request), NetworkError);
}

// The Hub's flow: 302 from /org/repo/resolve/rev/file, with the LFS sha256 and size, to a CDN
// on another origin; the token goes to the Hub only.
TEST_F(DownloadTest, HuggingFaceReferenceThroughHubAndCdn) {
  TestFileServer cdn(serving_model());
  TestFileServer::Options hub_options;
  hub_options.hub_redirect_to = cdn.url("/files/signed-blob?X-Amz-Signature=abc");
  hub_options.hub_linked_etag = "\"" + sha256_hex(model_) + "\"";
  hub_options.hub_linked_size = std::to_string(model_.size());
  hub_options.hub_token = "secret";
  TestFileServer hub(hub_options);

  auto request = request_for("my-org/my-repo/sub/model.gguf@v1.0");
  request.hf_endpoint = hub.origin();
  request.token = "secret";
  const auto r = download_model(request);
  EXPECT_EQ(slurp(final_path()), model_);
  EXPECT_TRUE(r.sha256_matched_server);
  EXPECT_EQ(r.url, hub.url("/my-org/my-repo/resolve/v1.0/sub/model.gguf"));
  ASSERT_EQ(hub.requests().size(), 1u);
  EXPECT_EQ(hub.requests()[0].path, "/my-org/my-repo/resolve/v1.0/sub/model.gguf");
  EXPECT_EQ(hub.requests()[0].authorization, "Bearer secret");
  ASSERT_EQ(cdn.requests().size(), 1u);
  EXPECT_EQ(cdn.requests()[0].path, "/files/signed-blob");
  EXPECT_EQ(cdn.requests()[0].authorization, "");
}

TEST_F(DownloadTest, HubDigestOrSizeMismatchIsRejected) {
  TestFileServer cdn(serving_model());
  for (const bool wrong_size : {false, true}) {
    TestFileServer::Options hub_options;
    hub_options.hub_redirect_to = cdn.url("/model.gguf");
    hub_options.hub_linked_etag =
        "\"" + (wrong_size ? sha256_hex(model_) : std::string(64, 'b')) + "\"";
    hub_options.hub_linked_size = std::to_string(model_.size() + (wrong_size ? 1 : 0));
    TestFileServer hub(hub_options);
    auto request = request_for("org/repo/model.gguf");
    request.hf_endpoint = hub.origin();
    request.force = true;
    try {
      download_model(request);
      FAIL() << "expected IntegrityError";
    } catch (const IntegrityError& e) {
      EXPECT_NE(std::string(e.what()).find(wrong_size ? "X-Linked-Size" : "server announced"),
                std::string::npos)
          << e.what();
    }
    EXPECT_FALSE(fs::exists(final_path()));
  }
}

TEST_F(DownloadTest, NonGgufPayloadIsRejectedEarly) {
  TestFileServer::Options options;
  options.payload = "<!DOCTYPE html>\n<html><body>" + std::string(500'000, 'x') + "</body></html>";
  TestFileServer server(options);
  try {
    download_model(request_for(server.url("/model.gguf")));
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("not a GGUF file"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("<!DOCTYPE html>"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(final_path()));
  EXPECT_TRUE(fs::exists(part_path()));
  EXPECT_LT(fs::file_size(part_path()), options.payload.size());  // stopped, not downloaded
}

TEST_F(DownloadTest, CorruptGgufIsRejectedAndKeptAsPart) {
  TestFileServer::Options options;
  options.payload = model_.substr(0, 64) + std::string(1000, '\xff');
  TestFileServer server(options);
  try {
    download_model(request_for(server.url("/model.gguf")));
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("not a valid GGUF"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(part_path().string()), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(final_path()));
  EXPECT_EQ(slurp(part_path()), options.payload);
}

TEST_F(DownloadTest, ExistingFileIsKeptUnlessForced) {
  TestFileServer server(serving_model());
  write_file(final_path(), model_);
  auto request = request_for(server.url("/model.gguf"));
  auto r = download_model(request);
  EXPECT_TRUE(r.already_present);
  EXPECT_EQ(r.architecture, "llama");
  EXPECT_TRUE(server.requests().empty());

  request.expected_sha256 = std::string(64, 'c');
  EXPECT_THROW(download_model(request), IntegrityError);

  request.expected_sha256.clear();
  request.force = true;
  write_file(final_path(), "stale");
  r = download_model(request);
  EXPECT_FALSE(r.already_present);
  EXPECT_EQ(slurp(final_path()), model_);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST_F(DownloadTest, CancelKeepsThePartialFile) {
  TestFileServer server(serving_model());
  std::atomic<bool> cancel{false};
  auto request = request_for(server.url("/model.gguf"));
  request.cancel = &cancel;
  DownloadObserver observer;
  observer.on_progress = [&](const DownloadProgress& p) {
    if (p.downloaded_bytes > 100'000) cancel = true;
  };
  EXPECT_THROW(download_model(request, observer), CancelledError);
  EXPECT_FALSE(fs::exists(final_path()));
  ASSERT_TRUE(fs::exists(part_path()));
  EXPECT_GT(fs::file_size(part_path()), 100'000u);

  cancel = false;
  request.cancel = nullptr;
  const auto r = download_model(request);
  EXPECT_GT(r.resumed_from_bytes, 100'000u);
  EXPECT_EQ(slurp(final_path()), model_);
}

TEST_F(DownloadTest, FullDiskIsASystemErrorAndNoFinalFile) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  TestFileServer server(serving_model());
  fs::create_symlink("/dev/full", part_path());
  try {
    download_model(request_for(server.url("/model.gguf")));
    FAIL() << "expected SystemError";
  } catch (const SystemError& e) {
    EXPECT_NE(std::string(e.what()).find("no space left"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(final_path()));
}

TEST_F(DownloadTest, ConnectionRefusedIsANetworkError) {
  int port = 0;
  {
    TestFileServer gone(serving_model());
    port = gone.port();
  }
  try {
    download_model(request_for(fmt::format("http://127.0.0.1:{}/model.gguf", port)));
    FAIL() << "expected NetworkError";
  } catch (const NetworkError& e) {
    EXPECT_NE(std::string(e.what()).find("could not connect"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(part_path())) << "nothing arrived, so no partial file stays";
}

TEST_F(DownloadTest, UnrecognizedSourceIsAnInvalidArgument) {
  EXPECT_THROW(download_model(request_for("ftp://example.com/model.gguf")), InvalidArgumentError);
  EXPECT_THROW(download_model(request_for("model.gguf")), InvalidArgumentError);
  EXPECT_THROW(download_model(request_for("http://127.0.0.1:1/")), InvalidArgumentError);
}

}  // namespace
}  // namespace capibara::download
