// Golden tests: every real chat template in `../shared/templates` renders the four reference
// conversations (with and without the generation prompt) exactly as Python Jinja2 configured
// like Hugging Face transformers does, or fails with the same error.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "chat/chat_template.hpp"
#include "support/shared_data.hpp"

namespace capibara::chat {
namespace {

using Json = nlohmann::ordered_json;

// Templates that are allowed to fail, with the reason. Empty: every template passes.
const std::map<std::string, std::string>& known_failures() {
  static const std::map<std::string, std::string> kFailures = {};
  return kFailures;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

const Json& golden() {
  static const Json kGolden = [] {
    const auto shared = testing::shared_dir();
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

// Shows a string with its control characters escaped, for failure messages.
std::string visible(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Where two renderings first differ, with some context from both.
std::string first_difference(const std::string& expected, const std::string& actual) {
  size_t at = 0;
  while (at < expected.size() && at < actual.size() && expected[at] == actual[at]) ++at;
  const size_t from = at > 80 ? at - 80 : 0;
  std::ostringstream out;
  out << "first difference at byte " << at << " (expected " << expected.size() << " bytes, got "
      << actual.size() << ")\n  expected: ..." << visible(expected.substr(from, at - from))
      << "[[" << visible(expected.substr(at, 80)) << "]]\n  actual:   ..."
      << visible(actual.substr(from, at - from)) << "[[" << visible(actual.substr(at, 80))
      << "]]";
  return out.str();
}

class GoldenTemplate : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTemplate, RendersEveryConversationLikePythonJinja) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const std::string& name = GetParam();
  if (name == "no-shared-data") GTEST_SKIP() << "templates/golden.json not found";
  if (const auto it = known_failures().find(name); it != known_failures().end()) {
    GTEST_SKIP() << it->second;
  }
  const ChatTemplate tmpl =
      ChatTemplate::parse(read_file(shared / "templates" / name));  // throws on syntax errors
  int checked = 0;
  for (const Json& c : golden()["cases"]) {
    if (c["template"] != name) continue;
    ++checked;
    ChatTemplateOptions options;
    options.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    options.bos_token = c["bos_token"].get<std::string>();
    options.eos_token = c["eos_token"].get<std::string>();
    options.strftime_date = "2026-11-24";
    const std::string label = c["conversation"].get<std::string>() +
                              (options.add_generation_prompt ? " +gen" : " -gen");
    if (c.contains("expected_error")) {
      // "UndefinedError: 'functions' is undefined" -> our message carries the part after ": ";
      // a template's own raise_exception is reproduced exactly.
      const auto expected = c["expected_error"].get<std::string>();
      const std::string message = expected.substr(expected.find(": ") + 2);
      try {
        const std::string out = tmpl.render(c["messages"], options);
        ADD_FAILURE() << label << ": expected the error \"" << expected << "\", got a rendering";
      } catch (const TemplateError& e) {
        if (expected.starts_with("TemplateError: ")) {
          EXPECT_EQ(e.kind(), TemplateError::Kind::kRaised) << label;
          EXPECT_EQ(std::string(e.what()), message) << label;
        } else {
          EXPECT_NE(std::string(e.what()).find(message), std::string::npos)
              << label << ": expected \"" << message << "\" in \"" << e.what() << "\"";
        }
      }
      continue;
    }
    const auto expected = c["expected"].get<std::string>();
    std::string actual;
    try {
      actual = tmpl.render(c["messages"], options);
    } catch (const TemplateError& e) {
      ADD_FAILURE() << label << ": unexpected error: " << e.what();
      continue;
    }
    EXPECT_TRUE(actual == expected) << label << ": " << first_difference(expected, actual);
  }
  EXPECT_EQ(checked, 8) << "each template has 4 conversations x 2 generation-prompt settings";
}

INSTANTIATE_TEST_SUITE_P(SharedTemplates, GoldenTemplate, ::testing::ValuesIn(template_names()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           std::string id = param.param;
                           if (id.ends_with(".jinja")) id.resize(id.size() - 6);
                           for (char& ch : id) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return id;
                         });

}  // namespace
}  // namespace capibara::chat
