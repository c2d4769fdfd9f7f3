// Malformed templates fail at `ChatTemplate::parse` with a syntax error naming the line and
// column of the offending token (1-based, columns in characters).
#include <string>

#include <gtest/gtest.h>

#include "chat/chat_template.hpp"

namespace capibara::chat {
namespace {

struct SyntaxCase {
  const char* source;
  int line;
  int column;
  const char* message;  // a part of the message
};

class SyntaxErrors : public ::testing::TestWithParam<SyntaxCase> {};

TEST_P(SyntaxErrors, ReportTheirPosition) {
  const SyntaxCase& c = GetParam();
  try {
    ChatTemplate::parse(c.source);
    FAIL() << "parsed: " << c.source;
  } catch (const TemplateError& e) {
    EXPECT_EQ(e.kind(), TemplateError::Kind::kSyntax) << e.what();
    EXPECT_EQ(e.line(), c.line) << e.what();
    EXPECT_EQ(e.column(), c.column) << e.what();
    EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
    const std::string where =
        "line " + std::to_string(c.line) + ", column " + std::to_string(c.column);
    EXPECT_NE(std::string(e.what()).find(where), std::string::npos) << e.what();
  }
}

const SyntaxCase kSyntaxCases[] = {
    {"{% if x %}", 1, 11, "expected 'elif' or 'else' or 'endif' (the 'if' at line 1, column 4"},
    {"{{ x ", 1, 1, "missing '}}'"},
    {"{% for x in y %}{% endif %}", 1, 20, "unexpected 'endif'"},
    {"hello\n  {{ a + }}", 2, 10, "unexpected end of print statement"},
    {"{% foo %}", 1, 4, "unknown tag 'foo'"},
    {"{% break %}", 1, 4, "'break' outside of a loop"},
    {"{% for x in y %}{% macro m() %}{% continue %}{% endmacro %}{% endfor %}", 1, 35,
     "'continue' outside of a loop"},
    {"{{ 'abc }}", 1, 4, "unterminated string literal"},
    {"ab\n{# open", 2, 1, "missing end of comment tag"},
    {"{{ (1 }}", 1, 7, "unexpected '}', expected ')'"},
    {"{{ 1 ) }}", 1, 6, "unexpected ')'"},
    {"{% macro m(a=1, b) %}{% endmacro %}", 1, 18, "non-default argument follows default"},
    {"{% set %}", 1, 8, "expected a name"},
    {"{% raw %}x", 1, 1, "missing end of raw directive"},
    {"{% if x %}{% else %}{% else %}{% endif %}", 1, 24, "unexpected 'else'"},
    {"{% endfor %}", 1, 4, "unexpected 'endfor'"},
    {"{% if %}{% endif %}", 1, 7, "expected an expression"},
    {"{% set ns.a.b = 1 %}", 1, 12, "unexpected '.'"},
    {"{% call m %}{% endcall %}", 1, 9, "expected a call after 'call'"},
    {"{{ x | }}", 1, 8, "expected a name"},
    {"{{ f(a=1, 2) }}", 1, 5, "invalid syntax for function call"},
    {"ñandú\n  ¿{{ @ }}", 2, 7, "unexpected char '@'"},
    {"{{ a.1b }}", 1, 7, "unexpected 'b'"},
    {"{{ x is }}", 1, 9, "expected a name"},
};

INSTANTIATE_TEST_SUITE_P(Cases, SyntaxErrors, ::testing::ValuesIn(kSyntaxCases));

TEST(SyntaxErrors, DeepNestingIsRefusedNotOverflowed) {
  const auto refused = [](const std::string& source) {
    try {
      ChatTemplate::parse(source);
    } catch (const TemplateError& e) {
      return e.kind() == TemplateError::Kind::kSyntax &&
             std::string(e.what()).find("nested more than") != std::string::npos;
    }
    return false;
  };
  constexpr int kDeep = 100000;
  EXPECT_TRUE(refused("{{ " + std::string(kDeep, '(') + "1" + std::string(kDeep, ')') + " }}"));
  EXPECT_TRUE(refused("{{ " + std::string(kDeep, '[') + std::string(kDeep, ']') + " }}"));
  std::string nots = "{{ ";
  for (int i = 0; i < kDeep; ++i) nots += "not ";
  EXPECT_TRUE(refused(nots + "x }}"));
  // Long flat chains grow the tree without nesting the parser.
  std::string sum = "{{ 1";
  for (int i = 0; i < kDeep; ++i) sum += " + 1";
  EXPECT_TRUE(refused(sum + " }}"));
  std::string filters = "{{ x";
  for (int i = 0; i < kDeep; ++i) filters += "|trim";
  EXPECT_TRUE(refused(filters + " }}"));
  std::string ifs;
  for (int i = 0; i < 10000; ++i) ifs += "{% if x %}";
  for (int i = 0; i < 10000; ++i) ifs += "{% endif %}";
  EXPECT_TRUE(refused(ifs));
  // ... while ordinary depths are fine.
  EXPECT_NO_THROW(
      ChatTemplate::parse("{{ " + std::string(100, '(') + "1" + std::string(100, ')') + " }}"));
  std::string long_sum = "{{ 1";
  for (int i = 0; i < 200; ++i) long_sum += " + 1";
  EXPECT_NO_THROW(ChatTemplate::parse(long_sum + " }}"));
}

}  // namespace
}  // namespace capibara::chat
