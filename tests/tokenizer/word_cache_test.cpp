// The per-call word memo behind long-text encoding.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tokenizer/word_cache.hpp"

namespace capibara {
namespace {

using Ids = std::vector<int32_t>;

TEST(WordCacheTest, RemembersWordsByTheirBytes) {
  const std::string text = "hello world hello";
  WordCache cache(text.size());
  const std::string_view hello = std::string_view(text).substr(0, 5);
  const std::string_view world = std::string_view(text).substr(6, 5);
  Ids out{7};
  EXPECT_FALSE(cache.lookup(hello, out));
  cache.remember(hello, Ids{1, 2});
  cache.remember(world, Ids{3});
  cache.remember(hello, Ids{9});  // already known: ignored
  EXPECT_TRUE(cache.lookup(std::string_view(text).substr(12, 5), out));
  EXPECT_TRUE(cache.lookup(world, out));
  EXPECT_FALSE(cache.lookup("hell", out));
  EXPECT_EQ(out, (Ids{7, 1, 2, 3}));
  cache.remember("", Ids{});
  EXPECT_TRUE(cache.lookup("", out));
  EXPECT_EQ(out, (Ids{7, 1, 2, 3}));
}

TEST(WordCacheTest, StopsRememberingWhenHalfFull) {
  std::vector<std::string> words;
  for (int i = 0; i < 1000; ++i) words.push_back("w" + std::to_string(i));
  WordCache cache(0);  // the smallest table: 64 slots
  for (size_t i = 0; i < words.size(); ++i) cache.remember(words[i], Ids{static_cast<int>(i)});
  Ids out;
  size_t remembered = 0;
  for (const std::string& w : words) remembered += cache.lookup(w, out) ? 1 : 0;
  EXPECT_EQ(remembered, 32u);
  EXPECT_EQ(out.size(), 32u);
}

TEST(WordCacheTest, HashSpreadsShortStrings) {
  EXPECT_NE(hash_bytes("a"), hash_bytes("b"));
  EXPECT_NE(hash_bytes(""), hash_bytes(std::string(1, '\0')));
  EXPECT_NE(hash_bytes("abcdefgh"), hash_bytes(std::string("abcdefgh\0", 9)));
  EXPECT_EQ(hash_bytes("tokenizer"), hash_bytes(std::string("tokenizer")));
}

}  // namespace
}  // namespace capibara
