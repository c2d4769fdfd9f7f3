// From a conversation to prompt tokens: the model's chat template renders the messages, and
// the tokenizer turns the template's markup into control tokens while the text of the messages
// stays plain text (a user typing "<|im_end|>" gets the characters, not the control token).
// Shared by the server and `capibara run`.
//
// Thread safety: pure functions of their arguments.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/chat_template.hpp"

namespace capibara {

class Tokenizer;

// The template used when a model ships none (as llama.cpp and vLLM do): ChatML.
extern const std::string_view kFallbackChatTemplate;
extern const std::string_view kFallbackChatTemplateName;

struct ChatPrompt {
  std::string text;             // the rendered prompt
  std::vector<int32_t> tokens;  // BOS included unless the template printed it
};

// Throws chat::TemplateError when the template refuses the conversation.
ChatPrompt build_chat_prompt(const chat::ChatTemplate& chat_template, const Tokenizer& tokenizer,
                             const nlohmann::ordered_json& messages,
                             const chat::ChatTemplateOptions& options);

}  // namespace capibara
