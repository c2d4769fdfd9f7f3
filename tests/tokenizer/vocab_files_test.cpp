// llama.cpp's tokenizer test vectors (../shared/vocab/*.inp / *.out) for the SentencePiece
// vocabularies: encoding without BOS and without special-token parsing must give exactly the ids
// Hugging Face's tokenizers gave when the vectors were made.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "gguf/gguf_file.hpp"
#include "support/shared_data.hpp"
#include "tokenizer/tokenizer.hpp"

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

void check_vocab_file(const std::string& name) {
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
    // a piece or bytes, and the only change is the "▁" prefix, which decode removes.
    if (tok.decode(ids) != c.text && ++round_trip_failures <= 5) {
      ADD_FAILURE() << name << ": decode(encode(\"" << escaped(c.text) << "\")) = \""
                    << escaped(tok.decode(ids)) << "\"";
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << cases.size() << " strings";
  EXPECT_EQ(round_trip_failures, 0) << "of " << cases.size() << " strings";
}

TEST(VocabFileTest, LlamaSpm) { check_vocab_file("ggml-vocab-llama-spm.gguf"); }

TEST(VocabFileTest, Phi3) { check_vocab_file("ggml-vocab-phi-3.gguf"); }

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

TEST(VocabFileTest, OtherFamiliesAreUnsupportedForNow) {
  CAPIBARA_REQUIRE_SHARED(shared);
  for (const char* name : {"ggml-vocab-gpt-2.gguf", "ggml-vocab-bert-bge.gguf"}) {
    SCOPED_TRACE(name);
    const gguf::GgufFile file = gguf::GgufFile::open(shared / "vocab" / name);
    EXPECT_THROW(Tokenizer::from_gguf(file), UnsupportedError);
  }
}

}  // namespace
}  // namespace capibara
