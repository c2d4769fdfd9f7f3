// Helpers of the golden template tests: reading files, comparing renderings with a readable
// first difference, and checking an expected Jinja error.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "chat/chat_template.hpp"

namespace capibara::chat::testing {

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A string with its control characters escaped, for failure messages.
inline std::string visible(std::string_view s) {
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

// Where two renderings first differ, with 80 bytes of context from both.
inline std::string first_difference(const std::string& expected, const std::string& actual) {
  size_t at = 0;
  while (at < expected.size() && at < actual.size() && expected[at] == actual[at]) ++at;
  const size_t from = at > 80 ? at - 80 : 0;
  std::ostringstream out;
  out << "first difference at byte " << at << " (expected " << expected.size() << " bytes, got "
      << actual.size() << ")\n  expected: ..." << visible(expected.substr(from, at - from)) << "[["
      << visible(expected.substr(at, 80)) << "]]\n  actual:   ..."
      << visible(actual.substr(from, at - from)) << "[[" << visible(actual.substr(at, 80)) << "]]";
  return out.str();
}

// Renders and compares with `expected`, or with `expected_error` as Python reported it
// ("UndefinedError: 'functions' is undefined"): our message must contain the part after the
// exception name, and a template's own `raise_exception` must come back exactly.
template <typename Messages>
void expect_rendering(const ChatTemplate& tmpl, const Messages& messages,
                      const ChatTemplateOptions& options, const std::string* expected,
                      const std::string* expected_error, const std::string& label) {
  if (expected_error != nullptr) {
    const std::string message = expected_error->substr(expected_error->find(": ") + 2);
    try {
      const std::string out = tmpl.render(messages, options);
      ADD_FAILURE() << label << ": expected the error \"" << *expected_error
                    << "\", got a rendering";
    } catch (const TemplateError& e) {
      if (expected_error->starts_with("TemplateError: ")) {
        EXPECT_EQ(e.kind(), TemplateError::Kind::kRaised) << label;
        EXPECT_EQ(std::string(e.what()), message) << label;
      } else {
        EXPECT_NE(std::string(e.what()).find(message), std::string::npos)
            << label << ": expected \"" << message << "\" in \"" << e.what() << "\"";
      }
    }
    return;
  }
  std::string actual;
  try {
    actual = tmpl.render(messages, options);
  } catch (const TemplateError& e) {
    ADD_FAILURE() << label << ": unexpected error: " << e.what();
    return;
  }
  EXPECT_TRUE(actual == *expected) << label << ": " << first_difference(*expected, actual);
}

// A test name from a template file name: "Qwen-Qwen2.5-7B.jinja" -> "Qwen_Qwen2_5_7B".
inline std::string test_name_of(std::string name) {
  if (name.ends_with(".jinja")) name.resize(name.size() - 6);
  for (char& ch : name) {
    const bool alnum =
        (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    if (!alnum) ch = '_';
  }
  return name;
}

}  // namespace capibara::chat::testing
