// Values to text the way Python writes them: `str()` (what `{{ x }}` prints), `repr()`, floats,
// and `json.dumps` as Hugging Face's `tojson` filter calls it; JSON to values.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "chat/value.hpp"

namespace capibara::chat {

// Python's `str(value)`: strings as they are, `None`, `True`, floats by `repr`, containers by
// `repr`; undefined prints as nothing (Jinja's default `Undefined`).
std::string to_python_str(const Value& value);
// Python's `repr(value)`: strings quoted and escaped as Python does.
std::string to_python_repr(const Value& value);
// Python's `repr(float)`: the shortest text that reads back to the same double, in Python's
// layout (`1.0`, `1e+16`, `1e-05`, `inf`, `nan`).
std::string format_python_float(double value);

// MarkupSafe's `escape`: & < > " ' as HTML entities.
std::string escape_html(std::string_view s);

struct JsonDumpOptions {
  std::optional<std::string> indent;  // None: one line; otherwise newline + indent per level
  std::string item_separator = ", ";  // Python's defaults; with an indent, "," instead
  std::string key_separator = ": ";
  bool sort_keys = false;
  bool ensure_ascii = false;  // Hugging Face's `tojson` keeps non-ASCII text as it is
};

// Python's `json.dumps(value, ...)`. Throws `TemplateError` for values JSON cannot hold
// (undefined, functions, namespaces) with Python's message.
std::string dump_json(const Value& value, const JsonDumpOptions& options);

// A JSON document as values: objects become insertion-ordered dicts, arrays lists. With
// `nlohmann::json` objects come in key order (that type sorts them); `ordered_json` keeps the
// document's order, as Python would. Throws `TemplateError` past 512 levels of nesting.
Value from_json(const nlohmann::json& json);
Value from_json(const nlohmann::ordered_json& json);

}  // namespace capibara::chat
