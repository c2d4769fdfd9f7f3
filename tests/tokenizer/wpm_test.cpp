// The WordPiece algorithm (BERT's normalizer, word splitting, greedy longest match) on a
// hand-built vocabulary in llama.cpp's converted form ("▁" starts a word, no "##").
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "tokenizer/tokenizer.hpp"

namespace capibara {
namespace {

using Ids = std::vector<int32_t>;

const std::string kSp = "\xE2\x96\x81";  // "▁"

struct ToyWpm {
  TokenizerSpec spec;

  ToyWpm() {
    spec.model = "bert";
    spec.unk_id = add("[UNK]", TokenType::kUnknown);
    spec.bos_id = add("[CLS]", TokenType::kControl);
    spec.sep_id = add("[SEP]", TokenType::kControl);
    spec.pad_id = -1;
  }
  int32_t add(std::string text, TokenType type = TokenType::kNormal) {
    spec.tokens.push_back(std::move(text));
    spec.token_types.push_back(static_cast<int32_t>(type));
    return static_cast<int32_t>(spec.tokens.size() - 1);
  }
};

TEST(WpmTest, GreedyLongestMatch) {
  ToyWpm v;
  const int32_t un = v.add(kSp + "un");
  const int32_t una = v.add(kSp + "una");
  const int32_t aff = v.add("aff");
  const int32_t ff = v.add("ff");
  const int32_t able = v.add("able");
  const Tokenizer tok(v.spec);
  // Longest first: "▁una" wins over "▁un", even though "▁un" + "aff" would also spell it.
  EXPECT_EQ(tok.encode("unaffable", false, false), (Ids{una, ff, able}));
  // No backtracking: after "▁una", "ble" has no piece, so the word is [UNK] although
  // "▁un" + "able" would spell it.
  EXPECT_EQ(tok.encode("unable", false, false), (Ids{0}));
  EXPECT_EQ(tok.encode("un aff", false, false), (Ids{un, 0}));  // "▁aff" is not a piece
  (void)aff;
}

TEST(WpmTest, UnknownWordsBecomeUnk) {
  ToyWpm v;
  const int32_t hello = v.add(kSp + "hello");
  const int32_t h = v.add(kSp + "h");
  const Tokenizer tok(v.spec);
  // "hx" starts with "▁h" but "x" has no piece: the whole word is [UNK], not "▁h" + [UNK].
  EXPECT_EQ(tok.encode("hello hx hello", false, false), (Ids{hello, 0, hello}));
  (void)h;
}

TEST(WpmTest, NormalizationAndSplitting) {
  ToyWpm v;
  const int32_t hello = v.add(kSp + "hello");
  const int32_t world = v.add(kSp + "world");
  const int32_t comma = v.add(kSp + ",");
  const int32_t bang = v.add(kSp + "!");
  const int32_t dollar = v.add(kSp + "$");
  const int32_t zhong = v.add(kSp + "\xE4\xB8\xAD");  // 中
  const int32_t wen = v.add(kSp + "\xE6\x96\x87");    // 文
  const int32_t cafe = v.add(kSp + "cafe");
  const Tokenizer tok(v.spec);
  // Lowercase, punctuation and ASCII symbols as words of their own.
  EXPECT_EQ(tok.encode("Hello,WORLD!$", false, false), (Ids{hello, comma, world, bang, dollar}));
  // CJK ideographs are words of their own.
  EXPECT_EQ(tok.encode("\xE4\xB8\xAD\xE6\x96\x87", false, false), (Ids{zhong, wen}));
  // Accents are stripped (NFD, then marks dropped), precomposed or not.
  EXPECT_EQ(tok.encode("Caf\xC3\xA9 cafe\xCC\x81", false, false), (Ids{cafe, cafe}));
  // Control characters, NUL and U+FFFD vanish; any White_Space separates words.
  EXPECT_EQ(tok.encode(std::string("hel\x01lo\xEF\xBF\xBD\t\xE3\x80\x80world\0", 19), false, false),
            (Ids{hello, world}));
  EXPECT_EQ(tok.encode("", false, false), Ids{});
  EXPECT_EQ(tok.encode(" \n ", false, false), Ids{});
}

TEST(WpmTest, NormalizerOptions) {
  ToyWpm v;
  const int32_t upper = v.add(kSp + "Hello");
  const int32_t accented = v.add(kSp + "caf\xC3\xA9");
  v.spec.normalizer_lowercase = false;  // strip_accents follows lowercase unless given
  const Tokenizer tok(v.spec);
  EXPECT_EQ(tok.encode("Hello caf\xC3\xA9", false, false), (Ids{upper, accented}));
  v.spec.normalizer_strip_accents = true;
  const Tokenizer stripping(v.spec);
  EXPECT_EQ(stripping.encode("Hello caf\xC3\xA9", false, false), (Ids{upper, 0}));
}

TEST(WpmTest, SpecialTokensAndDecode) {
  ToyWpm v;
  const int32_t hello = v.add(kSp + "hello");
  const int32_t world = v.add(kSp + "world");
  const int32_t ing = v.add("ing");
  const int32_t comma = v.add(kSp + ",");
  const Tokenizer tok(v.spec);
  EXPECT_EQ(tok.encode("hello", true, false), (Ids{1, hello, 2}));
  EXPECT_EQ(tok.encode("hello [SEP] world", false, true), (Ids{hello, 2, world}));
  EXPECT_EQ(tok.encode("hello [SEP]", false, false), (Ids{hello, 0, 0, 0}));  // "[", "sep", "]"
  EXPECT_EQ(tok.piece(hello), " hello");
  EXPECT_EQ(tok.piece(ing), "ing");
  EXPECT_EQ(tok.decode(Ids{1, hello, ing, comma, world, 2}), "helloing , world");
  EXPECT_EQ(tok.decode(Ids{1, hello, world, 2}, true), "[CLS]hello world[SEP]");
  EXPECT_TRUE(tok.clean_spaces());
  EXPECT_EQ(clean_up_spaces(tok.decode(Ids{hello, comma, world})), "hello, world");

  v.spec.add_sep = false;
  EXPECT_EQ(Tokenizer(v.spec).encode("hello", true, false), (Ids{1, hello}));
  v.spec.add_sep = true;
  v.spec.sep_id = -1;
  EXPECT_THROW(Tokenizer{v.spec}, FormatError);
}

}  // namespace
}  // namespace capibara
