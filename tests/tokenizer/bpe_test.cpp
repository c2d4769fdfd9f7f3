// The byte-level BPE algorithm and its byte mapping on hand-built vocabularies.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "gguf/gguf_file.hpp"
#include "gguf/gguf_writer.hpp"
#include "tokenizer/bpe.hpp"
#include "tokenizer/tokenizer.hpp"

namespace capibara {
namespace {

using Ids = std::vector<int32_t>;

const std::string kG = "\xC4\xA0";  // "Ġ": the byte-level character for ' '

// A byte-level vocabulary: tokens by text, merges in rank order.
struct ToyBpe {
  TokenizerSpec spec;

  ToyBpe() {
    spec.model = "gpt2";
    spec.pre = "gpt-2";
    spec.merges.emplace();
  }
  int32_t add(std::string text, TokenType type = TokenType::kNormal) {
    spec.tokens.push_back(std::move(text));
    spec.token_types.push_back(static_cast<int32_t>(type));
    return static_cast<int32_t>(spec.tokens.size() - 1);
  }
  void merge(std::string m) { spec.merges->push_back(std::move(m)); }
};

TEST(ByteLevelTest, Mapping) {
  EXPECT_EQ(byte_level::encode_byte('a'), "a");
  EXPECT_EQ(byte_level::encode_byte(' '), kG);
  EXPECT_EQ(byte_level::encode_byte('\n'), "\xC4\x8A");  // Ċ
  EXPECT_EQ(byte_level::encode_byte(0x00), "\xC4\x80");  // Ā = U+0100
  EXPECT_EQ(byte_level::encode_byte(0xAD), "\xC5\x83");  // soft hyphen -> U+0143, the last
  EXPECT_EQ(byte_level::encode_byte(0xE9), "\xC3\xA9");  // é stands for itself
  EXPECT_EQ(byte_level::decode_codepoint(0x120), ' ');
  EXPECT_EQ(byte_level::decode_codepoint('~'), '~');
  EXPECT_EQ(byte_level::decode_codepoint(0x144), -1);
  EXPECT_EQ(byte_level::decode_codepoint(0x20AC), -1);
  for (int b = 0; b < 256; ++b) {
    const std::string text(byte_level::encode_byte(static_cast<uint8_t>(b)));
    EXPECT_EQ(byte_level::decode_text(text), std::string(1, static_cast<char>(b))) << b;
  }
  EXPECT_EQ(byte_level::decode_text(kG + "hello" + kG), " hello ");
  // A character outside the mapping: llama.cpp's marker, with the whole text inside.
  EXPECT_EQ(byte_level::decode_text("x\xE2\x82\xAC"), "x[UNK_BYTE_0xe282acx\xE2\x82\xAC]");
}

TEST(BpeTest, LowestRankMergesFirst) {
  ToyBpe v;
  const int32_t a = v.add("a");
  v.add("b");
  const int32_t c = v.add("c");
  const int32_t ab = v.add("ab");
  const int32_t bc = v.add("bc");
  const int32_t abc = v.add("abc");
  v.merge("b c");
  v.merge("a b");
  EXPECT_EQ(Tokenizer(v.spec).encode("abc", false, false), (Ids{a, bc}));
  v.spec.merges->push_back("a bc");
  EXPECT_EQ(Tokenizer(v.spec).encode("abc", false, false), (Ids{abc}));
  std::swap((*v.spec.merges)[0], (*v.spec.merges)[1]);  // "a b" first now
  EXPECT_EQ(Tokenizer(v.spec).encode("abc", false, false), (Ids{ab, c}));
}

TEST(BpeTest, EqualRanksMergeLeftmostFirst) {
  ToyBpe v;
  const int32_t a = v.add("a");
  const int32_t aa = v.add("aa");
  v.merge("a a");
  const Tokenizer tok(v.spec);
  EXPECT_EQ(tok.encode("aaa", false, false), (Ids{aa, a}));
  EXPECT_EQ(tok.encode("aaaa", false, false), (Ids{aa, aa}));
}

TEST(BpeTest, RepeatedMergeKeepsItsFirstRank) {
  ToyBpe v;
  v.add("a");
  v.add("b");
  const int32_t c = v.add("c");
  const int32_t ab = v.add("ab");
  v.add("bc");
  v.merge("a b");
  v.merge("b c");
  v.merge("a b");  // ignored: "a b" keeps rank 0
  EXPECT_EQ(Tokenizer(v.spec).encode("abc", false, false), (Ids{ab, c}));
}

TEST(BpeTest, WordsAreMergedSeparately) {
  ToyBpe v;
  const int32_t h = v.add("h");
  v.add("i");
  const int32_t sp = v.add(kG);
  const int32_t hi = v.add("hi");
  const int32_t sp_hi = v.add(kG + "hi");
  v.merge("h i");
  v.merge(kG + " hi");
  v.merge("i " + kG);  // never used: "i" and " " are in different words
  const Tokenizer tok(v.spec);
  EXPECT_EQ(tok.encode("hi hi", false, false), (Ids{hi, sp_hi}));
  EXPECT_EQ(tok.encode("hi  h", false, false), (Ids{hi, sp, sp, h}));
  EXPECT_EQ(tok.decode(tok.encode("hi  h", false, false)), "hi  h");
}

TEST(BpeTest, MergeResultsOutsideTheVocabulary) {
  ToyBpe v;
  const int32_t a = v.add("a");
  const int32_t b = v.add("b");
  const int32_t c = v.add("c");
  const int32_t d = v.add("d");
  const int32_t abc = v.add("abc");
  v.merge("a b");  // "ab" is not a token
  v.merge("ab c");
  const Tokenizer tok(v.spec);
  EXPECT_EQ(tok.encode("abc", false, false), (Ids{abc}));
  // The dangling "ab" falls back to one-byte tokens, as llama.cpp does.
  EXPECT_EQ(tok.encode("abd", false, false), (Ids{a, b, d}));
  (void)c;
}

TEST(BpeTest, BytesWithoutATokenAreDropped) {
  ToyBpe v;
  const int32_t a = v.add("a");
  const Tokenizer tok(v.spec);
  EXPECT_EQ(tok.encode("axa", false, false), (Ids{a, a}));
}

TEST(BpeTest, InvalidUtf8BecomesReplacementCharacter) {
  ToyBpe v;
  const int32_t a = v.add("a");
  // U+FFFD is EF BF BD, whose byte-level characters are "ï", "¿", "½".
  const int32_t fffd = v.add("\xC3\xAF\xC2\xBF\xC2\xBD");
  v.add("\xC3\xAF");
  v.add("\xC2\xBF");
  v.add("\xC2\xBD");
  v.add("\xC3\xAF\xC2\xBF");
  v.merge("\xC3\xAF \xC2\xBF");
  v.merge("\xC3\xAF\xC2\xBF \xC2\xBD");
  const Tokenizer tok(v.spec);
  EXPECT_EQ(tok.encode("a\xFF", false, false), (Ids{a, fffd}));
  EXPECT_EQ(tok.decode(tok.encode("a\xFF", false, false)), "a\xEF\xBF\xBD");
}

TEST(BpeTest, Llama3IgnoresMergesForWholeTokens) {
  ToyBpe v;
  v.spec.pre = "llama-bpe";
  const int32_t bos = v.add("<|begin_of_text|>", TokenType::kControl);
  const int32_t h = v.add("h");
  const int32_t e = v.add("e");
  const int32_t hello = v.add("hello");
  v.add("l");
  v.add("o");
  v.spec.bos_id = bos;
  const Tokenizer tok(v.spec);
  EXPECT_TRUE(tok.add_bos());  // Llama 3's default
  EXPECT_EQ(tok.encode("hello", true, false), (Ids{bos, hello}));
  EXPECT_EQ(tok.encode("he", false, false), (Ids{h, e}));
}

TEST(BpeTest, PiecesAndDecode) {
  ToyBpe v;
  const int32_t sp_a = v.add(kG + "a");
  const int32_t nl = v.add("\xC4\x8A");
  const int32_t eot = v.add("<|endoftext|>", TokenType::kControl);
  const int32_t user = v.add("<tool>", TokenType::kUserDefined);
  const int32_t byte = v.add("<0x41>", TokenType::kByte);
  const int32_t euro = v.add("\xE2\x82\xAC");  // not byte-level text
  v.merge(kG + " a");
  const Tokenizer tok(v.spec);
  EXPECT_EQ(tok.piece(sp_a), " a");
  EXPECT_EQ(tok.piece(nl), "\n");
  EXPECT_EQ(tok.piece(eot), "");
  EXPECT_EQ(tok.piece(eot, true), "<|endoftext|>");
  EXPECT_EQ(tok.piece(user), "<tool>");
  EXPECT_EQ(tok.piece(byte), "A");
  EXPECT_EQ(tok.piece(euro), "[UNK_BYTE_0xe282ac\xE2\x82\xAC]");
  EXPECT_EQ(tok.decode(Ids{sp_a, nl, eot, sp_a}), " a\n a");  // no space is removed for BPE
  EXPECT_EQ(tok.decode(Ids{sp_a, nl, eot, sp_a}, true), " a\n<|endoftext|> a");
  // User-defined tokens are matched in the text even without `parse_special`.
  EXPECT_EQ(tok.encode(" a<tool>", false, false), (Ids{sp_a, user}));
}

TEST(BpeTest, JinaMaskEatsTheSpaceBeforeIt) {
  ToyBpe v;
  const int32_t a = v.add("a");
  const int32_t sp = v.add(kG);
  const int32_t mask = v.add("<mask>", TokenType::kControl);
  v.spec.pre = "jina-v2-es";
  EXPECT_EQ(Tokenizer(v.spec).encode("a <mask>", false, true), (Ids{a, mask}));
  v.spec.pre = "gpt-2";
  EXPECT_EQ(Tokenizer(v.spec).encode("a <mask>", false, true), (Ids{a, sp, mask}));
}

TEST(BpeTest, MetadataChecks) {
  ToyBpe v;
  v.add("a");
  v.spec.pre = "no-such-pre-tokenizer";
  try {
    (void)Tokenizer(v.spec);
    FAIL() << "expected UnsupportedError";
  } catch (const UnsupportedError& e) {
    EXPECT_NE(std::string(e.what()).find("'no-such-pre-tokenizer'"), std::string::npos);
  }
  v.spec.pre = "";
  {
    const Tokenizer tok(v.spec);
    EXPECT_EQ(tok.pre_tokenizer(), "default");
    EXPECT_EQ(tok.warnings().size(), 1u);
  }
  v.spec.merges.reset();
  EXPECT_THROW(Tokenizer{v.spec}, FormatError);
  v.spec.merges.emplace();
  v.spec.add_bos = true;  // no BOS: llama.cpp's default id 11 is outside this vocabulary
  EXPECT_THROW(Tokenizer{v.spec}, FormatError);
}

TEST(BpeTest, FromGgufReadsMergesAndPre) {
  gguf::GgufWriter w;
  w.set_string("general.architecture", "gpt2");
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", "qwen2");
  w.set_strings("tokenizer.ggml.tokens", {"a", "b", "ab", "1"});
  w.set_strings("tokenizer.ggml.merges", {"a b"});
  const gguf::GgufFile file = gguf::GgufFile::from_bytes(w.to_bytes(), "toy.gguf");
  const Tokenizer tok = Tokenizer::from_gguf(file);
  EXPECT_EQ(tok.kind(), TokenizerKind::kBpe);
  EXPECT_EQ(tok.pre_tokenizer(), "qwen2");
  EXPECT_FALSE(tok.clean_spaces());
  EXPECT_EQ(tok.encode("ab11", false, false), (Ids{2, 3, 3}));
}

TEST(CleanUpSpacesTest, LlamaCppPasses) {
  EXPECT_EQ(clean_up_spaces("Hello , world ! Is it ? Yes ."), "Hello, world! Is it? Yes.");
  EXPECT_EQ(clean_up_spaces("it ' s"), "it's");
  EXPECT_EQ(clean_up_spaces("a ' ' b"), "a'' b");
  EXPECT_EQ(clean_up_spaces("he 's , we 're , I 'm , you 've , don 't , I 'd , we 'll"),
            "he's, we're, I'm, you've, don 't, I 'd, we 'll");
  EXPECT_EQ(clean_up_spaces(""), "");
  EXPECT_EQ(clean_up_spaces(" ,"), ",");
}

}  // namespace
}  // namespace capibara
