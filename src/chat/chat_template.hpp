// Chat templates: renders a conversation into the prompt text a model was trained on, by
// interpreting the Jinja template that ships with the model (`tokenizer.chat_template` in GGUF
// files) the way Hugging Face transformers does (`trim_blocks`, `lstrip_blocks`, loop controls,
// `tojson`, `raise_exception`, `strftime_now`; undefined values print as nothing).
//
// Role of the folder: `chat/` sits beside `tokenizer/` in the layer stack; the engine and the
// front ends call it to build prompts, it calls nothing above `core/`.
//
// The interpreter (lexer -> parser -> evaluator over a dynamic `Value`) lives in the other files
// of this folder; this header is its only public face. `parse` and `render` may be called from
// any thread; a parsed `ChatTemplate` is immutable and can be shared by concurrent renders.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "chat/template_error.hpp"

namespace capibara::chat {

struct Program;
class Value;

// One message of a conversation, for callers that do not hold JSON already.
struct ChatMessage {
  std::string role;
  std::string content;
  // Further fields copied into the message object as they are (`tool_calls`, `name`,
  // `tool_call_id`, `reasoning_content`, ...); must be a JSON object or null.
  nlohmann::ordered_json extra;
};

// Limits of one render; the defaults suit any real template (see `RenderLimits`).
struct ChatTemplateLimits {
  size_t max_output_bytes = 32u << 20;
  size_t max_list_items = 1u << 20;
  uint64_t max_steps = 20'000'000;
  int max_call_depth = 100;
};

struct ChatTemplateOptions {
  bool add_generation_prompt = true;
  std::string bos_token;
  std::string eos_token;
  // More template variables: `tools`, `documents`, `enable_thinking`, ... (a JSON object).
  // `ordered_json` keeps the key order of the request, so tool schemas print as Python would
  // print them; a `nlohmann::json` converts implicitly (with its keys sorted).
  nlohmann::ordered_json extra_context = nlohmann::ordered_json::object();
  // A fixed date ("YYYY-MM-DD") for `strftime_now`, for reproducible prompts and tests; the
  // local date when absent.
  std::optional<std::string> strftime_date;
  ChatTemplateLimits limits;
};

class ChatTemplate {
 public:
  // Throws `TemplateError` (kind `kSyntax`, with line and column) on a malformed template.
  static ChatTemplate parse(std::string_view source);

  // Renders `messages` (a JSON array of message objects). Throws `TemplateError` on a runtime
  // error; when the template calls `raise_exception("...")` (e.g. Gemma refusing a system
  // role) the error's kind is `kRaised` and `what()` is exactly the template's message.
  std::string render(const nlohmann::ordered_json& messages,
                     const ChatTemplateOptions& options) const;
  std::string render(const nlohmann::json& messages, const ChatTemplateOptions& options) const;
  std::string render(std::span<const ChatMessage> messages,
                     const ChatTemplateOptions& options) const;

  const std::string& source() const { return *source_; }

 private:
  ChatTemplate(std::shared_ptr<const std::string> source, std::shared_ptr<const Program> program)
      : source_(std::move(source)), program_(std::move(program)) {}

  std::string render_value(const Value& messages, const ChatTemplateOptions& options) const;

  std::shared_ptr<const std::string> source_;
  std::shared_ptr<const Program> program_;
};

// The messages as the JSON array `render` takes.
nlohmann::ordered_json to_json(std::span<const ChatMessage> messages);

}  // namespace capibara::chat
