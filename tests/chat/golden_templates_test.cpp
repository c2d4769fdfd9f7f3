// Golden tests: every real chat template in `../shared/templates` renders the four reference
// conversations (with and without the generation prompt) exactly as Python Jinja2 configured
// like Hugging Face transformers does, or fails with the same error.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "chat/chat_template.hpp"
#include "golden_support.hpp"
#include "support/shared_data.hpp"

namespace capibara::chat {
namespace {

using Json = nlohmann::ordered_json;
using testing::read_file;

// Templates allowed to fail, with the reason. Empty: every template passes.
const std::map<std::string, std::string>& known_failures() {
  static const std::map<std::string, std::string> kFailures = {};
  return kFailures;
}

const Json& golden() {
  static const Json kGolden = [] {
    const auto shared = capibara::testing::shared_dir();
    if (!shared) return Json();
    const auto path = *shared / "templates" / "golden.json";
    if (!std::filesystem::exists(path)) return Json();
    return Json::parse(read_file(path));
  }();
  return kGolden;
}

std::vector<std::string> template_names() {
  std::vector<std::string> names;
  const Json& g = golden();
  if (g.is_object()) {
    for (const Json& c : g["cases"]) {
      const auto name = c["template"].get<std::string>();
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
  }
  if (names.empty()) names.push_back("no-shared-data");
  return names;
}

class GoldenTemplate : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTemplate, RendersEveryConversationLikePythonJinja) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const std::string& name = GetParam();
  if (name == "no-shared-data") GTEST_SKIP() << "templates/golden.json not found";
  if (const auto it = known_failures().find(name); it != known_failures().end()) {
    GTEST_SKIP() << it->second;
  }
  const ChatTemplate tmpl = ChatTemplate::parse(read_file(shared / "templates" / name));
  int checked = 0;
  for (const Json& c : golden()["cases"]) {
    if (c["template"] != name) continue;
    ++checked;
    ChatTemplateOptions options;
    options.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    options.bos_token = c["bos_token"].get<std::string>();
    options.eos_token = c["eos_token"].get<std::string>();
    options.strftime_date = "2026-11-24";
    const std::string label =
        c["conversation"].get<std::string>() + (options.add_generation_prompt ? " +gen" : " -gen");
    const std::string expected = c.value("expected", "");
    const std::string error = c.value("expected_error", "");
    testing::expect_rendering(tmpl, c["messages"], options,
                              c.contains("expected") ? &expected : nullptr,
                              c.contains("expected_error") ? &error : nullptr, label);
  }
  EXPECT_EQ(checked, 8) << "each template has 4 conversations x 2 generation-prompt settings";
}

INSTANTIATE_TEST_SUITE_P(SharedTemplates, GoldenTemplate, ::testing::ValuesIn(template_names()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           return testing::test_name_of(param.param);
                         });

}  // namespace
}  // namespace capibara::chat
