// Streaming detokenization and the UTF-8 helpers behind it.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gguf/gguf_file.hpp"
#include "support/shared_data.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/toy_vocab.hpp"
#include "tokenizer/utf8.hpp"

namespace capibara {
namespace {

using testing::ToyVocab;

TEST(TokenizerUtf8Test, Classify) {
  using utf8::SequenceStatus;
  EXPECT_EQ(utf8::classify("a").status, SequenceStatus::kValid);
  EXPECT_EQ(utf8::classify("\xC3\xA9").length, 2u);
  EXPECT_EQ(utf8::classify("\xF0\x9F\xA6\x99").length, 4u);
  EXPECT_EQ(utf8::classify("\xF0\x9F").status, SequenceStatus::kIncomplete);
  EXPECT_EQ(utf8::classify("\xF0\x9F"
                           "a")
                .status,
            SequenceStatus::kInvalid);
  EXPECT_EQ(utf8::classify("\xF0\x9F"
                           "a")
                .length,
            2u);
  EXPECT_EQ(utf8::classify("\xC0\xAF").status, SequenceStatus::kInvalid);      // overlong
  EXPECT_EQ(utf8::classify("\xED\xA0\x80").status, SequenceStatus::kInvalid);  // surrogate
  EXPECT_EQ(utf8::classify("\xFF").status, SequenceStatus::kInvalid);
  EXPECT_EQ(utf8::complete_prefix_length("ab\xE2\x96"), 2u);
  EXPECT_EQ(utf8::complete_prefix_length("ab\xFF"), 3u);
  std::string repaired;
  utf8::append_repaired(repaired,
                        "a\xFF"
                        "b\xE2\x96");
  EXPECT_EQ(repaired,
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD");
  EXPECT_TRUE(utf8::is_valid("h\xC3\xA9llo"));
  EXPECT_FALSE(utf8::is_valid("h\xC3"));
}

TEST(TokenizerStreamingTest, HoldsBackASplitCharacter) {
  ToyVocab v;
  const int32_t sp_capibara = v.add(
      "\xE2\x96\x81"
      "capibara");
  const Tokenizer tok(v.spec);
  // "🦙" = F0 9F A6 99, spelled as four byte tokens.
  const std::vector<int32_t> ids = {sp_capibara,          ToyVocab::byte(0xF0),
                                    ToyVocab::byte(0x9F), ToyVocab::byte(0xA6),
                                    ToyVocab::byte(0x99), 2};
  StreamingDecoder stream(tok);
  EXPECT_EQ(stream.push(ids[0]), " capibara");
  EXPECT_EQ(stream.push(ids[1]), "");
  EXPECT_EQ(stream.push(ids[2]), "");
  EXPECT_EQ(stream.push(ids[3]), "");
  EXPECT_EQ(stream.push(ids[4]), "\xF0\x9F\xA6\x99");
  EXPECT_EQ(stream.push(ids[5]), "");  // eos renders as nothing
  EXPECT_EQ(stream.flush(), "");
  EXPECT_EQ(tok.decode(ids), "capibara\xF0\x9F\xA6\x99");

  // Cut short: the unfinished character becomes U+FFFD at the end.
  StreamingDecoder cut(tok);
  EXPECT_EQ(cut.push(ToyVocab::byte(0xC3)), "");
  EXPECT_EQ(cut.flush(), "\xEF\xBF\xBD");
  EXPECT_EQ(cut.flush(), "");

  // A byte that can never start a character is replaced at once, not held forever.
  StreamingDecoder bad(tok);
  EXPECT_EQ(bad.push(ToyVocab::byte(0xFF)), "\xEF\xBF\xBD");
  EXPECT_EQ(bad.push(ToyVocab::byte(0xC3)), "");
  EXPECT_EQ(bad.push(sp_capibara), "\xEF\xBF\xBD capibara");

  StreamingDecoder special(tok, /*render_special=*/true);
  EXPECT_EQ(special.push(2), "</s>");
}

TEST(TokenizerStreamingTest, Stories260KByteFallbackRoundTrip) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const gguf::GgufFile file = gguf::GgufFile::open(shared / "models" / "stories260K.gguf");
  const Tokenizer tok = Tokenizer::from_gguf(file);
  const std::string text = "capibara \xC3\xB1 \xF0\x9F\xA6\x99!";  // "capibara ñ 🦙!"
  const std::vector<int32_t> ids = tok.encode(text, true, false);
  EXPECT_EQ(tok.decode(ids), text);

  StreamingDecoder stream(tok);
  std::string streamed;
  for (const int32_t id : ids) {
    const std::string piece = stream.push(id);
    EXPECT_TRUE(utf8::is_valid(piece)) << "token " << id;
    streamed += piece;
  }
  streamed += stream.flush();
  EXPECT_EQ(streamed, " " + text);  // the stream keeps SPM's leading space
}

}  // namespace
}  // namespace capibara
