// The SentencePiece algorithm and the Tokenizer API on hand-built vocabularies.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "gguf/gguf_file.hpp"
#include "gguf/gguf_writer.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/toy_vocab.hpp"

namespace capibara {
namespace {

using testing::ToyVocab;
using Ids = std::vector<int32_t>;

const std::string kSp = "\xE2\x96\x81";  // "▁"

TEST(SpmTest, HigherScoreMergesFirst) {
  ToyVocab v;
  const int32_t a = v.add("a");
  v.add("b");
  const int32_t c = v.add("c");
  const int32_t ab = v.add("ab", -1.0f);
  const int32_t bc = v.add("bc", -0.5f);
  v.spec.add_space_prefix = false;
  EXPECT_EQ(Tokenizer(v.spec).encode("abc", false, false), (Ids{a, bc}));

  v.spec.scores[static_cast<size_t>(ab)] = -0.2f;
  EXPECT_EQ(Tokenizer(v.spec).encode("abc", false, false), (Ids{ab, c}));
}

TEST(SpmTest, EqualScoresMergeLeftmostFirst) {
  ToyVocab v;
  const int32_t a = v.add("a");
  v.add("b");
  const int32_t c = v.add("c");
  const int32_t ab = v.add("ab", -1.0f);
  const int32_t bc = v.add("bc", -1.0f);
  const int32_t aa = v.add("aa", -1.0f);
  v.spec.add_space_prefix = false;
  const Tokenizer tok(v.spec);
  EXPECT_EQ(tok.encode("abc", false, false), (Ids{ab, c}));
  EXPECT_EQ(tok.encode("aaa", false, false), (Ids{aa, a}));
  EXPECT_EQ(tok.encode("bc", false, false), (Ids{bc}));
}

TEST(SpmTest, MergesChainIntoLongerTokens) {
  ToyVocab v;
  v.add("a");
  v.add("b");
  v.add("c");
  v.add("ab", -2.0f);
  const int32_t abc = v.add("abc", -3.0f);
  v.spec.add_space_prefix = false;
  EXPECT_EQ(Tokenizer(v.spec).encode("abc", false, false), (Ids{abc}));
}

TEST(SpmTest, SpacesAreEscapedAndPrefixed) {
  ToyVocab v;
  const int32_t sp = v.add(kSp, -5.0f);
  const int32_t sp_a = v.add(kSp + "a", -1.0f);
  const int32_t b = v.add("b");
  v.add("a");
  const Tokenizer tok(v.spec);
  EXPECT_TRUE(tok.add_space_prefix());
  EXPECT_EQ(tok.encode("a", false, false), (Ids{sp_a}));
  EXPECT_EQ(tok.encode("a b", false, false), (Ids{sp_a, sp, b}));
  EXPECT_EQ(tok.encode(" a", false, false), (Ids{sp, sp_a}));
  EXPECT_EQ(tok.encode("", false, false), (Ids{}));
  EXPECT_EQ(tok.encode("", true, false), (Ids{1}));

  TokenizerSpec no_prefix = v.spec;
  no_prefix.add_space_prefix = false;
  const Tokenizer tok2(no_prefix);
  EXPECT_EQ(tok2.encode("a b", false, false), (Ids{tok2.find_token("a"), sp, b}));
}

TEST(SpmTest, UnknownCharactersFallBackToBytes) {
  ToyVocab v;
  const int32_t a = v.add("a");
  v.spec.add_space_prefix = false;
  const Tokenizer tok(v.spec);
  // "é" = C3 A9, not in the vocabulary.
  EXPECT_EQ(tok.encode("a\xC3\xA9", false, false),
            (Ids{a, ToyVocab::byte(0xC3), ToyVocab::byte(0xA9)}));
  // A stray continuation byte and a truncated sequence are characters of their own.
  EXPECT_EQ(tok.encode("\x80", false, false), (Ids{ToyVocab::byte(0x80)}));
  EXPECT_EQ(tok.encode("\xE2\x96", false, false),
            (Ids{ToyVocab::byte(0xE2), ToyVocab::byte(0x96)}));
}

TEST(SpmTest, WithoutByteTokensUnknownIsUsed) {
  ToyVocab v(/*with_bytes=*/false);
  const int32_t a = v.add("a");
  v.spec.add_space_prefix = false;
  const Tokenizer tok(v.spec);
  EXPECT_EQ(tok.encode("a\xC3\xA9", false, false), (Ids{a, 0, 0}));
}

TEST(SpmTest, AddSpecialFollowsMetadata) {
  ToyVocab v;
  const int32_t sp_a = v.add(kSp + "a");
  {
    const Tokenizer tok(v.spec);
    EXPECT_TRUE(tok.add_bos());
    EXPECT_FALSE(tok.add_eos());
    EXPECT_EQ(tok.encode("a", true, false), (Ids{1, sp_a}));
  }
  v.spec.add_bos = false;
  v.spec.add_eos = true;
  const Tokenizer tok(v.spec);
  EXPECT_EQ(tok.encode("a", true, false), (Ids{sp_a, 2}));
  EXPECT_EQ(tok.encode("a", false, false), (Ids{sp_a}));
}

TEST(SpmTest, SpecialTokensAreParsedOnlyWhenAsked) {
  ToyVocab v;
  const int32_t im_end = v.add("<|im_end|>", 0.0f, TokenType::kControl);
  const int32_t tool = v.add("<tool>", 0.0f, TokenType::kUserDefined);
  const int32_t sp_a = v.add(kSp + "a");
  for (const char c : std::string("<|>_imendtol")) {
    if (c != 'm' && c != 'e') v.add(std::string(1, c));  // 'm' and 'e' fall back to bytes
  }
  const Tokenizer tok(v.spec);

  // Parsed: after a special token the text gets the "▁" prefix again.
  EXPECT_EQ(tok.encode("a<|im_end|>a", false, true), (Ids{sp_a, im_end, sp_a}));
  EXPECT_EQ(tok.encode("<s>a", false, true), (Ids{1, sp_a}));
  // Not parsed: the control token's text is plain text.
  const Ids plain = tok.encode("a<|im_end|>", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), im_end), 0);
  EXPECT_EQ(tok.decode(plain), "a<|im_end|>");
  // User-defined tokens are matched either way (llama.cpp, after Hugging Face tokenizers).
  EXPECT_EQ(tok.encode("<tool>a", false, false), (Ids{tool, sp_a}));
  EXPECT_EQ(tok.encode("a<tool>", false, false), (Ids{sp_a, tool}));
}

TEST(SpmTest, LongestSpecialTokenWins) {
  ToyVocab v;
  const int32_t end = v.add("<|end|>", 0.0f, TokenType::kControl);
  const int32_t eot = v.add("<|endoftext|>", 0.0f, TokenType::kControl);
  const Tokenizer tok(v.spec);
  EXPECT_EQ(tok.encode("<|endoftext|><|end|>", false, true), (Ids{eot, end}));
}

TEST(SpmTest, Phi3StripsWhitespaceAfterSpecialTokens) {
  ToyVocab v;
  const int32_t user = v.add("<|user|>", 0.0f, TokenType::kControl);
  const int32_t sp_a = v.add(kSp + "a");
  const int32_t sp = v.add(kSp, -1.0f);
  v.add("a");
  {
    const Tokenizer tok(v.spec);
    EXPECT_EQ(tok.encode("<|user|> a", false, true), (Ids{user, sp, sp_a}));
  }
  v.spec.model_name = "Phi3";
  const Tokenizer tok(v.spec);
  EXPECT_EQ(tok.encode("<|user|> \n a", false, true), (Ids{user, sp_a}));
}

TEST(SpmTest, PiecesAndDecode) {
  ToyVocab v;
  const int32_t sp_hello = v.add(kSp + "Hello");
  const int32_t sp_world = v.add(kSp + "world");
  const int32_t tool = v.add("<tool>", 0.0f, TokenType::kUserDefined);
  const int32_t unused = v.add("<unused0>", 0.0f, TokenType::kUnused);
  const Tokenizer tok(v.spec);

  EXPECT_EQ(tok.token_to_piece(sp_hello), " Hello");
  EXPECT_EQ(tok.token_to_piece(ToyVocab::byte(0x0A)), "\n");
  EXPECT_EQ(tok.token_to_piece(1), "");
  EXPECT_EQ(tok.token_to_piece(1, true), "<s>");
  EXPECT_EQ(tok.token_to_piece(0), "");
  EXPECT_EQ(tok.token_to_piece(0, true), "<unk>");
  EXPECT_EQ(tok.token_to_piece(tool), "<tool>");
  EXPECT_EQ(tok.token_to_piece(unused, true), "");
  EXPECT_EQ(tok.token_to_piece(-1), "");
  EXPECT_EQ(tok.token_to_piece(tok.n_vocab()), "");
  EXPECT_EQ(tok.token_text(sp_hello), kSp + "Hello");
  EXPECT_EQ(tok.token_text(99999), "");

  const Ids ids = {1, sp_hello, sp_world, ToyVocab::byte(0x0A), 2};
  EXPECT_EQ(tok.decode(ids), "Hello world\n");
  EXPECT_EQ(tok.decode(ids, true), "<s>Hello world\n</s>");
  EXPECT_EQ(tok.decode(std::span<const int32_t>(ids).subspan(1)), "Hello world\n");
  EXPECT_EQ(tok.decode(std::span<const int32_t>(ids).subspan(2)), "world\n");
  EXPECT_EQ(tok.decode({}), "");
}

TEST(SpmTest, EndOfGenerationTokens) {
  ToyVocab v;
  const int32_t im_end = v.add("<|im_end|>");  // typed normal: detected by text, made control
  const int32_t im_start = v.add("<|im_start|>", 0.0f, TokenType::kControl);
  const int32_t eot = v.add("<|eot_id|>", 0.0f, TokenType::kControl);
  const int32_t word = v.add("word");
  {
    const Tokenizer tok(v.spec);
    EXPECT_TRUE(tok.is_eog(2));
    EXPECT_TRUE(tok.is_eog(im_end));
    EXPECT_TRUE(tok.is_control(im_end));
    EXPECT_TRUE(tok.is_eog(eot));
    EXPECT_FALSE(tok.is_eog(im_start));
    EXPECT_FALSE(tok.is_eog(word));
    EXPECT_FALSE(tok.is_eog(1));
    EXPECT_FALSE(tok.is_eog(-1));
    EXPECT_TRUE(tok.is_control(1));
    EXPECT_FALSE(tok.is_control(word));
    EXPECT_EQ(tok.token_type(im_end), TokenType::kNormal);  // the file's type is kept
    EXPECT_EQ(tok.token_to_piece(im_end), "");              // but it renders as control
    // First detected by text, in id order.
    EXPECT_EQ(tok.eot_id(), im_end);
  }
  v.spec.eot_id = word;
  v.spec.eos_id = im_start;
  const Tokenizer tok(v.spec);
  EXPECT_EQ(tok.eot_id(), word);
  EXPECT_EQ(tok.eos_id(), im_start);
  EXPECT_TRUE(tok.is_eog(word));
  EXPECT_TRUE(tok.is_eog(im_start));
  EXPECT_TRUE(tok.is_eog(2));  // "</s>" ends generation by its text
}

TEST(SpmTest, SpecialIdsDefaultsAndSentinels) {
  ToyVocab v;
  v.spec.pad_id = 0xFFFFFFFFLL;
  v.spec.sep_id = -1;
  const Tokenizer tok(v.spec);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_EQ(tok.unk_id(), 0);
  EXPECT_EQ(tok.pad_id(), -1);
  EXPECT_EQ(tok.kind(), TokenizerKind::kSpm);
}

TEST(SpmTest, InconsistentMetadataIsRejected) {
  {
    ToyVocab v;
    v.spec.scores.pop_back();
    EXPECT_THROW(Tokenizer{v.spec}, FormatError);
  }
  {
    ToyVocab v;
    v.spec.token_types.push_back(1);
    EXPECT_THROW(Tokenizer{v.spec}, FormatError);
  }
  {
    ToyVocab v;
    v.spec.bos_id = 100000;
    EXPECT_THROW(Tokenizer{v.spec}, FormatError);
  }
  {
    ToyVocab v;
    v.add("a");
    v.add("a");
    EXPECT_THROW(Tokenizer{v.spec}, FormatError);
  }
  {
    ToyVocab v;
    v.spec.bos_id = -1;  // no BOS, but add_bos defaults to true
    EXPECT_THROW(Tokenizer{v.spec}, FormatError);
    v.spec.add_bos = false;
    EXPECT_NO_THROW(Tokenizer{v.spec});
  }
  {
    ToyVocab v;
    v.add("<0xZZ>", 0.0f, TokenType::kByte);
    EXPECT_THROW(Tokenizer{v.spec}, FormatError);
  }
  {
    TokenizerSpec empty;
    EXPECT_THROW(Tokenizer{empty}, FormatError);
  }
  {
    ToyVocab v;
    v.spec.model = "t5";
    EXPECT_THROW(Tokenizer{v.spec}, UnsupportedError);
    v.spec.model = "gpt2";  // without merges
    EXPECT_THROW(Tokenizer{v.spec}, FormatError);
  }
}

std::vector<uint8_t> toy_gguf(const ToyVocab& v, bool break_tokens = false) {
  gguf::GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("tokenizer.ggml.model", v.spec.model);
  if (break_tokens) {
    w.set_f32s("tokenizer.ggml.tokens", v.spec.scores);
  } else {
    w.set_strings("tokenizer.ggml.tokens", v.spec.tokens);
  }
  w.set_f32s("tokenizer.ggml.scores", v.spec.scores);
  w.set_i32s("tokenizer.ggml.token_type", v.spec.token_types);
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  w.set_u32("tokenizer.ggml.padding_token_id", 0xFFFFFFFFu);
  w.set_bool("tokenizer.ggml.add_bos_token", false);
  return w.to_bytes();
}

TEST(SpmTest, FromGgufReadsTheMetadata) {
  ToyVocab v;
  const int32_t sp_a = v.add(kSp + "a");
  const gguf::GgufFile file = gguf::GgufFile::from_bytes(toy_gguf(v), "toy.gguf");
  const Tokenizer tok = Tokenizer::from_gguf(file);
  EXPECT_EQ(tok.n_vocab(), static_cast<int32_t>(v.spec.tokens.size()));
  EXPECT_FALSE(tok.add_bos());
  EXPECT_EQ(tok.pad_id(), -1);
  EXPECT_EQ(tok.encode("a", true, false), (Ids{sp_a}));
  EXPECT_EQ(tok.token_type(1), TokenType::kControl);

  const gguf::GgufFile broken = gguf::GgufFile::from_bytes(toy_gguf(v, true), "broken.gguf");
  EXPECT_THROW(Tokenizer::from_gguf(broken), FormatError);

  ToyVocab t5;
  t5.spec.model = "t5";
  const gguf::GgufFile t5_file = gguf::GgufFile::from_bytes(toy_gguf(t5), "t5.gguf");
  try {
    (void)Tokenizer::from_gguf(t5_file);
    FAIL() << "expected UnsupportedError";
  } catch (const UnsupportedError& e) {
    EXPECT_NE(std::string(e.what()).find("t5.gguf"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'t5'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace capibara
