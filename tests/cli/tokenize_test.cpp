// `capibara tokenize` and `capibara detokenize` as a user runs them, on the vocabulary-only
// files of ../shared/vocab (no weights).
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "support/shared_data.hpp"
#include "support/subprocess.hpp"

namespace capibara::testing {
namespace {

std::string vocab(const std::filesystem::path& shared, const std::string& name) {
  return shell_quote((shared / "vocab" / ("ggml-vocab-" + name + ".gguf")).string());
}

TEST(TokenizeCommand, PrintsIds) {
  CAPIBARA_REQUIRE_SHARED(shared);
  CAPIBARA_REQUIRE_BINARY(bin);
  // GPT-2 adds no BOS; Llama's SentencePiece does, unless --no-bos.
  auto r = run_command(bin + " tokenize -m " + vocab(shared, "gpt-2") + " --ids 'Hello world'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "15496 995\n");
  r = run_command(bin + " tokenize -m " + vocab(shared, "llama-spm") + " --ids 'Hello world'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1 15043 3186\n");
  r = run_command(bin + " tokenize -m " + vocab(shared, "llama-spm") +
                  " --no-bos --ids 'Hello world'");
  EXPECT_EQ(r.out, "15043 3186\n");
  // WordPiece wraps the text in [CLS] ... [SEP].
  r = run_command(bin + " tokenize -m " + vocab(shared, "bert-bge") + " --ids 'Hello'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "101 7592 102\n");
}

TEST(TokenizeCommand, PrintsPiecesOnePerLine) {
  CAPIBARA_REQUIRE_SHARED(shared);
  CAPIBARA_REQUIRE_BINARY(bin);
  const auto r = run_command(bin + " tokenize -m " + vocab(shared, "gpt-2") + " " +
                             shell_quote("Hello world\n"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, " 15496 -> 'Hello'\n   995 -> ' world'\n   198 -> '\\n'\n");
}

TEST(TokenizeCommand, ParseSpecial) {
  CAPIBARA_REQUIRE_SHARED(shared);
  CAPIBARA_REQUIRE_BINARY(bin);
  const std::string cmd = bin + " tokenize -m " + vocab(shared, "gpt-2") + " --ids ";
  auto r = run_command(cmd + "--parse-special 'a<|endoftext|>b'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "64 50256 65\n");
  r = run_command(cmd + "'a<|endoftext|>b'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("50256"), std::string::npos) << r.out;
}

TEST(TokenizeCommand, DetokenizeRoundTrip) {
  CAPIBARA_REQUIRE_SHARED(shared);
  CAPIBARA_REQUIRE_BINARY(bin);
  const std::string text = "Caf\xC3\xA9 \xF0\x9F\xA6\x99  llama.cpp's 1234\ttabs\nand lines";
  for (const std::string name : {"gpt-2", "deepseek-coder", "llama-spm", "phi-3"}) {
    SCOPED_TRACE(name);
    const auto ids =
        run_command(bin + " tokenize -m " + vocab(shared, name) + " --ids " + shell_quote(text));
    ASSERT_EQ(ids.exit_code, 0) << ids.err;
    ASSERT_FALSE(ids.out.empty());
    const std::string id_list = ids.out.substr(0, ids.out.size() - 1);  // without the newline
    const auto back = run_command(bin + " detokenize -m " + vocab(shared, name) + " " + id_list);
    ASSERT_EQ(back.exit_code, 0) << back.err;
    EXPECT_EQ(back.out, text + "\n");
  }
  // Ids may also come as one argument, comma-separated or as a list.
  const auto r =
      run_command(bin + " detokenize -m " + vocab(shared, "gpt-2") + " '[15496, 995]' 0 --special");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Hello world!\n");
  const auto special =
      run_command(bin + " detokenize -m " + vocab(shared, "llama-spm") + " --special 1 15043");
  EXPECT_EQ(special.out, "<s>Hello\n");
}

TEST(TokenizeCommand, ReadsTheTextFromAFile) {
  CAPIBARA_REQUIRE_SHARED(shared);
  CAPIBARA_REQUIRE_BINARY(bin);
  const auto path = std::filesystem::path(::testing::TempDir()) / "tokenize_test_input.txt";
  std::ofstream(path, std::ios::binary) << "Hello world";
  const auto r = run_command(bin + " tokenize -m " + vocab(shared, "gpt-2") + " --ids -f " +
                             shell_quote(path.string()));
  std::filesystem::remove(path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "15496 995\n");
}

TEST(TokenizeCommand, Errors) {
  CAPIBARA_REQUIRE_SHARED(shared);
  CAPIBARA_REQUIRE_BINARY(bin);
  auto r = run_command(bin + " tokenize -m /nonexistent/file.gguf --ids hello");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("capibara: error:"), std::string::npos) << r.err;
  r = run_command(bin + " detokenize -m " + vocab(shared, "gpt-2") + " 15496 99999999");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("99999999"), std::string::npos) << r.err;
  r = run_command(bin + " detokenize -m " + vocab(shared, "gpt-2") + " 12abc");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("12abc"), std::string::npos) << r.err;
  r = run_command(bin + " tokenize -m " + vocab(shared, "gpt-2"));  // no text
  EXPECT_NE(r.exit_code, 0);
  r = run_command(bin + " tokenize --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--parse-special"), std::string::npos) << r.out;
  // A file without a pre-tokenizer name loads with a warning, as in llama.cpp.
  r = run_command(bin + " tokenize -m " + vocab(shared, "gpt-neox") + " --ids 'Hello world'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "12092 1533\n");
}

}  // namespace
}  // namespace capibara::testing
