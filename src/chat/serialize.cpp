// Values to text as Python writes them (`str`, `repr`, `json.dumps`), and JSON to values.
#include "chat/serialize.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "chat/template_error.hpp"
#include "chat/text.hpp"

namespace capibara::chat {
namespace {

constexpr int kMaxDepth = 512;

void check_depth(int depth) {
  if (depth > kMaxDepth) {
    throw TemplateError(TemplateError::Kind::kLimit, "values nested more than " +
                                                         std::to_string(kMaxDepth) +
                                                         " levels deep (or containing themselves)");
  }
}

void append_hex(std::string& out, const char* prefix, uint32_t value, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%0*x", digits, value);
  out += prefix;
  out += buf;
}

// Characters Python's `str.isprintable` rejects, among those a chat can plausibly contain:
// controls, non-breaking and other special spaces, format characters, separators, and the
// escaped invalid bytes.
bool is_printable(char32_t c) {
  if (c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD) return false;
  if (c == 0x1680 || (c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F)) return false;
  if ((c >= 0x205F && c <= 0x2064) || c == 0x3000 || c == 0xFEFF) return false;
  if (c >= 0xD800 && c <= 0xDFFF) return false;
  return true;
}

void repr_string(std::string& out, const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  out.push_back(quote);
  for (const char32_t c : text::decode(s)) {
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (is_printable(c)) {
      text::append_code_point(out, c);
    } else if (c <= 0xFF) {
      append_hex(out, "\\x", c, 2);
    } else {
      append_hex(out, "\\u", c, 4);
    }
  }
  out.push_back(quote);
}

void repr_into(std::string& out, const Value& value, int depth) {
  check_depth(depth);
  switch (value.kind()) {
    case Value::Kind::kString:
      repr_string(out, value.as_string());
      return;
    case Value::Kind::kList: {
      const auto& items = value.as_list().items;
      const bool tuple = value.is_tuple();
      out.push_back(tuple ? '(' : '[');
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += ", ";
        repr_into(out, items[i], depth + 1);
      }
      if (tuple && items.size() == 1) out.push_back(',');
      out.push_back(tuple ? ')' : ']');
      return;
    }
    case Value::Kind::kDict: {
      if (value.is_namespace()) out += "<Namespace ";
      out.push_back('{');
      bool first = true;
      for (const auto& [key, item] : value.as_dict().entries) {
        if (!first) out += ", ";
        first = false;
        repr_into(out, key, depth + 1);
        out += ": ";
        repr_into(out, item, depth + 1);
      }
      out.push_back('}');
      if (value.is_namespace()) out.push_back('>');
      return;
    }
    default:
      out += to_python_str(value);
  }
}

void json_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out.push_back('"');
  for (size_t i = 0; i < s.size(); ++i) {
    const auto byte = static_cast<unsigned char>(s[i]);
    switch (byte) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      default:
        break;
    }
    if (byte < 0x20) {
      append_hex(out, "\\u", byte, 4);
    } else if (byte < 0x80 || !ensure_ascii) {
      out.push_back(static_cast<char>(byte));
    } else {
      // Decode the whole sequence and write it as \uXXXX (a surrogate pair above U+FFFF).
      size_t end = i + 1;
      while (end < s.size() && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) ++end;
      for (const char32_t c : text::decode(std::string_view(s).substr(i, end - i))) {
        if (c >= 0x10000) {
          const char32_t v = c - 0x10000;
          append_hex(out, "\\u", 0xD800 + (v >> 10), 4);
          append_hex(out, "\\u", 0xDC00 + (v & 0x3FF), 4);
        } else {
          append_hex(out, "\\u", c, 4);
        }
      }
      i = end - 1;
    }
  }
  out.push_back('"');
}

std::string json_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return format_python_float(d);
}

[[noreturn]] void not_serializable(const Value& value) {
  throw TemplateError(TemplateError::Kind::kRuntime,
                      "Object of type " + value.type_name() + " is not JSON serializable");
}

std::string json_key(const Value& key) {
  switch (key.kind()) {
    case Value::Kind::kString:
      return key.as_string();
    case Value::Kind::kNone:
      return "null";
    case Value::Kind::kBool:
      return key.as_bool() ? "true" : "false";
    case Value::Kind::kInt:
      return std::to_string(key.as_int());
    case Value::Kind::kFloat:
      return json_float(key.as_float());
    default:
      throw TemplateError(TemplateError::Kind::kRuntime,
                          "keys must be str, int, float, bool or None, not " + key.type_name());
  }
}

void newline_indent(std::string& out, const JsonDumpOptions& options, int level) {
  out.push_back('\n');
  for (int i = 0; i < level; ++i) out += *options.indent;
}

void json_into(std::string& out, const Value& value, const JsonDumpOptions& options, int depth) {
  check_depth(depth);
  switch (value.kind()) {
    case Value::Kind::kNone:
      out += "null";
      return;
    case Value::Kind::kBool:
      out += value.as_bool() ? "true" : "false";
      return;
    case Value::Kind::kInt:
      out += std::to_string(value.as_int());
      return;
    case Value::Kind::kFloat:
      out += json_float(value.as_float());
      return;
    case Value::Kind::kString:
      json_string(out, value.as_string(), options.ensure_ascii);
      return;
    case Value::Kind::kList: {
      const auto& items = value.as_list().items;
      if (items.empty()) {
        out += "[]";
        return;
      }
      out.push_back('[');
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += options.item_separator;
        if (options.indent) newline_indent(out, options, depth + 1);
        json_into(out, items[i], options, depth + 1);
      }
      if (options.indent) newline_indent(out, options, depth);
      out.push_back(']');
      return;
    }
    case Value::Kind::kDict: {
      if (value.is_namespace()) not_serializable(value);
      std::vector<const std::pair<Value, Value>*> entries;
      for (const auto& entry : value.as_dict().entries) entries.push_back(&entry);
      if (entries.empty()) {
        out += "{}";
        return;
      }
      if (options.sort_keys) {
        std::stable_sort(entries.begin(), entries.end(), [](const auto* a, const auto* b) {
          return compare_values(a->first, b->first) < 0;
        });
      }
      out.push_back('{');
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i > 0) out += options.item_separator;
        if (options.indent) newline_indent(out, options, depth + 1);
        json_string(out, json_key(entries[i]->first), options.ensure_ascii);
        out += options.key_separator;
        json_into(out, entries[i]->second, options, depth + 1);
      }
      if (options.indent) newline_indent(out, options, depth);
      out.push_back('}');
      return;
    }
    default:
      not_serializable(value);
  }
}

template <typename Json>
Value from_json_impl(const Json& json, int depth) {
  check_depth(depth);
  switch (json.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      return Value::none();
    case nlohmann::json::value_t::boolean:
      return Value(json.template get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value(json.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const auto u = json.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(u));
      return Value(static_cast<int64_t>(u));
    }
    case nlohmann::json::value_t::number_float:
      return Value(json.template get<double>());
    case nlohmann::json::value_t::string:
      return Value(json.template get<std::string>());
    case nlohmann::json::value_t::array: {
      std::vector<Value> items;
      items.reserve(json.size());
      for (const auto& item : json) items.push_back(from_json_impl(item, depth + 1));
      return Value::list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Value dict = Value::dict();
      for (const auto& [key, item] : json.items()) {
        dict.as_dict().insert_new(Value(key), from_json_impl(item, depth + 1));  // keys unique
      }
      return dict;
    }
    case nlohmann::json::value_t::binary:
      break;
  }
  throw TemplateError(TemplateError::Kind::kRuntime, "binary JSON values are not supported");
}

}  // namespace

std::string format_python_float(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == 0.0) return std::signbit(value) ? "-0.0" : "0.0";
  // The shortest round-trip digits, then Python's layout: positional while the decimal exponent
  // is in [-4, 16), scientific otherwise.
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  const std::string sci(buf, result.ptr);
  const size_t e_at = sci.find('e');
  std::string mantissa = sci.substr(0, e_at);
  const int exponent = std::stoi(sci.substr(e_at + 1));
  std::string out;
  if (mantissa[0] == '-') {
    out.push_back('-');
    mantissa.erase(0, 1);
  }
  std::string digits;
  for (const char c : mantissa) {
    if (c != '.') digits.push_back(c);
  }
  const int n = static_cast<int>(digits.size());
  if (exponent >= -4 && exponent < 16) {
    const int point = exponent + 1;  // digits before the decimal point
    if (point <= 0) {
      out += "0." + std::string(static_cast<size_t>(-point), '0') + digits;
    } else if (point >= n) {
      out += digits + std::string(static_cast<size_t>(point - n), '0') + ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(point)) + "." +
             digits.substr(static_cast<size_t>(point));
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (n > 1) out += "." + digits.substr(1);
  char exp_buf[16];
  std::snprintf(exp_buf, sizeof exp_buf, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  return out + exp_buf;
}

std::string escape_html(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string to_python_str(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
      return "";
    case Value::Kind::kNone:
      return "None";
    case Value::Kind::kBool:
      return value.as_bool() ? "True" : "False";
    case Value::Kind::kInt:
      return std::to_string(value.as_int());
    case Value::Kind::kFloat:
      return format_python_float(value.as_float());
    case Value::Kind::kString:
      return value.as_string();
    case Value::Kind::kFunction:
      return "<function " + value.as_function().name + ">";
    default:
      return to_python_repr(value);
  }
}

std::string to_python_repr(const Value& value) {
  std::string out;
  repr_into(out, value, 0);
  return out;
}

std::string dump_json(const Value& value, const JsonDumpOptions& options) {
  std::string out;
  json_into(out, value, options, 0);
  return out;
}

Value from_json(const nlohmann::json& json) { return from_json_impl(json, 0); }
Value from_json(const nlohmann::ordered_json& json) { return from_json_impl(json, 0); }

}  // namespace capibara::chat
