// Jinja's built-in filters (3.1 semantics) plus Hugging Face's `tojson`, as plain functions
// looked up by name.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "chat/native.hpp"
#include "chat/serialize.hpp"
#include "chat/template_error.hpp"
#include "chat/text.hpp"

namespace capibara::chat {
namespace {

std::string str(const Value& v) { return to_python_str(v); }

// Jinja's string filters work on `soft_str(value)`, which keeps a `Markup` a `Markup`.
Value same_flavor(const Value& source, std::string text) {
  return source.is_markup() ? Value::markup(std::move(text)) : Value(std::move(text));
}

// Jinja's `make_attrgetter`: "a.b.0" reads item `a`, then `b`, then index 0; an undefined step
// becomes `fallback` when one is given (and the walk goes on from it, as Jinja does).
Value get_path(Interpreter& interp, Value object, const Value& attribute,
               const Value* fallback = nullptr) {
  std::vector<Value> parts;
  if (attribute.is_string()) {
    for (std::string& part : text::split(attribute.as_string(), std::string("."), -1)) {
      const bool numeric =
          !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
      parts.push_back(numeric ? Value(static_cast<int64_t>(std::stoll(part))) : Value(part));
    }
  } else {
    parts.push_back(attribute);
  }
  for (const Value& part : parts) {
    object = interp.get_item(object, part);
    if (fallback != nullptr && object.is_undefined()) object = *fallback;
  }
  return object;
}

// The sort key of Jinja's `sort`, `unique`, `min`, `max`, `dictsort`: strings lower-cased unless
// `case_sensitive`.
Value sort_key(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return text::lower(v.as_string());
  return v;
}

size_t length_of(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return 0;
    case Value::Kind::kString:
      return text::length(v.as_string());
    case Value::Kind::kList:
      return v.as_list().items.size();
    case Value::Kind::kDict:
      if (!v.is_namespace()) return v.as_dict().size();
      break;
    default:
      break;
  }
  fail("object of type '" + v.type_name() + "' has no len()");
}

Value filter_length(Interpreter&, const Value& v, const CallArgs& args) {
  ArgReader(args, "length", {});
  return static_cast<int64_t>(length_of(v));
}

Value filter_default(Interpreter&, const Value& v, const CallArgs& args) {
  const ArgReader a(args, "default", {"default_value", "boolean"});
  const bool boolean = a.get_bool(1, false);
  if (v.is_undefined() || (boolean && !v.truthy())) return a.get_or(0, Value(""));
  return v;
}

Value filter_trim(Interpreter&, const Value& v, const CallArgs& args) {
  const ArgReader a(args, "trim", {"chars"});
  return same_flavor(v, text::strip(str(v), a.get_string(0), true, true));
}

Value filter_upper(Interpreter&, const Value& v, const CallArgs& args) {
  ArgReader(args, "upper", {});
  return same_flavor(v, text::upper(str(v)));
}

Value filter_lower(Interpreter&, const Value& v, const CallArgs& args) {
  ArgReader(args, "lower", {});
  return same_flavor(v, text::lower(str(v)));
}

Value filter_capitalize(Interpreter&, const Value& v, const CallArgs& args) {
  ArgReader(args, "capitalize", {});
  return same_flavor(v, text::capitalize(str(v)));
}

// Jinja's `title`: upper-cases the first letter of each word, where words start after
// whitespace, `-`, `(`, `{`, `[` or `<`, and lower-cases the rest.
Value filter_title(Interpreter&, const Value& v, const CallArgs& args) {
  ArgReader(args, "title", {});
  std::u32string cps = text::decode(str(v));
  bool word_start = true;
  for (char32_t& c : cps) {
    const bool separator =
        text::is_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    if (separator) {
      word_start = true;
      continue;
    }
    c = word_start ? text::to_upper(c) : text::to_lower(c);
    word_start = false;
  }
  return same_flavor(v, text::encode(cps));
}

Value filter_replace(Interpreter& interp, const Value& v, const CallArgs& args) {
  const ArgReader a(args, "replace", {"old", "new", "count"});
  std::string out = text::replace(str(v), str(a.get(0)), str(a.get(1)), a.get_int(2, -1));
  interp.check_string_size(out.size());
  return out;
}

Value filter_string(Interpreter&, const Value& v, const CallArgs& args) {
  ArgReader(args, "string", {});
  return same_flavor(v, str(v));
}

Value filter_safe(Interpreter&, const Value& v, const CallArgs& args) {
  ArgReader(args, "safe", {});
  return v.is_markup() ? v : Value::markup(str(v));
}

Value filter_escape(Interpreter&, const Value& v, const CallArgs& args) {
  ArgReader(args, "escape", {});
  return v.is_markup() ? v : Value::markup(escape_html(str(v)));
}

// Hugging Face's `tojson`: `json.dumps(x, ensure_ascii=False, indent=None, separators=None,
// sort_keys=False)` (no HTML escaping, keys in insertion order).
Value filter_tojson(Interpreter& interp, const Value& v, const CallArgs& args) {
  const ArgReader a(args, "tojson", {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonDumpOptions options;
  options.ensure_ascii = a.get_bool(0, false);
  const Value& indent = a.get(1);
  if (indent.is_int() || indent.is_bool()) {
    options.indent = std::string(static_cast<size_t>(std::max<int64_t>(0, indent.to_int())), ' ');
  } else if (indent.is_string()) {
    options.indent = indent.as_string();
  }
  if (options.indent) options.item_separator = ",";
  const Value& separators = a.get(2);
  if (separators.is_list()) {
    const auto& items = separators.as_list().items;
    if (items.size() != 2 || !items[0].is_string() || !items[1].is_string()) {
      fail("tojson(): separators must be a pair of strings");
    }
    options.item_separator = items[0].as_string();
    options.key_separator = items[1].as_string();
  }
  options.sort_keys = a.get_bool(3, false);
  std::string out = dump_json(v, options);
  interp.check_string_size(out.size());
  return out;
}

// Not a Jinja filter: some templates (DeepSeek V3.2 and later) parse tool-call arguments
// given as JSON text with it, as llama.cpp and vLLM allow.
Value filter_from_json(Interpreter&, const Value& v, const CallArgs& args) {
  ArgReader(args, "from_json", {});
  if (!v.is_string()) fail("from_json expects a string, not " + v.type_name());
  const auto json = nlohmann::ordered_json::parse(v.as_string(), nullptr, false);
  if (json.is_discarded()) fail("from_json: the text is not valid JSON");
  return from_json(json);
}

Value filter_first(Interpreter&, const Value& v, const CallArgs& args) {
  ArgReader(args, "first", {});
  if (v.is_list()) {
    const auto& items = v.as_list().items;
    if (!items.empty()) return items.front();
  } else {
    std::vector<Value> items = iterate(v);
    if (!items.empty()) return items.front();
  }
  return Value::undefined("No first item, sequence was empty.");
}

Value filter_last(Interpreter&, const Value& v, const CallArgs& args) {
  ArgReader(args, "last", {});
  if (v.is_list()) {
    const auto& items = v.as_list().items;
    if (!items.empty()) return items.back();
  } else {
    std::vector<Value> items = iterate(v);
    if (!items.empty()) return items.back();
  }
  return Value::undefined("No last item, sequence was empty.");
}

Value filter_list(Interpreter&, const Value& v, const CallArgs& args) {
  ArgReader(args, "list", {});
  return Value::list(iterate(v));
}

Value filter_items(Interpreter&, const Value& v, const CallArgs& args) {
  ArgReader(args, "items", {});
  if (v.is_undefined()) return Value::list();
  if (!v.is_mapping()) fail("Can only get item pairs from a mapping.");
  std::vector<Value> pairs;
  for (const auto& [key, value] : v.as_dict().entries) pairs.push_back(Value::tuple({key, value}));
  return Value::list(std::move(pairs));
}

Value filter_join(Interpreter& interp, const Value& v, const CallArgs& args) {
  const ArgReader a(args, "join", {"d", "attribute"});
  const std::string separator = a.has(0) ? str(a.get(0)) : "";
  std::string out;
  bool first = true;
  for (const Value& item : iterate(v)) {
    if (!first) out += separator;
    first = false;
    out += str(a.has(1) ? get_path(interp, item, a.get(1)) : item);
    interp.check_string_size(out.size());
  }
  return out;
}

Value filter_reverse(Interpreter&, const Value& v, const CallArgs& args) {
  ArgReader(args, "reverse", {});
  if (v.is_string()) {
    std::u32string cps = text::decode(v.as_string());
    std::reverse(cps.begin(), cps.end());
    return text::encode(cps);
  }
  std::vector<Value> items = iterate(v);
  std::reverse(items.begin(), items.end());
  return Value::list(std::move(items));
}

Value filter_sort(Interpreter& interp, const Value& v, const CallArgs& args) {
  const ArgReader a(args, "sort", {"reverse", "case_sensitive", "attribute"});
  const bool reverse = a.get_bool(0, false);
  const bool case_sensitive = a.get_bool(1, false);
  std::vector<Value> items = iterate(v);
  std::vector<std::pair<Value, size_t>> keyed;
  for (size_t i = 0; i < items.size(); ++i) {
    const Value key = a.has(2) ? get_path(interp, items[i], a.get(2)) : items[i];
    keyed.emplace_back(sort_key(key, case_sensitive), i);
  }
  std::stable_sort(keyed.begin(), keyed.end(), [reverse](const auto& x, const auto& y) {
    const int c = compare_values(x.first, y.first);
    return reverse ? c > 0 : c < 0;
  });
  std::vector<Value> out;
  for (const auto& [key, i] : keyed) out.push_back(items[i]);
  return Value::list(std::move(out));
}

Value filter_dictsort(Interpreter&, const Value& v, const CallArgs& args) {
  const ArgReader a(args, "dictsort", {"case_sensitive", "by", "reverse"});
  const bool case_sensitive = a.get_bool(0, false);
  const std::string by = a.get_string(1).value_or("key");
  const bool reverse = a.get_bool(2, false);
  if (by != "key" && by != "value") fail("You can only sort by either \"key\" or \"value\"");
  if (!v.is_mapping()) fail("dictsort expects a mapping, not " + v.type_name());
  std::vector<Value> pairs;
  for (const auto& [key, value] : v.as_dict().entries) pairs.push_back(Value::tuple({key, value}));
  const size_t pos = by == "key" ? 0 : 1;
  std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& x, const Value& y) {
    const int c = compare_values(sort_key(x.as_list().items[pos], case_sensitive),
                                 sort_key(y.as_list().items[pos], case_sensitive));
    return reverse ? c > 0 : c < 0;
  });
  return Value::list(std::move(pairs));
}

Value filter_unique(Interpreter& interp, const Value& v, const CallArgs& args) {
  const ArgReader a(args, "unique", {"case_sensitive", "attribute"});
  const bool case_sensitive = a.get_bool(0, false);
  std::vector<Value> out;
  std::vector<Value> seen;
  for (const Value& item : iterate(v)) {
    const Value key = sort_key(a.has(1) ? get_path(interp, item, a.get(1)) : item, case_sensitive);
    if (std::any_of(seen.begin(), seen.end(),
                    [&](const Value& s) { return values_equal(s, key); })) {
      continue;
    }
    interp.charge(seen.size() / 64);
    seen.push_back(key);
    out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value min_max(Interpreter& interp, const Value& v, const CallArgs& args, bool want_max) {
  const ArgReader a(args, want_max ? "max" : "min", {"case_sensitive", "attribute"});
  const bool case_sensitive = a.get_bool(0, false);
  std::vector<Value> items = iterate(v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  Value best_key;
  for (size_t i = 0; i < items.size(); ++i) {
    Value key =
        sort_key(a.has(1) ? get_path(interp, items[i], a.get(1)) : items[i], case_sensitive);
    if (i == 0 ||
        (want_max ? compare_values(key, best_key) > 0 : compare_values(key, best_key) < 0)) {
      best = i;
      best_key = std::move(key);
    }
  }
  return items[best];
}

Value filter_min(Interpreter& interp, const Value& v, const CallArgs& args) {
  return min_max(interp, v, args, false);
}
Value filter_max(Interpreter& interp, const Value& v, const CallArgs& args) {
  return min_max(interp, v, args, true);
}

Value filter_sum(Interpreter& interp, const Value& v, const CallArgs& args) {
  const ArgReader a(args, "sum", {"attribute", "start"});
  Value total = a.get_or(1, Value(0));
  for (const Value& item : iterate(v)) {
    total = binary_operation(interp, BinaryOp::kAdd, total,
                             a.has(0) ? get_path(interp, item, a.get(0)) : item);
  }
  return total;
}

Value filter_abs(Interpreter&, const Value& v, const CallArgs& args) {
  ArgReader(args, "abs", {});
  if (v.is_float()) return std::fabs(v.as_float());
  if (v.is_int() || v.is_bool()) {
    const int64_t x = v.to_int();
    return x < 0 ? negate(Value(x)) : Value(x);
  }
  fail("bad operand type for abs(): '" + v.type_name() + "'");
}

Value filter_round(Interpreter&, const Value& v, const CallArgs& args) {
  const ArgReader a(args, "round", {"precision", "method"});
  const int64_t precision = a.get_int(0, 0);
  const std::string method = a.get_string(1).value_or("common");
  const double x = v.to_double();
  const double scale = std::pow(10.0, static_cast<double>(precision));
  if (method == "ceil") return std::ceil(x * scale) / scale;
  if (method == "floor") return std::floor(x * scale) / scale;
  if (method != "common") fail("method must be 'common', 'ceil' or 'floor'");
  // Python's round(): correctly rounded decimal, ties to even, as printf does it.
  if (std::isnan(x) || std::isinf(x) || precision > 300) return x;
  if (precision < 0)
    return std::nearbyint(x / std::pow(10.0, static_cast<double>(-precision))) *
           std::pow(10.0, static_cast<double>(-precision));
  char buf[512];
  std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(precision), x);
  return std::strtod(buf, nullptr);
}

// Python's int(text, base): surrounding whitespace and `_` separators allowed.
std::optional<int64_t> parse_int(const std::string& s, int base) {
  const std::string t = text::strip(s, std::nullopt, true, true);
  std::string digits;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '_' && i > 0 && i + 1 < t.size()) continue;
    digits.push_back(t[i]);
  }
  if (digits.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(digits.c_str(), &end, base);
  if (errno != 0 || *end != '\0') return std::nullopt;
  return v;
}

std::optional<double> parse_float(const Value& v) {
  if (v.is_number()) return v.to_double();
  if (!v.is_string()) return std::nullopt;
  const std::string t = text::strip(v.as_string(), std::nullopt, true, true);
  if (t.empty()) return std::nullopt;
  char* end = nullptr;
  const double d = std::strtod(t.c_str(), &end);
  if (*end != '\0') return std::nullopt;
  return d;
}

Value filter_int(Interpreter&, const Value& v, const CallArgs& args) {
  const ArgReader a(args, "int", {"default", "base"});
  const Value fallback = a.get_or(0, Value(0));
  if (v.is_int() || v.is_bool()) return v.to_int();
  if (v.is_float()) {
    if (!std::isfinite(v.as_float())) return fallback;
    return static_cast<int64_t>(v.as_float());
  }
  if (v.is_string()) {
    if (auto i = parse_int(v.as_string(), static_cast<int>(a.get_int(1, 10)))) return *i;
  }
  if (auto d = parse_float(v); d && std::isfinite(*d)) return static_cast<int64_t>(*d);
  return fallback;
}

Value filter_float(Interpreter&, const Value& v, const CallArgs& args) {
  const ArgReader a(args, "float", {"default"});
  if (auto d = parse_float(v)) return *d;
  return a.get_or(0, Value(0.0));
}

Value filter_indent(Interpreter& interp, const Value& v, const CallArgs& args) {
  const ArgReader a(args, "indent", {"width", "first", "blank"});
  const std::string indentation =
      a.get(0).is_string()
          ? a.get(0).as_string()
          : std::string(static_cast<size_t>(std::max<int64_t>(0, a.get_int(0, 4))), ' ');
  const bool first = a.get_bool(1, false);
  const bool blank = a.get_bool(2, false);
  std::vector<std::string> lines = text::splitlines(str(v) + "\n", false);
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) {
      out += "\n";
      if (blank || !lines[i].empty()) out += indentation;
    }
    out += lines[i];
    interp.check_string_size(out.size());
  }
  if (first) out = indentation + out;
  return same_flavor(v, std::move(out));
}

Value filter_center(Interpreter& interp, const Value& v, const CallArgs& args) {
  const ArgReader a(args, "center", {"width"});
  const std::string s = str(v);
  const auto width = static_cast<size_t>(std::max<int64_t>(0, a.get_int(0, 80)));
  interp.check_string_size(width);
  const size_t n = text::length(s);
  if (n >= width) return s;
  const size_t missing = width - n;
  // Python's str.center puts the extra space on the right, except for odd widths of odd
  // strings where it goes left.
  const size_t left = missing / 2 + (missing & width & 1);
  return std::string(left, ' ') + s + std::string(missing - left, ' ');
}

Value filter_wordcount(Interpreter&, const Value& v, const CallArgs& args) {
  ArgReader(args, "wordcount", {});
  int64_t words = 0;
  bool in_word = false;
  for (const char32_t c : text::decode(str(v))) {
    const bool word_char = (c >= '0' && c <= '9') || c == '_' || text::is_cased(c) || c > 0x7F;
    if (word_char && !in_word) ++words;
    in_word = word_char;
  }
  return words;
}

Value filter_format(Interpreter& interp, const Value& v, const CallArgs& args) {
  if (!args.positional.empty() && !args.keyword.empty()) {
    fail("can't handle positional and keyword arguments at the same time");
  }
  Value values = Value::tuple(args.positional);
  if (!args.keyword.empty()) {
    values = Value::dict();
    for (const auto& [key, value] : args.keyword) values.as_dict().set(Value(key), value);
  }
  std::string out = percent_format(str(v), v.is_markup() ? escape_arguments(values) : values);
  interp.check_string_size(out.size());
  return same_flavor(v, std::move(out));
}

Value filter_batch(Interpreter&, const Value& v, const CallArgs& args) {
  const ArgReader a(args, "batch", {"linecount", "fill_with"});
  const int64_t size = a.get_int(0, 1);
  if (size <= 0) fail("batch(): linecount must be positive");
  std::vector<Value> batches;
  std::vector<Value> current;
  for (Value& item : iterate(v)) {
    current.push_back(std::move(item));
    if (static_cast<int64_t>(current.size()) == size) {
      batches.push_back(Value::list(std::move(current)));
      current.clear();
    }
  }
  if (!current.empty()) {
    if (a.has(1)) {
      while (static_cast<int64_t>(current.size()) < size) current.push_back(a.get(1));
    }
    batches.push_back(Value::list(std::move(current)));
  }
  return Value::list(std::move(batches));
}

Value filter_attr(Interpreter& interp, const Value& v, const CallArgs& args) {
  const ArgReader a(args, "attr", {"name"});
  return interp.get_attribute(v, str(a.get(0)));
}

Value filter_pprint(Interpreter&, const Value& v, const CallArgs& args) {
  ArgReader(args, "pprint", {});
  return to_python_repr(v);
}

// select / reject / selectattr / rejectattr share Jinja's `select_or_reject`.
Value select_or_reject(Interpreter& interp, const Value& v, const CallArgs& args, bool select,
                       bool by_attribute) {
  size_t next = 0;
  Value attribute;
  if (by_attribute) {
    if (args.positional.empty()) fail("Missing parameter for attribute name");
    attribute = args.positional[next++];
  }
  std::string test;
  CallArgs test_args;
  if (next < args.positional.size()) {
    test = str(args.positional[next++]);
    test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(next),
                                args.positional.end());
    test_args.keyword = args.keyword;
  }
  std::vector<Value> out;
  if (!v.truthy()) return Value::list();  // Jinja: `if value:` before iterating (None gives [])
  for (Value& item : iterate(v)) {
    const Value subject = by_attribute ? get_path(interp, item, attribute) : item;
    const bool passed =
        test.empty() ? subject.truthy() : interp.apply_test(test, subject, test_args);
    if (passed == select) out.push_back(std::move(item));
  }
  return Value::list(std::move(out));
}

Value filter_select(Interpreter& interp, const Value& v, const CallArgs& args) {
  return select_or_reject(interp, v, args, true, false);
}
Value filter_reject(Interpreter& interp, const Value& v, const CallArgs& args) {
  return select_or_reject(interp, v, args, false, false);
}
Value filter_selectattr(Interpreter& interp, const Value& v, const CallArgs& args) {
  return select_or_reject(interp, v, args, true, true);
}
Value filter_rejectattr(Interpreter& interp, const Value& v, const CallArgs& args) {
  return select_or_reject(interp, v, args, false, true);
}

Value filter_map(Interpreter& interp, const Value& v, const CallArgs& args) {
  std::vector<Value> out;
  if (!v.truthy()) return Value::list();  // Jinja: `if value:` before iterating (None gives [])
  const auto attribute = std::find_if(args.keyword.begin(), args.keyword.end(),
                                      [](const auto& kw) { return kw.first == "attribute"; });
  if (args.positional.empty() && attribute != args.keyword.end()) {
    const ArgReader a(args, "map", {"attribute", "default"});
    for (const Value& item : iterate(v)) {
      out.push_back(get_path(interp, item, a.get(0), a.has(1) ? &a.get(1) : nullptr));
    }
    return Value::list(std::move(out));
  }
  if (args.positional.empty()) fail("map requires a filter argument");
  const std::string name = str(args.positional[0]);
  CallArgs filter_args;
  filter_args.positional.assign(args.positional.begin() + 1, args.positional.end());
  filter_args.keyword = args.keyword;
  for (const Value& item : iterate(v)) out.push_back(interp.apply_filter(name, item, filter_args));
  return Value::list(std::move(out));
}

const std::unordered_map<std::string_view, FilterFn>& filter_table() {
  static const std::unordered_map<std::string_view, FilterFn> kTable = {
      {"abs", filter_abs},
      {"attr", filter_attr},
      {"batch", filter_batch},
      {"capitalize", filter_capitalize},
      {"center", filter_center},
      {"count", filter_length},
      {"d", filter_default},
      {"default", filter_default},
      {"dictsort", filter_dictsort},
      {"e", filter_escape},
      {"escape", filter_escape},
      {"first", filter_first},
      {"float", filter_float},
      {"format", filter_format},
      {"from_json", filter_from_json},
      {"indent", filter_indent},
      {"int", filter_int},
      {"items", filter_items},
      {"join", filter_join},
      {"last", filter_last},
      {"length", filter_length},
      {"list", filter_list},
      {"lower", filter_lower},
      {"map", filter_map},
      {"max", filter_max},
      {"min", filter_min},
      {"pprint", filter_pprint},
      {"reject", filter_reject},
      {"rejectattr", filter_rejectattr},
      {"replace", filter_replace},
      {"reverse", filter_reverse},
      {"round", filter_round},
      {"safe", filter_safe},
      {"select", filter_select},
      {"selectattr", filter_selectattr},
      {"sort", filter_sort},
      {"string", filter_string},
      {"sum", filter_sum},
      {"title", filter_title},
      {"tojson", filter_tojson},
      {"trim", filter_trim},
      {"unique", filter_unique},
      {"upper", filter_upper},
      {"wordcount", filter_wordcount},
  };
  return kTable;
}

}  // namespace

FilterFn find_filter(std::string_view name) {
  const auto& table = filter_table();
  const auto it = table.find(name);
  return it == table.end() ? nullptr : it->second;
}

}  // namespace capibara::chat
