// The real templates of `../shared/templates` on conversations the shared golden file does not
// cover: tool definitions, tool calls and results, odd argument values, reasoning content,
// multimodal content. Expectations come from Python Jinja2 (`data/make_conversations.py`, which
// says where capibara deliberately renders what Hugging Face refuses).
#include <algorithm>
#include <filesystem>
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

const Json& data() {
  static const Json kData = Json::parse(
      read_file(std::filesystem::path(__FILE__).parent_path() / "data" / "conversations.json"));
  return kData;
}

std::vector<std::string> template_names() {
  std::vector<std::string> names;
  for (const Json& c : data()["cases"]) {
    const auto name = c["template"].get<std::string>();
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  return names;
}

class TemplateConversations : public ::testing::TestWithParam<std::string> {};

TEST_P(TemplateConversations, RenderLikePythonJinja) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const std::string& name = GetParam();
  const ChatTemplate tmpl = ChatTemplate::parse(read_file(shared / "templates" / name));
  const Json& d = data();
  for (const Json& c : d["cases"]) {
    if (c["template"] != name) continue;
    const Json& scenario = d["scenarios"][c["scenario"].get<std::string>()];
    ChatTemplateOptions options;
    options.add_generation_prompt = d["add_generation_prompt"].get<bool>();
    options.bos_token = d["bos_token"].get<std::string>();
    options.eos_token = d["eos_token"].get<std::string>();
    options.strftime_date = d["strftime_date"].get<std::string>();
    options.extra_context = scenario["extra"];
    const std::string expected = c.value("expected", "");
    const std::string error = c.value("expected_error", "");
    testing::expect_rendering(
        tmpl, scenario["messages"], options, c.contains("expected") ? &expected : nullptr,
        c.contains("expected_error") ? &error : nullptr, c["scenario"].get<std::string>());
  }
}

INSTANTIATE_TEST_SUITE_P(SharedTemplates, TemplateConversations,
                         ::testing::ValuesIn(template_names()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           return testing::test_name_of(param.param);
                         });

}  // namespace
}  // namespace capibara::chat
