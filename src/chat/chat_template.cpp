// `ChatTemplate`: parses once, renders a conversation with Hugging Face's template variables.
#include "chat/chat_template.hpp"

#include "chat/interpreter.hpp"
#include "chat/native.hpp"
#include "chat/parser.hpp"
#include "chat/serialize.hpp"

namespace capibara::chat {

ChatTemplate ChatTemplate::parse(std::string_view source) {
  auto program = std::make_shared<Program>(parse_template(source));
  return ChatTemplate(std::make_shared<const std::string>(source), std::move(program));
}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages,
                                 const ChatTemplateOptions& options) const {
  return render_value(from_json(messages), options);
}

std::string ChatTemplate::render(const nlohmann::json& messages,
                                 const ChatTemplateOptions& options) const {
  return render_value(from_json(messages), options);
}

std::string ChatTemplate::render(std::span<const ChatMessage> messages,
                                 const ChatTemplateOptions& options) const {
  return render(to_json(messages), options);
}

std::string ChatTemplate::render_value(const Value& messages,
                                       const ChatTemplateOptions& options) const {
  auto globals = std::make_shared<Scope>();
  BuiltinOptions builtin_options;
  builtin_options.strftime_date = options.strftime_date;
  install_builtins(*globals, builtin_options);
  if (!options.extra_context.is_null()) {
    if (!options.extra_context.is_object()) {
      throw TemplateError(TemplateError::Kind::kRuntime, "extra_context must be a JSON object");
    }
    for (const auto& [key, value] : options.extra_context.items()) {
      globals->vars[key] = from_json(value);
    }
  }
  globals->vars["messages"] = messages;
  globals->vars["add_generation_prompt"] = options.add_generation_prompt;
  globals->vars["bos_token"] = options.bos_token;
  globals->vars["eos_token"] = options.eos_token;

  RenderLimits limits;
  limits.max_string_bytes = options.limits.max_output_bytes;
  limits.max_items = options.limits.max_list_items;
  limits.max_steps = options.limits.max_steps;
  limits.max_call_depth = options.limits.max_call_depth;
  Interpreter interpreter(limits);
  return interpreter.render(*program_, std::move(globals));
}

nlohmann::ordered_json to_json(std::span<const ChatMessage> messages) {
  auto array = nlohmann::ordered_json::array();
  for (const ChatMessage& message : messages) {
    nlohmann::ordered_json object = {{"role", message.role}, {"content", message.content}};
    if (message.extra.is_object()) {
      for (const auto& [key, value] : message.extra.items()) object[key] = value;
    }
    array.push_back(std::move(object));
  }
  return array;
}

}  // namespace capibara::chat
