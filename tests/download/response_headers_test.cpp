// Content-Range, byte counts and sha256 entity tags as servers send them.
#include "download/response_headers.hpp"

#include <gtest/gtest.h>

namespace capibara::download {
namespace {

TEST(ContentRange, PartialContent) {
  const auto r = parse_content_range("bytes 100-199/1000");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 100u);
  EXPECT_EQ(r->last, 199u);
  EXPECT_EQ(r->complete_length_bytes, 1000u);
  const auto unknown_total = parse_content_range(" bytes 0-9/* ");
  ASSERT_TRUE(unknown_total);
  EXPECT_EQ(unknown_total->first, 0u);
  EXPECT_FALSE(unknown_total->complete_length_bytes);
}

TEST(ContentRange, Unsatisfiable) {
  const auto r = parse_content_range("bytes */1185376");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->first);
  EXPECT_EQ(r->complete_length_bytes, 1185376u);
}

TEST(ContentRange, Malformed) {
  for (const char* text : {"", "bytes", "bytes 1-2", "items 0-1/2", "bytes 5-4/10", "bytes 0-10/10",
                           "bytes a-b/c", "bytes -1/10"}) {
    EXPECT_FALSE(parse_content_range(text)) << text;
  }
}

TEST(ByteCount, Parses) {
  EXPECT_EQ(parse_byte_count("1185376"), 1185376u);
  EXPECT_EQ(parse_byte_count(" 7 "), 7u);
  EXPECT_FALSE(parse_byte_count(""));
  EXPECT_FALSE(parse_byte_count("-1"));
  EXPECT_FALSE(parse_byte_count("12x"));
  EXPECT_FALSE(parse_byte_count("99999999999999999999999"));
}

TEST(Etag, Sha256OnlyWhenItIsOne) {
  const std::string sha = "4A1D7B2f0e3c4b5a69788796a5b4c3d2e1f0011223344556677889aabbccddee";
  EXPECT_EQ(sha256_from_etag("\"" + sha + "\""),
            "4a1d7b2f0e3c4b5a69788796a5b4c3d2e1f0011223344556677889aabbccddee");
  EXPECT_EQ(sha256_from_etag(sha), sha256_from_etag("\"" + sha + "\""));
  EXPECT_FALSE(sha256_from_etag("W/\"" + sha + "\""));  // weak: not about the bytes
  EXPECT_FALSE(sha256_from_etag("\"d41d8cd98f00b204e9800998ecf8427e\""));          // md5-like
  EXPECT_FALSE(sha256_from_etag("\"a3f5c1b2e4d6f7089a1b2c3d4e5f60718293a4b5\""));  // git sha1
  EXPECT_FALSE(sha256_from_etag("\"5f1a-3e8\""));
}

}  // namespace
}  // namespace capibara::download
