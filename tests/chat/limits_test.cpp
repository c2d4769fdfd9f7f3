// Hostile templates end with a clear limit error instead of crashing or running forever:
// endless recursion, exploding loops and strings, huge ranges, self-containing values.
#include <string>

#include <gtest/gtest.h>

#include "chat/chat_template.hpp"
#include "render_helper.hpp"

namespace capibara::chat {
namespace {

using testing::render;
using testing::render_error;

void expect_limit(const TemplateError& e, const std::string& part) {
  EXPECT_EQ(e.kind(), TemplateError::Kind::kLimit) << e.what();
  EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
}

TEST(Limits, EndlessMacroRecursion) {
  expect_limit(render_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"),
               "macro calls nested more than 100 levels");
}

TEST(Limits, MutualRecursionThroughCaller) {
  expect_limit(render_error("{% macro a() %}{% call a() %}x{% endcall %}{% endmacro %}{{ a() }}"),
               "macro calls nested");
}

TEST(Limits, HugeRange) {
  expect_limit(render_error("{% for i in range(10 ** 15) %}{% endfor %}"), "list of more than");
  expect_limit(render_error("{{ range(-9223372036854775807, 9223372036854775807) | length }}"),
               "list of more than");
}

TEST(Limits, ExplodingLoopsRunOutOfSteps) {
  ChatTemplateOptions options;
  options.limits.max_steps = 50000;
  expect_limit(render_error("{% for i in range(100000) %}{% for j in range(100000) %}"
                            "{% endfor %}{% endfor %}",
                            options),
               "ran for more than 50000 steps");
}

TEST(Limits, DoublingStrings) {
  expect_limit(render_error("{% set ns = namespace(s='ab') %}{% for i in range(64) %}"
                            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}"),
               "string of more than");
  expect_limit(render_error("{{ 'x' * 1000000000000 }}"), "string of more than");
  expect_limit(render_error("{{ [1, 2] * 9000000000000000000 }}"), "list of more than");
}

TEST(Limits, OutputSize) {
  ChatTemplateOptions options;
  options.limits.max_output_bytes = 1000;
  expect_limit(render_error("{% for i in range(200) %}0123456789{% endfor %}", options),
               "more than 1000 bytes");
}

TEST(Limits, SelfContainingValuesCannotBePrintedOrCompared) {
  const std::string make = "{% set l = [1] %}{% set _ = l.append(l) %}";
  expect_limit(render_error(make + "{{ l }}"), "nested more than");
  expect_limit(render_error(make + "{{ l | tojson }}"), "nested more than");
  expect_limit(render_error(make + "{{ l == l }}"), "nested more than");
  const std::string ns = "{% set n = namespace() %}{% set n.self = n %}";
  expect_limit(render_error(ns + "{{ n }}"), "nested more than");
  EXPECT_EQ(render(make + "{{ l | length }}"), "2");
}

TEST(Limits, DeeplyNestedValuesAreFreedWithoutRecursion) {
  // 50000 levels of lists: printing refuses, but building and freeing them (which would
  // recurse once per level) is fine.
  const std::string build =
      "{% set ns = namespace(x=[]) %}{% for i in range(50000) %}{% set ns.x = [ns.x] %}"
      "{% endfor %}";
  EXPECT_EQ(render(build + "{{ ns.x | length }}"), "1");
  expect_limit(render_error(build + "{{ ns.x }}"), "nested more than");
  const std::string dicts =
      "{% set ns = namespace(x={}) %}{% for i in range(50000) %}{% set ns.x = {'k': ns.x} %}"
      "{% endfor %}";
  EXPECT_EQ(render(dicts + "{{ ns.x | length }}"), "1");
}

TEST(Limits, DeepJsonInputIsRefused) {
  nlohmann::ordered_json deep = "leaf";
  for (int i = 0; i < 2000; ++i) {
    nlohmann::ordered_json wrapper = nlohmann::ordered_json::array();
    wrapper.push_back(std::move(deep));
    deep = std::move(wrapper);
  }
  try {
    render("{{ x | length }}", {{"x", deep}});
    FAIL() << "rendered";
  } catch (const TemplateError& e) {
    expect_limit(e, "nested more than");
  }
}

TEST(Limits, ErrorsCarryThePositionOfTheFailingExpression) {
  const TemplateError e =
      render_error("line one\n{% for i in range(3) %}\n  {{ i / 0 }}\n{% endfor %}");
  EXPECT_EQ(e.kind(), TemplateError::Kind::kRuntime);
  EXPECT_EQ(e.line(), 3);
  EXPECT_EQ(e.column(), 8);
  EXPECT_NE(std::string(e.what()).find("division by zero"), std::string::npos) << e.what();
}

}  // namespace
}  // namespace capibara::chat
