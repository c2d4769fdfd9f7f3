// `capibara template` and the chat mode of `capibara run`, as a user runs them.
#include <gtest/gtest.h>

#include "support/shared_data.hpp"
#include "support/subprocess.hpp"

namespace capibara::testing {
namespace {

TEST(TemplateCommand, PrintsExactlyTheGoldenRendering) {
  CAPIBARA_REQUIRE_SHARED(shared);
  CAPIBARA_REQUIRE_BINARY(bin);
  const std::string messages = R"([{"role":"system","content":"Eres útil."},)"
                               R"({"role":"user","content":"¿Hola? 🦫"}])";
  const auto r =
      run_command(bin + " template --template " +
                  shell_quote((shared / "templates/Qwen-Qwen2.5-7B-Instruct.jinja").string()) +
                  " --messages " + shell_quote(messages) + " --add-generation-prompt");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "<|im_start|>system\nEres útil.<|im_end|>\n<|im_start|>user\n¿Hola? "
            "🦫<|im_end|>\n<|im_start|>assistant\n");
}

TEST(TemplateCommand, TemplateErrorsGoToStderrWithNonZeroExit) {
  CAPIBARA_REQUIRE_SHARED(shared);
  CAPIBARA_REQUIRE_BINARY(bin);
  const auto r = run_command(
      bin + " template --template " +
      shell_quote((shared / "templates/google-gemma-2-2b-it.jinja").string()) +
      " --messages "
      "'[{\"role\":\"system\",\"content\":\"x\"},{\"role\":\"user\",\"content\":\"y\"}]'");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(r.out.empty());
  EXPECT_NE(r.err.find("System role not supported"), std::string::npos) << r.err;
  const auto bad =
      run_command(bin + " template --template " +
                  shell_quote((shared / "templates/google-gemma-2-2b-it.jinja").string()) +
                  " --messages 'not json'");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("JSON"), std::string::npos) << bad.err;
}

TEST(RunChat, UsesTheFallbackTemplateAndSaysSo) {
  CAPIBARA_REQUIRE_SHARED(shared);
  CAPIBARA_REQUIRE_BINARY(bin);
  // run_command gives the command line /dev/null as stdin: feed the chat through bash.
  const auto chat = run_command(
      "bash -c " + shell_quote("printf 'Tell me a story\\nAnother\\n' | " + bin + " run -m " +
                               shell_quote((shared / "models/stories260K.gguf").string()) +
                               " -n 8 --temp 0 --system 'Be nice.'"));
  ASSERT_EQ(chat.exit_code, 0) << chat.err;
  EXPECT_NE(chat.err.find("ChatML (the model has no chat template)"), std::string::npos)
      << chat.err;
  // Two answers, each followed by its speed line.
  size_t lines = 0;
  for (size_t pos = 0; (pos = chat.err.find("generation:", pos)) != std::string::npos; ++pos)
    ++lines;
  EXPECT_EQ(lines, 2u) << chat.err;
  EXPECT_FALSE(chat.out.empty());
}

}  // namespace
}  // namespace capibara::testing
