// The one exception type of the chat-template interpreter: syntax errors, runtime errors, limits
// and the template's own `raise_exception(...)`.
#pragma once

#include <string>
#include <utility>

#include "core/error.hpp"

namespace capibara::chat {

// A chat template that cannot be parsed or rendered. `what()` is a complete sentence naming the
// template position (`line`, `column`, 1-based; 0 when unknown), except for errors raised by the
// template itself through `raise_exception("...")`: their `what()` is exactly the template's
// text, because it is written for the end user (e.g. "System role not supported").
class TemplateError : public Error {
 public:
  enum class Kind {
    kSyntax,   // the template source is malformed (found by `ChatTemplate::parse`)
    kRuntime,  // an operation failed while rendering (undefined variable, type error, ...)
    kLimit,    // a safety limit (output size, steps, recursion depth) was exceeded
    kRaised,   // the template called `raise_exception(message)`
  };

  TemplateError(Kind kind, std::string message, int line = 0, int column = 0)
      : Error(format(kind, message, line, column)),
        kind_(kind),
        message_(std::move(message)),
        line_(line),
        column_(column) {}

  Kind kind() const { return kind_; }
  // The bare message, without the position.
  const std::string& message() const { return message_; }
  int line() const { return line_; }
  int column() const { return column_; }

 private:
  static std::string format(Kind kind, const std::string& message, int line, int column) {
    if (kind == Kind::kRaised) return message;
    std::string text = kind == Kind::kSyntax ? "chat template syntax error" : "chat template error";
    if (line > 0) {
      text += " at line " + std::to_string(line) + ", column " + std::to_string(column);
    }
    return text + ": " + message;
  }

  Kind kind_;
  std::string message_;
  int line_;
  int column_;
};

}  // namespace capibara::chat
