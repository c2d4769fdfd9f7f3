// Rendering plus tokenization that keeps message text literal.
#include "engine/chat_prompt.hpp"

#include "tokenizer/tokenizer.hpp"

namespace capibara {

const std::string_view kFallbackChatTemplate =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|im_start|>assistant\n' }}{% endif %}";
const std::string_view kFallbackChatTemplateName = "ChatML (the model has no chat template)";

namespace {

std::string_view trimmed(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

// Where each message's text lies in the rendered prompt, in message order. Templates print the
// contents in order, sometimes trimmed; a content the template does not print verbatim (or at
// all) is simply not protected, which never affects a conversation without special text in it.
std::vector<TextRange> content_ranges(std::string_view rendered,
                                      const nlohmann::ordered_json& messages) {
  std::vector<TextRange> ranges;
  size_t cursor = 0;
  for (const auto& m : messages) {
    const auto it = m.find("content");
    if (it == m.end() || !it->is_string()) continue;
    const std::string& content = it->get_ref<const std::string&>();
    for (std::string_view needle : {std::string_view(content), trimmed(content)}) {
      if (needle.empty()) break;
      const size_t pos = rendered.find(needle, cursor);
      if (pos == std::string_view::npos) continue;
      ranges.push_back({pos, pos + needle.size()});
      cursor = pos + needle.size();
      break;
    }
  }
  return ranges;
}

}  // namespace

ChatPrompt build_chat_prompt(const chat::ChatTemplate& chat_template, const Tokenizer& tokenizer,
                             const nlohmann::ordered_json& messages,
                             const chat::ChatTemplateOptions& options) {
  ChatPrompt p;
  p.text = chat_template.render(messages, options);
  // Templates that print the BOS text themselves must not get a second one.
  const bool has_bos = !options.bos_token.empty() && p.text.starts_with(options.bos_token);
  p.tokens = tokenizer.encode(p.text, !has_bos, true, content_ranges(p.text, messages));
  return p;
}

}  // namespace capibara
