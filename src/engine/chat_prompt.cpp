// Rendering plus tokenization that keeps message text literal.
#include "engine/chat_prompt.hpp"

#include "tokenizer/tokenizer.hpp"

namespace capibara {

const std::string_view kFallbackChatTemplate =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|im_start|>assistant\n' }}{% endif %}";
const std::string_view kFallbackChatTemplateName = "ChatML (the model has no chat template)";

ChatPrompt build_chat_prompt(const chat::ChatTemplate& chat_template, const Tokenizer& tokenizer,
                             const nlohmann::ordered_json& messages,
                             const chat::ChatTemplateOptions& options) {
  ChatPrompt p;
  p.text = chat_template.render(messages, options);
  // Templates that print the BOS text themselves must not get a second one.
  const bool has_bos = !options.bos_token.empty() && p.text.starts_with(options.bos_token);
  p.tokens = tokenizer.encode(p.text, !has_bos, true);
  return p;
}

}  // namespace capibara
