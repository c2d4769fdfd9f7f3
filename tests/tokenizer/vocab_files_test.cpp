// llama.cpp's tokenizer test vectors (../shared/vocab/*.inp / *.out) for every vocabulary family
// (SentencePiece, byte-level BPE with its pre-tokenizers, WordPiece): encoding without BOS and
// without special-token parsing must give exactly the ids Hugging Face's tokenizers gave when the
// vectors were made.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "gguf/gguf_file.hpp"
#include "support/shared_data.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/unicode.hpp"

namespace capibara {
namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct VocabCase {
  std::string text;
  std::vector<int32_t> ids;
};

// The .inp file holds the strings separated by "\n__ggml_vocab_test__\n" (one after the last);
// the .out file one line of ids per string.
std::vector<VocabCase> read_cases(const std::filesystem::path& gguf_path) {
  const std::string inp = read_file(gguf_path.string() + ".inp");
  const std::string out = read_file(gguf_path.string() + ".out");
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<VocabCase> cases;
  for (size_t pos = 0; pos < inp.size();) {
    size_t end = inp.find(separator, pos);
    if (end == std::string::npos) end = inp.size();
    cases.push_back({inp.substr(pos, end - pos), {}});
    pos = end + separator.size();
  }
  std::istringstream lines(out);
  std::string line;
  for (VocabCase& c : cases) {
    if (!std::getline(lines, line)) break;
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) c.ids.push_back(id);
  }
  return cases;
}

std::string escaped(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += c;
    }
  }
  return out;
}

enum class RoundTrip {
  kExact,  // decode(encode(text)) == text (SentencePiece with byte fallback, byte-level BPE)
  kNone,   // lossy by design (WordPiece lowercases, strips accents and spaces)
};

void check_vocab_file(const std::string& name, RoundTrip round_trip = RoundTrip::kExact) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const std::filesystem::path path = shared / "vocab" / name;
  const gguf::GgufFile file = gguf::GgufFile::open(path);
  const Tokenizer tok = Tokenizer::from_gguf(file);
  const std::vector<VocabCase> cases = read_cases(path);
  ASSERT_GE(cases.size(), 40u);

  int mismatches = 0;
  int round_trip_failures = 0;
  for (const VocabCase& c : cases) {
    const std::vector<int32_t> ids = tok.encode(c.text, false, false);
    if (ids != c.ids && ++mismatches <= 5) {
      ADD_FAILURE() << name << ": \"" << escaped(c.text) << "\"\n  expected "
                    << ::testing::PrintToString(c.ids) << "\n  got      "
                    << ::testing::PrintToString(ids);
    }
    // SentencePiece with byte fallback is lossless on these strings: every character is either
    // a piece or bytes, and the only change is the "▁" prefix, which decode removes. Byte-level
    // BPE is lossless on any valid UTF-8.
    if (round_trip == RoundTrip::kExact && tok.decode(ids) != c.text &&
        ++round_trip_failures <= 5) {
      ADD_FAILURE() << name << ": decode(encode(\"" << escaped(c.text) << "\")) = \""
                    << escaped(tok.decode(ids)) << "\"";
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << cases.size() << " strings";
  EXPECT_EQ(round_trip_failures, 0) << "of " << cases.size() << " strings";
}

TEST(VocabFileTest, LlamaSpm) { check_vocab_file("ggml-vocab-llama-spm.gguf"); }

TEST(VocabFileTest, Phi3) { check_vocab_file("ggml-vocab-phi-3.gguf"); }

TEST(VocabFileTest, Gpt2) { check_vocab_file("ggml-vocab-gpt-2.gguf"); }

TEST(VocabFileTest, Starcoder) { check_vocab_file("ggml-vocab-starcoder.gguf"); }

TEST(VocabFileTest, Falcon) { check_vocab_file("ggml-vocab-falcon.gguf"); }

TEST(VocabFileTest, DeepseekLlm) { check_vocab_file("ggml-vocab-deepseek-llm.gguf"); }

TEST(VocabFileTest, DeepseekCoder) { check_vocab_file("ggml-vocab-deepseek-coder.gguf"); }

TEST(VocabFileTest, Mpt) { check_vocab_file("ggml-vocab-mpt.gguf"); }

TEST(VocabFileTest, Refact) { check_vocab_file("ggml-vocab-refact.gguf"); }

TEST(VocabFileTest, BertBge) { check_vocab_file("ggml-vocab-bert-bge.gguf", RoundTrip::kNone); }

TEST(VocabFileTest, Phi3Specials) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const gguf::GgufFile file = gguf::GgufFile::open(shared / "vocab" / "ggml-vocab-phi-3.gguf");
  const Tokenizer tok = Tokenizer::from_gguf(file);
  EXPECT_EQ(tok.n_vocab(), 32064);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 32000);
  const int32_t user = tok.find_token("<|user|>");
  const int32_t end = tok.find_token("<|end|>");
  ASSERT_GE(user, 0);
  ASSERT_GE(end, 0);
  EXPECT_TRUE(tok.is_eog(end));
  EXPECT_TRUE(tok.is_eog(32000));
  EXPECT_FALSE(tok.is_eog(user));
  // Phi-3 strips whitespace after its special tokens ("Phi3" is the model name).
  const std::vector<int32_t> ids = tok.encode("<|user|>\nHello<|end|>\n", true, true);
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(ids[0], 1);
  EXPECT_EQ(ids[1], user);
  EXPECT_EQ(tok.token_text(ids[2]), "\xE2\x96\x81Hello");
  EXPECT_EQ(ids.back(), end);
  EXPECT_EQ(tok.decode(ids, true), "<s><|user|> Hello<|end|>");
}

TEST(VocabFileTest, KindsAndPreTokenizers) {
  CAPIBARA_REQUIRE_SHARED(shared);
  struct Expected {
    const char* file;
    TokenizerKind kind;
    const char* pre;
  };
  for (const Expected& e :
       {Expected{"ggml-vocab-llama-spm.gguf", TokenizerKind::kSpm, ""},
        Expected{"ggml-vocab-gpt-2.gguf", TokenizerKind::kBpe, "gpt-2"},
        Expected{"ggml-vocab-deepseek-llm.gguf", TokenizerKind::kBpe, "deepseek-llm"},
        Expected{"ggml-vocab-bert-bge.gguf", TokenizerKind::kWpm, ""}}) {
    SCOPED_TRACE(e.file);
    const gguf::GgufFile file = gguf::GgufFile::open(shared / "vocab" / e.file);
    const Tokenizer tok = Tokenizer::from_gguf(file);
    EXPECT_EQ(tok.kind(), e.kind);
    EXPECT_EQ(tok.pre_tokenizer(), e.pre);
    EXPECT_TRUE(tok.warnings().empty());
  }
}

// gpt-neox names no pre-tokenizer: like llama.cpp, capibara falls back to "default" and warns.
// There are no test vectors; the vocabulary must load and round-trip.
TEST(VocabFileTest, GptNeoxLoadsWithTheDefaultPreTokenizer) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const gguf::GgufFile file = gguf::GgufFile::open(shared / "vocab" / "ggml-vocab-gpt-neox.gguf");
  const Tokenizer tok = Tokenizer::from_gguf(file);
  EXPECT_EQ(tok.kind(), TokenizerKind::kBpe);
  EXPECT_EQ(tok.pre_tokenizer(), "default");
  ASSERT_EQ(tok.warnings().size(), 1u);
  EXPECT_NE(tok.warnings()[0].find("tokenizer.ggml.pre"), std::string::npos);
  EXPECT_FALSE(tok.add_bos());
  EXPECT_EQ(tok.n_vocab(), 50432);

  const std::vector<VocabCase> cases = read_cases(shared / "vocab" / "ggml-vocab-gpt-2.gguf");
  for (const VocabCase& c : cases) {
    const std::vector<int32_t> ids = tok.encode(c.text, true, false);
    EXPECT_EQ(tok.decode(ids), c.text) << escaped(c.text);
  }
  // Runs of spaces are user-defined tokens, matched before BPE.
  const std::vector<int32_t> ids = tok.encode("a    b", false, false);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(tok.token_text(ids[1]), "    ");
  EXPECT_EQ(tok.token_type(ids[1]), TokenType::kUserDefined);
  EXPECT_EQ(tok.decode(ids), "a    b");
}

TEST(VocabFileTest, BertSpecialTokensAndDecode) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const gguf::GgufFile file = gguf::GgufFile::open(shared / "vocab" / "ggml-vocab-bert-bge.gguf");
  const Tokenizer tok = Tokenizer::from_gguf(file);
  EXPECT_EQ(tok.bos_id(), 101);  // [CLS]
  EXPECT_EQ(tok.sep_id(), 102);  // [SEP]
  EXPECT_EQ(tok.unk_id(), 100);
  EXPECT_TRUE(tok.add_bos());
  EXPECT_TRUE(tok.add_sep());
  const std::vector<int32_t> ids = tok.encode("Hello, Wörld! unaffable", true, false);
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(ids.front(), 101);
  EXPECT_EQ(ids.back(), 102);
  EXPECT_EQ(tok.decode(ids), "hello , world ! unaffable");
  EXPECT_EQ(clean_up_spaces(tok.decode(ids)), "hello, world! unaffable");
  EXPECT_EQ(tok.decode(ids, true), "[CLS]hello , world ! unaffable[SEP]");
  // Special tokens are parsed only when asked.
  const std::vector<int32_t> parsed = tok.encode("a [SEP] b", false, true);
  EXPECT_EQ(parsed.size(), 3u);
  EXPECT_EQ(parsed[1], 102);
}

TEST(VocabFileTest, Gpt2SpecialTokensAndPieces) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const gguf::GgufFile file = gguf::GgufFile::open(shared / "vocab" / "ggml-vocab-gpt-2.gguf");
  const Tokenizer tok = Tokenizer::from_gguf(file);
  EXPECT_FALSE(tok.add_bos());
  EXPECT_TRUE(tok.clean_spaces());
  const int32_t eot = tok.find_token("<|endoftext|>");
  EXPECT_EQ(eot, 50256);
  EXPECT_TRUE(tok.is_eog(eot));
  EXPECT_TRUE(tok.is_control(eot));
  EXPECT_EQ(tok.encode("a<|endoftext|>b", false, true), (std::vector<int32_t>{64, eot, 65}));
  EXPECT_GT(tok.encode("a<|endoftext|>b", false, false).size(), 3u);
  // " Hello" is one token whose text is "ĠHello".
  const std::vector<int32_t> ids = tok.encode(" Hello\n", false, false);
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(tok.token_text(ids[0]), "\xC4\xA0Hello");
  EXPECT_EQ(tok.piece(ids[0]), " Hello");
  EXPECT_EQ(tok.piece(ids[1]), "\n");
  // A character split across byte-level tokens streams out whole.
  const std::vector<int32_t> llama = tok.encode("\xF0\x9F\xA6\x99", false, false);
  EXPECT_GT(llama.size(), 1u);
  StreamingDecoder stream(tok);
  std::string streamed;
  for (const int32_t id : llama) streamed += stream.push(id);
  streamed += stream.flush();
  EXPECT_EQ(streamed, "\xF0\x9F\xA6\x99");
}

// Long texts are encoded with a per-call word cache: a paragraph repeated must give the
// paragraph's tokens repeated (every word after the first copy is a cache hit).
TEST(VocabFileTest, LongTextsEncodeLikeShortOnes) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const std::string paragraph =
      "The quick brown fox, named Sam, jumped over 12 lazy dogs; it's true! Caf\xC3\xA9 "
      "\xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\xA6\x99 costs $3.50.";
  for (const char* name : {"ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-spm.gguf",
                           "ggml-vocab-deepseek-llm.gguf", "ggml-vocab-bert-bge.gguf"}) {
    SCOPED_TRACE(name);
    const gguf::GgufFile file = gguf::GgufFile::open(shared / "vocab" / name);
    const Tokenizer tok = Tokenizer::from_gguf(file);
    // SPM starts a text with "▁", so its copies are joined by a space; BPE and WPM by a newline.
    const std::string separator = tok.kind() == TokenizerKind::kSpm ? " " : "\n";
    std::vector<int32_t> expected;
    std::vector<int32_t> one = tok.encode(paragraph, false, false);
    if (tok.kind() == TokenizerKind::kBpe) one.push_back(tok.encode("\n", false, false).at(0));
    std::string text;
    for (int i = 0; i < 100; ++i) {
      if (i > 0) text += separator;
      text += paragraph;
      expected.insert(expected.end(), one.begin(), one.end());
    }
    if (tok.kind() == TokenizerKind::kBpe) {
      text += "\n";
    }
    ASSERT_GE(text.size(), 4096u);
    EXPECT_EQ(tok.encode(text, false, false), expected);
  }
}

// Random bytes (invalid UTF-8 included) never crash any tokenizer; byte-level BPE gives back
// the text with each undecodable byte replaced by U+FFFD, as llama.cpp's decoder sees it.
TEST(VocabFileTest, RandomBytes) {
  CAPIBARA_REQUIRE_SHARED(shared);
  std::mt19937 rng(7);
  std::vector<std::string> texts;
  const std::string alphabet = std::string("ab \n\t'1.") + "\xC3\xA9\xE4\xB8\xAD\xF0\x9F";
  for (int i = 0; i < 300; ++i) {
    std::string t;
    const size_t n = rng() % 24;
    for (size_t j = 0; j < n; ++j) {
      t.push_back(rng() % 2 == 0 ? static_cast<char>(rng() % 256)
                                 : alphabet[rng() % alphabet.size()]);
    }
    texts.push_back(t);
  }
  for (const char* name : {"ggml-vocab-gpt-2.gguf", "ggml-vocab-deepseek-llm.gguf",
                           "ggml-vocab-llama-spm.gguf", "ggml-vocab-bert-bge.gguf"}) {
    SCOPED_TRACE(name);
    const gguf::GgufFile file = gguf::GgufFile::open(shared / "vocab" / name);
    const Tokenizer tok = Tokenizer::from_gguf(file);
    for (const std::string& t : texts) {
      const std::vector<int32_t> ids = tok.encode(t, true, true);
      for (const int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok.n_vocab());
      if (tok.kind() != TokenizerKind::kBpe) continue;
      std::vector<uint32_t> cps;
      unicode::decode_utf8(t, cps);
      std::string expected;
      for (const uint32_t cp : cps) unicode::append_utf8(expected, cp);
      EXPECT_EQ(tok.decode(ids), expected) << ::testing::PrintToString(t);
    }
  }
}

TEST(VocabFileTest, BpeRoundTripsArbitraryText) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const std::string text =
      "Mixed: caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 123456789 \t\ttabs\r\n"
      "  spaces   \xF0\x9F\x98\x80!! it's WE'LL <tag> x=1+2; \xE2\x80\x94 \xC2\xA0nbsp";
  for (const char* name :
       {"ggml-vocab-gpt-2.gguf", "ggml-vocab-starcoder.gguf", "ggml-vocab-falcon.gguf",
        "ggml-vocab-deepseek-llm.gguf", "ggml-vocab-deepseek-coder.gguf", "ggml-vocab-mpt.gguf",
        "ggml-vocab-refact.gguf", "ggml-vocab-gpt-neox.gguf"}) {
    SCOPED_TRACE(name);
    const gguf::GgufFile file = gguf::GgufFile::open(shared / "vocab" / name);
    const Tokenizer tok = Tokenizer::from_gguf(file);
    EXPECT_EQ(tok.decode(tok.encode(text, false, false)), text);
  }
}

}  // namespace
}  // namespace capibara
