// Python's string formatting: printf-style `format % args` and `format.format(...)`, with the
// format-spec mini-language (fill, align, sign, width, grouping, precision, type).
#include <cmath>
#include <cstdio>
#include <string>

#include "chat/native.hpp"
#include "chat/serialize.hpp"
#include "chat/text.hpp"

namespace capibara::chat {
namespace {

struct Spec {
  char32_t fill = ' ';
  char align = '\0';  // '<', '>', '^', '=' or none
  char sign = '-';
  bool alternate = false;
  bool zero = false;
  int width = 0;
  char grouping = '\0';
  int precision = -1;
  char type = '\0';
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int read_number(const std::string& s, size_t& i) {
  int n = 0;
  while (i < s.size() && is_digit(s[i])) {
    n = n * 10 + (s[i++] - '0');
    if (n > 10000) fail("format width or precision too large");
  }
  return n;
}

Spec parse_spec(const std::string& spec) {
  Spec out;
  size_t i = 0;
  const std::u32string cps = text::decode(spec);
  const auto is_align = [](char32_t c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (cps.size() >= 2 && is_align(cps[1])) {
    out.fill = cps[0];
    out.align = static_cast<char>(cps[1]);
    std::string first;
    text::append_code_point(first, cps[0]);
    i = first.size() + 1;
  } else if (!cps.empty() && is_align(cps[0])) {
    out.align = static_cast<char>(cps[0]);
    i = 1;
  }
  if (i < spec.size() && (spec[i] == '+' || spec[i] == '-' || spec[i] == ' ')) out.sign = spec[i++];
  if (i < spec.size() && spec[i] == '#') out.alternate = true, ++i;
  if (i < spec.size() && spec[i] == '0') out.zero = true, ++i;
  out.width = read_number(spec, i);
  if (i < spec.size() && (spec[i] == ',' || spec[i] == '_')) out.grouping = spec[i++];
  if (i < spec.size() && spec[i] == '.') {
    ++i;
    out.precision = read_number(spec, i);
  }
  if (i < spec.size()) out.type = spec[i++];
  if (i != spec.size()) fail("invalid format specifier '" + spec + "'");
  return out;
}

std::string group_digits(const std::string& digits, char separator) {
  std::string out;
  const size_t n = digits.size();
  for (size_t i = 0; i < n; ++i) {
    if (i > 0 && (n - i) % 3 == 0) out.push_back(separator);
    out.push_back(digits[i]);
  }
  return out;
}

// Pads `body` (with its `sign` prefix kept in front for '=' alignment) to the spec's width.
std::string pad(const std::string& sign, const std::string& body, const Spec& spec,
                char default_align) {
  char align = spec.align != '\0' ? spec.align : default_align;
  char32_t fill = spec.fill;
  if (spec.align == '\0' && spec.zero && default_align == '>') {
    align = '=';
    fill = '0';
  }
  const size_t length = text::length(sign) + text::length(body);
  const size_t width = static_cast<size_t>(spec.width);
  if (length >= width) return sign + body;
  std::string padding;
  const size_t missing = width - length;
  const auto fill_n = [&](size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) text::append_code_point(s, fill);
    return s;
  };
  switch (align) {
    case '<':
      return sign + body + fill_n(missing);
    case '^':
      return fill_n(missing / 2) + sign + body + fill_n(missing - missing / 2);
    case '=':
      return sign + fill_n(missing) + body;
    default:
      return fill_n(missing) + sign + body;
  }
}

std::string sign_of(bool negative, char sign) {
  if (negative) return "-";
  if (sign == '+') return "+";
  if (sign == ' ') return " ";
  return "";
}

std::string format_int(int64_t value, const Spec& spec) {
  const bool negative = value < 0;
  const uint64_t magnitude =
      negative ? static_cast<uint64_t>(-(value + 1)) + 1 : static_cast<uint64_t>(value);
  std::string digits;
  std::string prefix;
  char buf[80];
  switch (spec.type) {
    case 'x':
    case 'X':
      std::snprintf(buf, sizeof buf, spec.type == 'x' ? "%llx" : "%llX",
                    static_cast<unsigned long long>(magnitude));
      prefix = spec.alternate ? (spec.type == 'x' ? "0x" : "0X") : "";
      break;
    case 'o':
      std::snprintf(buf, sizeof buf, "%llo", static_cast<unsigned long long>(magnitude));
      prefix = spec.alternate ? "0o" : "";
      break;
    case 'b': {
      std::string bits;
      for (uint64_t m = magnitude; m != 0; m >>= 1) bits.insert(bits.begin(), (m & 1) ? '1' : '0');
      std::snprintf(buf, sizeof buf, "%s", bits.empty() ? "0" : bits.c_str());
      prefix = spec.alternate ? "0b" : "";
      break;
    }
    case 'c': {
      std::string s;
      text::append_code_point(s, static_cast<char32_t>(value));
      return pad("", s, spec, '<');
    }
    default:
      std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(magnitude));
  }
  digits = buf;
  if (spec.grouping != '\0') digits = group_digits(digits, spec.grouping);
  return pad(sign_of(negative, spec.sign) + prefix, digits, spec, '>');
}

// `%.*f` and friends; `format` below is always one of the literals of the switch.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
std::string printf_double(char type, bool alternate, int precision, double value) {
  const auto print = [&](const char* plain, const char* alt) {
    const char* format = alternate ? alt : plain;
    const int n = std::snprintf(nullptr, 0, format, precision, value);
    std::string out(static_cast<size_t>(n) + 1, '\0');
    std::snprintf(out.data(), out.size(), format, precision, value);
    out.resize(static_cast<size_t>(n));
    return out;
  };
  switch (type) {
    case 'e':
      return print("%.*e", "%#.*e");
    case 'E':
      return print("%.*E", "%#.*E");
    case 'f':
      return print("%.*f", "%#.*f");
    case 'F':
      return print("%.*F", "%#.*F");
    case 'G':
      return print("%.*G", "%#.*G");
    default:
      return print("%.*g", "%#.*g");
  }
}
#pragma GCC diagnostic pop

std::string format_float(double value, const Spec& spec) {
  const bool negative = std::signbit(value) && !std::isnan(value);
  const double magnitude = std::fabs(value);
  std::string body;
  char type = spec.type;
  if (std::isinf(magnitude) || std::isnan(magnitude)) {
    body = std::isnan(magnitude) ? "nan" : "inf";
    if (type == 'F' || type == 'E' || type == 'G') body = std::isnan(magnitude) ? "NAN" : "INF";
  } else if (type == '\0' && spec.precision < 0) {
    body = format_python_float(magnitude);
  } else {
    const int precision = spec.precision < 0 ? 6 : spec.precision;
    double shown = magnitude;
    std::string suffix;
    if (type == '%') {
      shown *= 100;
      type = 'f';
      suffix = "%";
    }
    if (type == '\0') type = 'g';
    body = printf_double(type, spec.alternate, precision, shown) + suffix;
  }
  if (spec.grouping != '\0') {
    const size_t point = body.find_first_not_of("0123456789");
    body = group_digits(body.substr(0, point), spec.grouping) +
           (point == std::string::npos ? "" : body.substr(point));
  }
  return pad(sign_of(negative, spec.sign), body, spec, '>');
}

std::string apply_spec(const Value& value, const std::string& spec_text) {
  if (spec_text.empty()) return to_python_str(value);
  const Spec spec = parse_spec(spec_text);
  if (value.is_float() || (value.is_number() && spec.type != '\0' &&
                           std::string_view("eEfFgG%").find(spec.type) != std::string_view::npos)) {
    return format_float(value.to_double(), spec);
  }
  if (value.is_int() || (value.is_bool() && spec.type != '\0' && spec.type != 's')) {
    return format_int(value.to_int(), spec);
  }
  if (spec.type != '\0' && spec.type != 's') {
    fail("unknown format code '" + std::string(1, spec.type) + "' for object of type '" +
         value.type_name() + "'");
  }
  std::string s = to_python_str(value);
  if (spec.precision >= 0) {
    const std::u32string cps = text::decode(s);
    if (cps.size() > static_cast<size_t>(spec.precision)) {
      s = text::encode(std::u32string_view(cps).substr(0, static_cast<size_t>(spec.precision)));
    }
  }
  return pad("", s, spec, '<');
}

Value lookup_field(const Value& root, const std::string& path) {
  // `name.attr[key]` chains after the first component.
  Value current = root;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '.') {
      size_t j = i + 1;
      while (j < path.size() && path[j] != '.' && path[j] != '[') ++j;
      const std::string name = path.substr(i + 1, j - i - 1);
      Value* v = current.is_dict() ? current.as_dict().find(name) : nullptr;
      if (v == nullptr)
        fail("'" + current.type_name() + "' object has no attribute '" + name + "'");
      current = *v;
      i = j;
    } else if (path[i] == '[') {
      const size_t close = path.find(']', i);
      if (close == std::string::npos) fail("missing ']' in format string");
      const std::string key = path.substr(i + 1, close - i - 1);
      if (current.is_list() && !key.empty() &&
          key.find_first_not_of("0123456789") == std::string::npos) {
        std::optional<Value> item = index_value(current, static_cast<int64_t>(std::stoll(key)));
        if (!item) fail("tuple index out of range");
        current = *item;
      } else {
        Value* v = current.is_dict() ? current.as_dict().find(key) : nullptr;
        if (v == nullptr) fail("KeyError: '" + key + "'");
        current = *v;
      }
      i = close + 1;
    } else {
      fail("invalid format field '" + path + "'");
    }
  }
  return current;
}

}  // namespace

std::string brace_format(const std::string& format, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  size_t i = 0;
  while (i < format.size()) {
    const char c = format[i];
    if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}') {
        out.push_back('}');
        i += 2;
        continue;
      }
      fail("single '}' encountered in format string");
    }
    if (c != '{') {
      out.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '{') {
      out.push_back('{');
      i += 2;
      continue;
    }
    const size_t close = format.find('}', i);
    if (close == std::string::npos) fail("single '{' encountered in format string");
    const std::string field = format.substr(i + 1, close - i - 1);
    i = close + 1;
    std::string spec;
    std::string name = field;
    if (const size_t colon = name.find(':'); colon != std::string::npos) {
      spec = name.substr(colon + 1);
      name = name.substr(0, colon);
    }
    char conversion = '\0';
    if (const size_t bang = name.find('!'); bang != std::string::npos) {
      conversion = bang + 1 < name.size() ? name[bang + 1] : '\0';
      name = name.substr(0, bang);
    }
    const size_t path_at = name.find_first_of(".[");
    const std::string head = name.substr(0, path_at);
    const std::string path = path_at == std::string::npos ? "" : name.substr(path_at);
    Value value;
    if (head.empty() || head.find_first_not_of("0123456789") == std::string::npos) {
      const size_t index = head.empty() ? auto_index++ : std::stoul(head);
      if (index >= args.positional.size()) {
        fail("Replacement index " + std::to_string(index) +
             " out of range for positional args tuple");
      }
      value = args.positional[index];
    } else {
      bool found = false;
      for (const auto& [key, v] : args.keyword) {
        if (key == head) value = v, found = true;
      }
      if (!found) fail("KeyError: '" + head + "'");
    }
    if (!path.empty()) value = lookup_field(value, path);
    if (conversion == 'r' || conversion == 'a') {
      value = Value(to_python_repr(value));
    } else if (conversion == 's') {
      value = Value(to_python_str(value));
    }
    out += apply_spec(value, spec);
  }
  return out;
}

std::string percent_format(const std::string& format, const Value& args) {
  std::vector<Value> values;
  const Value* mapping = nullptr;
  if (args.is_tuple()) {
    values = args.as_list().items;
  } else if (args.is_mapping()) {
    mapping = &args;
  } else {
    values.push_back(args);
  }
  size_t next = 0;
  std::string out;
  size_t i = 0;
  while (i < format.size()) {
    if (format[i] != '%') {
      out.push_back(format[i++]);
      continue;
    }
    ++i;
    if (i >= format.size()) fail("incomplete format");
    Value value;
    bool have_value = false;
    if (format[i] == '(') {
      const size_t close = format.find(')', i);
      if (close == std::string::npos || mapping == nullptr) fail("format requires a mapping");
      Value* v = mapping->as_dict().find(format.substr(i + 1, close - i - 1));
      if (v == nullptr) fail("KeyError: '" + format.substr(i + 1, close - i - 1) + "'");
      value = *v;
      have_value = true;
      i = close + 1;
    }
    Spec spec;
    spec.sign = '-';
    while (i < format.size() &&
           std::string_view("-+ #0").find(format[i]) != std::string_view::npos) {
      switch (format[i++]) {
        case '-':
          spec.align = '<';
          break;
        case '+':
          spec.sign = '+';
          break;
        case ' ':
          if (spec.sign != '+') spec.sign = ' ';
          break;
        case '#':
          spec.alternate = true;
          break;
        default:
          spec.zero = true;
      }
    }
    spec.width = read_number(format, i);
    if (i < format.size() && format[i] == '.') {
      ++i;
      spec.precision = read_number(format, i);
    }
    while (i < format.size() && (format[i] == 'h' || format[i] == 'l' || format[i] == 'L')) ++i;
    if (i >= format.size()) fail("incomplete format");
    const char conversion = format[i++];
    if (conversion == '%') {
      out.push_back('%');
      continue;
    }
    if (!have_value) {
      if (mapping != nullptr) {
        value = *mapping;
      } else {
        if (next >= values.size()) fail("not enough arguments for format string");
        value = values[next++];
      }
    }
    if (spec.align == '<') spec.zero = false;
    switch (conversion) {
      case 's': {
        std::string shown = to_python_str(value);
        if (spec.precision >= 0) {
          const std::u32string cps = text::decode(shown);
          if (cps.size() > static_cast<size_t>(spec.precision)) {
            shown = text::encode(
                std::u32string_view(cps).substr(0, static_cast<size_t>(spec.precision)));
          }
        }
        out += pad("", shown, spec, '>');
        break;
      }
      case 'r':
      case 'a':
        out += pad("", to_python_repr(value), spec, '>');
        break;
      case 'd':
      case 'i':
      case 'u':
        if (!value.is_number()) {
          fail("%" + std::string(1, conversion) + " format: a real number is required, not " +
               value.type_name());
        }
        spec.type = 'd';
        out += format_int(
            value.is_float() ? static_cast<int64_t>(value.as_float()) : value.to_int(), spec);
        break;
      case 'x':
      case 'X':
      case 'o':
      case 'c':
        spec.type = conversion;
        out += format_int(value.to_int(), spec);
        break;
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G':
        if (!value.is_number()) fail("must be real number, not " + value.type_name());
        spec.type = conversion;
        if (spec.precision < 0) spec.precision = 6;
        out += format_float(value.to_double(), spec);
        break;
      default:
        fail(std::string("unsupported format character '") + conversion + "'");
    }
  }
  if (mapping == nullptr && next < values.size()) {
    fail("not all arguments converted during string formatting");
  }
  return out;
}

}  // namespace capibara::chat
