// SHA-256 against the FIPS 180-2 test vectors, incrementally and over files.
#include "download/sha256.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "core/error.hpp"

namespace capibara::download {
namespace {

constexpr const char* kEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr const char* kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr const char* kMillionA =
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), kEmpty);
  EXPECT_EQ(sha256_hex("abc"), kAbc);
  EXPECT_EQ(sha256_hex(std::string(1'000'000, 'a')), kMillionA);
}

TEST(Sha256, IncrementalAndPeeking) {
  Sha256 h;
  h.update("a", 1);
  EXPECT_EQ(h.hex_digest(), sha256_hex("a"));  // peeking does not disturb the state
  h.update("bc", 2);
  EXPECT_EQ(h.hex_digest(), kAbc);
  h.reset();
  EXPECT_EQ(h.hex_digest(), kEmpty);
}

TEST(Sha256, FilePrefix) {
  const auto path =
      std::filesystem::path(::testing::TempDir()) / ("sha256_test_" + std::to_string(::getpid()));
  std::ofstream(path, std::ios::binary) << "abcdef";
  Sha256 h;
  hash_file_prefix(h, path, 3);
  EXPECT_EQ(h.hex_digest(), kAbc);
  EXPECT_THROW(hash_file_prefix(h, path, 100), SystemError);
  std::filesystem::remove(path);
}

TEST(Sha256, NormalizesDigests) {
  EXPECT_TRUE(is_sha256_hex(kAbc));
  EXPECT_FALSE(is_sha256_hex(std::string(kAbc) + "0"));
  EXPECT_FALSE(is_sha256_hex(std::string(63, '0') + "g"));
  std::string upper = kAbc;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(normalize_sha256(upper), kAbc);
  EXPECT_EQ(normalize_sha256(std::string("sha256:") + kAbc), kAbc);
  EXPECT_THROW(normalize_sha256("abc"), InvalidArgumentError);
}

}  // namespace
}  // namespace capibara::download
