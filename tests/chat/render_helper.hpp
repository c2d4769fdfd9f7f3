// Renders a template source with variables, for the chat tests.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "chat/chat_template.hpp"

namespace capibara::chat::testing {

// `vars` become template variables (through `extra_context`); `messages` is empty.
inline std::string render(std::string_view source,
                          const nlohmann::ordered_json& vars = nlohmann::ordered_json::object(),
                          ChatTemplateOptions options = {}) {
  options.extra_context = vars;
  if (!options.strftime_date) options.strftime_date = "2026-11-24";
  return ChatTemplate::parse(source).render(nlohmann::ordered_json::array(), options);
}

// The error a template raises while parsing or rendering; fails the test if it renders.
inline TemplateError render_error(std::string_view source, ChatTemplateOptions options = {}) {
  try {
    const std::string out = render(source, nlohmann::ordered_json::object(), std::move(options));
    ADD_FAILURE() << "expected an error, got \"" << out << "\"";
  } catch (const TemplateError& e) {
    return e;
  }
  return TemplateError(TemplateError::Kind::kRuntime, "no error");
}

}  // namespace capibara::chat::testing
