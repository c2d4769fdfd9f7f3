// The public API: rendering messages (JSON or `ChatMessage`), extra context, the generation
// prompt, `raise_exception`, `strftime_now`, and sharing one parsed template between threads.
#include "chat/chat_template.hpp"

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace capibara::chat {
namespace {

// A ChatML template in the style of Qwen's, with tools.
constexpr const char* kChatMl =
    "{%- if tools %}{{- '<|im_start|>system\\nTools: ' + tools | map(attribute='function.name') | "
    "join(', ') + '<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

TEST(ChatTemplate, RendersJsonMessages) {
  const ChatTemplate tmpl = ChatTemplate::parse(kChatMl);
  const auto messages = nlohmann::json::parse(R"([{"role": "user", "content": "Hi ñ"}])");
  ChatTemplateOptions options;
  EXPECT_EQ(tmpl.render(messages, options),
            "<|im_start|>user\nHi ñ<|im_end|>\n<|im_start|>assistant\n");
  options.add_generation_prompt = false;
  EXPECT_EQ(tmpl.render(messages, options), "<|im_start|>user\nHi ñ<|im_end|>\n");
}

TEST(ChatTemplate, RendersChatMessagesWithExtraFields) {
  const ChatTemplate tmpl = ChatTemplate::parse(
      "{% for m in messages %}{{ m.role }}:{{ m.content }}"
      "{% if m.tool_calls %}[{{ m.tool_calls[0].function.name }}]{% endif %};{% endfor %}");
  std::vector<ChatMessage> messages = {
      {"user", "weather?", nullptr},
      {"assistant", "", {{"tool_calls", {{{"function", {{"name", "get_weather"}}}}}}}}};
  EXPECT_EQ(tmpl.render(messages, ChatTemplateOptions{}), "user:weather?;assistant:[get_weather];");
}

TEST(ChatTemplate, ExtraContextBecomesVariables) {
  const ChatTemplate tmpl = ChatTemplate::parse(kChatMl);
  ChatTemplateOptions options;
  options.add_generation_prompt = false;
  options.extra_context = {{"tools",
                            {{{"type", "function"}, {"function", {{"name", "a"}}}},
                             {{"type", "function"}, {"function", {{"name", "b"}}}}}}};
  EXPECT_EQ(tmpl.render(nlohmann::json::array(), options),
            "<|im_start|>system\nTools: a, b<|im_end|>\n");
}

TEST(ChatTemplate, OrderedJsonKeepsKeyOrderForTojson) {
  const ChatTemplate tmpl = ChatTemplate::parse("{{ tools | tojson }}");
  ChatTemplateOptions options;
  options.extra_context = nlohmann::ordered_json::parse(R"({"tools": {"zeta": 1, "alpha": 2}})");
  EXPECT_EQ(tmpl.render(nlohmann::ordered_json::array(), options), R"({"zeta": 1, "alpha": 2})");
}

TEST(ChatTemplate, SpecialTokens) {
  const ChatTemplate tmpl = ChatTemplate::parse("{{ bos_token }}x{{ eos_token }}");
  ChatTemplateOptions options;
  options.bos_token = "<s>";
  options.eos_token = "</s>";
  EXPECT_EQ(tmpl.render(nlohmann::json::array(), options), "<s>x</s>");
}

TEST(ChatTemplate, RaiseExceptionCarriesTheTemplatesMessage) {
  const ChatTemplate tmpl = ChatTemplate::parse(
      "{% if messages[0].role == 'system' %}\n"
      "  {{ raise_exception('System role not supported') }}\n"
      "{% endif %}");
  try {
    tmpl.render(nlohmann::json::parse(R"([{"role": "system", "content": "x"}])"),
                ChatTemplateOptions{});
    FAIL() << "rendered";
  } catch (const TemplateError& e) {
    EXPECT_EQ(e.kind(), TemplateError::Kind::kRaised);
    EXPECT_STREQ(e.what(), "System role not supported");
    EXPECT_EQ(e.line(), 2);
  }
  // A TemplateError is a capibara::Error, so front ends map it like any input error.
  EXPECT_THROW(tmpl.render(nlohmann::json::parse(R"([{"role": "system", "content": "x"}])"),
                           ChatTemplateOptions{}),
               Error);
}

TEST(ChatTemplate, StrftimeNowUsesTheFixedDateOrToday) {
  const ChatTemplate tmpl = ChatTemplate::parse("{{ strftime_now('%d %b %Y') }}");
  ChatTemplateOptions options;
  options.strftime_date = "2026-11-24";
  EXPECT_EQ(tmpl.render(nlohmann::json::array(), options), "24 Nov 2026");
  options.strftime_date.reset();
  const std::string today = tmpl.render(nlohmann::json::array(), options);
  EXPECT_EQ(today.size(), 11u) << today;
  options.strftime_date = "2026-13-45";
  EXPECT_THROW(tmpl.render(nlohmann::json::array(), options), TemplateError);
}

TEST(ChatTemplate, ExtraContextMustBeAnObject) {
  ChatTemplateOptions options;
  options.extra_context = nlohmann::ordered_json::array();
  EXPECT_THROW(ChatTemplate::parse("x").render(nlohmann::json::array(), options), TemplateError);
}

TEST(ChatTemplate, KeepsItsSource) {
  EXPECT_EQ(ChatTemplate::parse("a{{ b }}").source(), "a{{ b }}");
}

TEST(ChatTemplate, OneTemplateRendersOnManyThreads) {
  const ChatTemplate tmpl = ChatTemplate::parse(
      "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + m.content | "
      "length %}{% endfor %}{{ ns.n }}");
  std::vector<std::thread> threads;
  std::vector<std::string> results(8);
  for (size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&, t] {
      nlohmann::json messages = nlohmann::json::array();
      for (size_t i = 0; i <= t; ++i) messages.push_back({{"role", "user"}, {"content", "abc"}});
      for (int rep = 0; rep < 200; ++rep) results[t] = tmpl.render(messages, ChatTemplateOptions{});
    });
  }
  for (auto& thread : threads) thread.join();
  for (size_t t = 0; t < results.size(); ++t) EXPECT_EQ(results[t], std::to_string(3 * (t + 1)));
}

}  // namespace
}  // namespace capibara::chat
