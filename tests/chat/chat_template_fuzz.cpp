// libFuzzer target for the chat-template interpreter: any template text must parse or throw
// `TemplateError`, and render a conversation or throw `TemplateError`: never crash, hang, or
// throw anything else. Not part of `chat_tests` (the glob takes `*_test.cpp` only). Build with:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
//     tests/chat/chat_template_fuzz.cpp src/chat/*.cpp -o chat_template_fuzz
//   ./chat_template_fuzz -max_len=4096 -timeout=10 corpus/  (seed: ../shared/templates/*.jinja)
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "chat/chat_template.hpp"

namespace {

const nlohmann::ordered_json& conversation() {
  static const auto kMessages = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": [{"type": "text", "text": "¿Qué tiempo hace? 🦫"}, {"type": "image"}]},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
      "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}]},
    {"role": "tool", "content": "{\"temp\": 21.5}", "tool_call_id": "c1", "name": "get_weather"},
    {"role": "user", "content": "Thanks"}])");
  return kMessages;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using capibara::chat::ChatTemplate;
  using capibara::chat::ChatTemplateOptions;
  using capibara::chat::TemplateError;
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  try {
    const ChatTemplate tmpl = ChatTemplate::parse(source);
    ChatTemplateOptions options;
    options.bos_token = "<s>";
    options.strftime_date = "2026-11-24";
    options.extra_context = nlohmann::ordered_json::parse(
        R"({"tools": [{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
            "enable_thinking": true})");
    // Small limits keep each run fast; hitting them is an ordinary TemplateError.
    options.limits.max_steps = 200000;
    options.limits.max_output_bytes = 1u << 20;
    options.limits.max_list_items = 1u << 16;
    (void)tmpl.render(conversation(), options);
  } catch (const TemplateError&) {
  }
  return 0;
}
