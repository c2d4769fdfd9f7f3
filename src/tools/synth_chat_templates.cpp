// The template texts. Each needs only the special tokens of the vocabulary family its presets
// pair it with (synth_vocab.cpp); Zephyr and Mistral markup is plain text.
#include "tools/synth_chat_templates.hpp"

namespace capibara::tools {
namespace {

// TinyLlama-1.1B-Chat (Zephyr markup).
constexpr std::string_view kZephyr =
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + eos_token + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}";

// Mistral 7B Instruct: alternating user / assistant turns in [INST] blocks.
constexpr std::string_view kMistral =
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% else %}{{ message['content'] + eos_token }}{% endif %}"
    "{% endfor %}";

// Llama 3.x Instruct headers.
constexpr std::string_view kLlama3 =
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + "
    "message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

// Qwen2.5 ChatML, with its default system prompt.
constexpr std::string_view kChatml =
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
    "assistant.<|im_end|>\\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

// Phi-4-mini-instruct.
constexpr std::string_view kPhi4 =
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}";

// Gemma 3: the system prompt joins the first user turn; the assistant is "model".
constexpr std::string_view kGemma =
    "{{ bos_token }}"
    "{% if messages[0]['role'] == 'system' %}"
    "{% set first_user_prefix = messages[0]['content'] + '\\n\\n' %}"
    "{% set loop_messages = messages[1:] %}"
    "{% else %}{% set first_user_prefix = '' %}{% set loop_messages = messages %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}"
    "{% if message['role'] == 'assistant' %}{% set role = 'model' %}"
    "{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') + "
    "message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}";

// Command-R / Aya Expanse turns.
constexpr std::string_view kCohere =
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'system' %}{% set role = 'SYSTEM' %}"
    "{% elif message['role'] == 'user' %}{% set role = 'USER' %}"
    "{% else %}{% set role = 'CHATBOT' %}{% endif %}"
    "{{ '<|START_OF_TURN_TOKEN|><|' + role + '_TOKEN|>' + message['content'] | trim + "
    "'<|END_OF_TURN_TOKEN|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>' }}{% endif %}";

}  // namespace

std::string_view chat_style_name(ChatStyle style) {
  switch (style) {
    case ChatStyle::kZephyr:
      return "zephyr";
    case ChatStyle::kMistral:
      return "mistral";
    case ChatStyle::kLlama3:
      return "llama3";
    case ChatStyle::kChatml:
      return "chatml";
    case ChatStyle::kPhi4:
      return "phi4";
    case ChatStyle::kGemma:
      return "gemma";
    case ChatStyle::kCohere:
      return "cohere";
  }
  return "?";
}

std::string_view synth_chat_template(ChatStyle style) {
  switch (style) {
    case ChatStyle::kZephyr:
      return kZephyr;
    case ChatStyle::kMistral:
      return kMistral;
    case ChatStyle::kLlama3:
      return kLlama3;
    case ChatStyle::kChatml:
      return kChatml;
    case ChatStyle::kPhi4:
      return kPhi4;
    case ChatStyle::kGemma:
      return kGemma;
    case ChatStyle::kCohere:
      return kCohere;
  }
  return kChatml;
}

}  // namespace capibara::tools
