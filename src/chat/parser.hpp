// Parser of the Jinja subset: tokens (`lexer.hpp`) to the syntax tree (`ast.hpp`), following the
// grammar and operator precedence of Jinja 3.1's `jinja2.parser`.
//
// Statements: if/elif/else, for (tuple targets, `if` filter, `else`, `recursive`), set (plain,
// tuple, `ns.attr`, block form with filters), macro, call, filter, with, break, continue,
// generation (Hugging Face's marker tag, rendered as its body). Pure function; any thread.
#pragma once

#include <string_view>

#include "chat/ast.hpp"

namespace capibara::chat {

// Throws `TemplateError` (syntax, with line and column) for malformed templates, unknown tags,
// `break` outside a loop, or nesting deeper than the parser allows (256 levels).
Program parse_template(std::string_view source);

}  // namespace capibara::chat
