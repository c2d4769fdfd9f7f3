// Lexer of the Jinja subset: splits a template into text and tag tokens, applying Jinja's
// whitespace control as Hugging Face configures it (`trim_blocks`, `lstrip_blocks`, `-`/`+`
// markers), dropping comments and turning `{% raw %}` blocks into text.
//
// The result is the flat token stream that `parser.hpp` reads. Pure function; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace capibara::chat {

enum class TokenKind : uint8_t {
  kText,           // template text between tags, whitespace control already applied
  kVariableBegin,  // {{
  kVariableEnd,    // }}
  kBlockBegin,     // {%
  kBlockEnd,       // %}
  kName,           // identifiers and keywords (`if`, `in`, `true`, ...)
  kString,         // a string literal; `text` holds the unescaped value
  kInteger,        // `int_value`
  kFloat,          // `float_value`
  kOperator,       // `text` holds the operator: `+`, `//`, `==`, `(`, ...
  kEnd,            // end of the template
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;
  int64_t int_value = 0;
  double float_value = 0.0;
  int line = 1;    // 1-based
  int column = 1;  // 1-based, in characters (code points)
};

// Throws `TemplateError` (syntax) with the position for an unterminated tag, comment or string,
// an unexpected character or unbalanced brackets.
std::vector<Token> tokenize(std::string_view source);

// Describes a token for error messages: "'foo'", "end of statement block", ...
std::string describe(const Token& token);

}  // namespace capibara::chat
