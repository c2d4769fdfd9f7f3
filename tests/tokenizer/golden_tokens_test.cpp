// Prompt tokenization and greedy-text detokenization against llama.cpp's golden runs
// (../shared/golden/*.json): every model there uses the stories260K SentencePiece vocabulary,
// some with a few extra control tokens.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "gguf/gguf_file.hpp"
#include "support/shared_data.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/utf8.hpp"

namespace capibara {
namespace {

// Some golden files carry raw invalid UTF-8 in `greedy_text` (a random model printing byte
// tokens); nlohmann::json rejects that, so it is repaired to U+FFFD first. Prompts are ASCII.
nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string repaired;
  utf8::append_repaired(repaired, raw);
  return nlohmann::json::parse(repaired);
}

std::vector<std::filesystem::path> golden_files(const std::filesystem::path& shared) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(shared / "golden")) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(TokenizerGoldenTest, PromptsEncodeLikeLlamaCpp) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const auto files = golden_files(shared);
  ASSERT_GE(files.size(), 12u);
  int n_cases = 0;
  for (const auto& path : files) {
    SCOPED_TRACE(path.filename().string());
    const nlohmann::json golden = read_json(path);
    const gguf::GgufFile file =
        gguf::GgufFile::open(shared / "models" / golden.at("model").get<std::string>());
    const Tokenizer tok = Tokenizer::from_gguf(file);
    EXPECT_EQ(tok.n_vocab(), golden.at("n_vocab").get<int32_t>());
    for (const auto& c : golden.at("cases")) {
      const auto prompt = c.at("prompt").get<std::string>();
      SCOPED_TRACE(prompt);
      const auto expected = c.at("prompt_tokens").get<std::vector<int32_t>>();
      EXPECT_EQ(tok.encode(prompt, c.at("add_bos").get<bool>(), false), expected);
      ++n_cases;
    }
  }
  EXPECT_GE(n_cases, 30);
}

// `greedy_text` is the continuation alone: the pieces of `greedy_tokens` concatenated, its
// leading space included (it follows the prompt).
TEST(TokenizerGoldenTest, Stories260KGreedyTextDecodes) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const nlohmann::json golden = read_json(shared / "golden" / "stories260K.json");
  const gguf::GgufFile file = gguf::GgufFile::open(shared / "models" / "stories260K.gguf");
  const Tokenizer tok = Tokenizer::from_gguf(file);
  for (const auto& c : golden.at("cases")) {
    const auto prompt = c.at("prompt").get<std::string>();
    SCOPED_TRACE(prompt);
    const auto prompt_tokens = c.at("prompt_tokens").get<std::vector<int32_t>>();
    const auto greedy = c.at("greedy_tokens").get<std::vector<int32_t>>();
    const auto greedy_text = c.at("greedy_text").get<std::string>();

    std::string pieces;
    StreamingDecoder stream(tok);
    std::string streamed;
    for (const int32_t id : greedy) {
      pieces += tok.token_to_piece(id);
      streamed += stream.push(id);
    }
    streamed += stream.flush();
    EXPECT_EQ(pieces, greedy_text);
    EXPECT_EQ(streamed, greedy_text);

    std::vector<int32_t> all = prompt_tokens;
    all.insert(all.end(), greedy.begin(), greedy.end());
    EXPECT_EQ(tok.decode(all), prompt + greedy_text);
    EXPECT_EQ(tok.decode(prompt_tokens), prompt);
  }
}

TEST(TokenizerGoldenTest, SyntheticModelsKnowTheirTurnTokens) {
  CAPIBARA_REQUIRE_SHARED(shared);
  struct Expect {
    const char* model;
    const char* eog_text;
  };
  for (const Expect& e :
       {Expect{"synth-qwen2-f32.gguf", "<|im_end|>"}, Expect{"synth-phi3-f32.gguf", "<|end|>"},
        Expect{"synth-gemma3-f32.gguf", "<end_of_turn>"},
        Expect{"synth-command-r-f32.gguf", "<|END_OF_TURN_TOKEN|>"}}) {
    SCOPED_TRACE(e.model);
    const gguf::GgufFile file = gguf::GgufFile::open(shared / "models" / e.model);
    const Tokenizer tok = Tokenizer::from_gguf(file);
    const int32_t id = tok.find_token(e.eog_text);
    ASSERT_GE(id, 512);
    EXPECT_TRUE(tok.is_eog(id));
    EXPECT_TRUE(tok.is_control(id));
    EXPECT_TRUE(tok.is_eog(tok.eos_id()));
    EXPECT_FALSE(tok.is_eog(tok.bos_id()));
    // Parsed as one token only when asked.
    EXPECT_EQ(tok.encode(e.eog_text, false, true), std::vector<int32_t>{id});
    EXPECT_GT(tok.encode(e.eog_text, false, false).size(), 1u);
    EXPECT_EQ(tok.token_to_piece(id), "");
    EXPECT_EQ(tok.token_to_piece(id, true), e.eog_text);
  }
}

}  // namespace
}  // namespace capibara
