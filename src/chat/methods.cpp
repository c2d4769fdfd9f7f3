// Python methods of str, list and dict that templates call (`content.strip()`,
// `messages.append(m)`, `tool.get('name')`), bound to their object on attribute access.
#include <algorithm>
#include <unordered_map>

#include "chat/native.hpp"
#include "chat/serialize.hpp"
#include "chat/text.hpp"

namespace capibara::chat {
namespace {

using MethodFn = Value (*)(Interpreter&, const Value& self, const CallArgs& args);

const std::string& self_str(const Value& self) { return self.as_string(); }

Value list_of_strings(std::vector<std::string> parts) {
  std::vector<Value> items;
  items.reserve(parts.size());
  for (std::string& p : parts) items.emplace_back(std::move(p));
  return Value::list(std::move(items));
}

// --- str ----------------------------------------------------------------------------------

Value str_strip(Interpreter&, const Value& self, const CallArgs& args) {
  const ArgReader a(args, "strip", {"chars"});
  return text::strip(self_str(self), a.get_string(0), true, true);
}
Value str_lstrip(Interpreter&, const Value& self, const CallArgs& args) {
  const ArgReader a(args, "lstrip", {"chars"});
  return text::strip(self_str(self), a.get_string(0), true, false);
}
Value str_rstrip(Interpreter&, const Value& self, const CallArgs& args) {
  const ArgReader a(args, "rstrip", {"chars"});
  return text::strip(self_str(self), a.get_string(0), false, true);
}
Value str_split(Interpreter&, const Value& self, const CallArgs& args) {
  const ArgReader a(args, "split", {"sep", "maxsplit"});
  return list_of_strings(text::split(self_str(self), a.get_string(0), a.get_int(1, -1)));
}
Value str_rsplit(Interpreter&, const Value& self, const CallArgs& args) {
  const ArgReader a(args, "rsplit", {"sep", "maxsplit"});
  return list_of_strings(text::rsplit(self_str(self), a.get_string(0), a.get_int(1, -1)));
}
Value str_splitlines(Interpreter&, const Value& self, const CallArgs& args) {
  const ArgReader a(args, "splitlines", {"keepends"});
  return list_of_strings(text::splitlines(self_str(self), a.get_bool(0, false)));
}

// startswith / endswith: a string or a tuple of strings, with optional start and end.
bool affix_match(const Value& self, const CallArgs& args, bool prefix) {
  const ArgReader a(args, prefix ? "startswith" : "endswith", {"affix", "start", "end"});
  std::string s = self_str(self);
  if (a.has(1) || a.has(2)) {
    const Value* start = a.has(1) ? &a.get(1) : nullptr;
    const Value* end = a.has(2) ? &a.get(2) : nullptr;
    if (start != nullptr && start->is_none()) start = nullptr;
    if (end != nullptr && end->is_none()) end = nullptr;
    // Python slices the string by code points: s[start:end].
    std::u32string cps = text::decode(s);
    const auto n = static_cast<int64_t>(cps.size());
    const auto clamp = [n](int64_t i) {
      return i < 0 ? std::max<int64_t>(0, i + n) : std::min(i, n);
    };
    const int64_t b = start != nullptr ? clamp(start->to_int()) : 0;
    const int64_t e = end != nullptr ? clamp(end->to_int()) : n;
    s = b < e ? text::encode(std::u32string_view(cps).substr(static_cast<size_t>(b),
                                                             static_cast<size_t>(e - b)))
              : std::string();
  }
  std::vector<Value> affixes;
  if (a.get(0).is_tuple()) {
    affixes = a.get(0).as_list().items;
  } else {
    affixes.push_back(a.get(0));
  }
  for (const Value& affix : affixes) {
    if (!affix.is_string()) {
      fail(std::string(prefix ? "startswith" : "endswith") +
           " first arg must be str or a tuple of str, not " + affix.type_name());
    }
    const std::string& x = affix.as_string();
    if (prefix ? s.starts_with(x) : s.ends_with(x)) return true;
  }
  return false;
}
Value str_startswith(Interpreter&, const Value& self, const CallArgs& args) {
  return affix_match(self, args, true);
}
Value str_endswith(Interpreter&, const Value& self, const CallArgs& args) {
  return affix_match(self, args, false);
}
Value str_lower(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader(args, "lower", {});
  return text::lower(self_str(self));
}
Value str_upper(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader(args, "upper", {});
  return text::upper(self_str(self));
}
Value str_title(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader(args, "title", {});
  return text::title(self_str(self));
}
Value str_capitalize(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader(args, "capitalize", {});
  return text::capitalize(self_str(self));
}
Value str_replace(Interpreter& interp, const Value& self, const CallArgs& args) {
  const ArgReader a(args, "replace", {"old", "new", "count"});
  const auto old_text = a.get_string(0);
  const auto new_text = a.get_string(1);
  if (!old_text || !new_text) fail("replace() expects two strings");
  std::string out = text::replace(self_str(self), *old_text, *new_text, a.get_int(2, -1));
  interp.check_string_size(out.size());
  return out;
}
Value str_find(Interpreter&, const Value& self, const CallArgs& args) {
  const ArgReader a(args, "find", {"sub"});
  return text::find(self_str(self), a.get_string(0).value_or(""), false);
}
Value str_rfind(Interpreter&, const Value& self, const CallArgs& args) {
  const ArgReader a(args, "rfind", {"sub"});
  return text::find(self_str(self), a.get_string(0).value_or(""), true);
}
Value str_index(Interpreter&, const Value& self, const CallArgs& args) {
  const ArgReader a(args, "index", {"sub"});
  const int64_t at = text::find(self_str(self), a.get_string(0).value_or(""), false);
  if (at < 0) fail("substring not found");
  return at;
}
Value str_count(Interpreter&, const Value& self, const CallArgs& args) {
  const ArgReader a(args, "count", {"sub"});
  return text::count(self_str(self), a.get_string(0).value_or(""));
}
Value str_join(Interpreter& interp, const Value& self, const CallArgs& args) {
  const ArgReader a(args, "join", {"iterable"});
  std::string out;
  bool first = true;
  for (const Value& item : iterate(a.get(0))) {
    if (!item.is_string()) {
      fail("sequence item: expected str instance, " + item.type_name() + " found");
    }
    if (!first) out += self_str(self);
    first = false;
    out += item.as_string();
    interp.check_string_size(out.size());
  }
  return out;
}
Value str_format(Interpreter& interp, const Value& self, const CallArgs& args) {
  std::string out = brace_format(self_str(self), args);
  interp.check_string_size(out.size());
  return out;
}
Value justify(Interpreter& interp, const Value& self, const CallArgs& args, char how) {
  const ArgReader a(args, how == '<' ? "ljust" : (how == '>' ? "rjust" : "center"),
                    {"width", "fillchar"});
  const auto width = static_cast<size_t>(std::max<int64_t>(0, a.get_int(0, 0)));
  interp.check_string_size(width * 4);
  const std::string fill = a.get_string(1).value_or(" ");
  if (text::length(fill) != 1) fail("The fill character must be exactly one character long");
  const std::string& s = self_str(self);
  const size_t n = text::length(s);
  if (n >= width) return s;
  const size_t missing = width - n;
  size_t left = how == '<' ? 0 : (how == '>' ? missing : missing / 2 + (missing & width & 1));
  std::string out;
  for (size_t i = 0; i < left; ++i) out += fill;
  out += s;
  for (size_t i = left; i < missing; ++i) out += fill;
  return out;
}
Value str_ljust(Interpreter& i, const Value& s, const CallArgs& a) { return justify(i, s, a, '<'); }
Value str_rjust(Interpreter& i, const Value& s, const CallArgs& a) { return justify(i, s, a, '>'); }
Value str_center(Interpreter& i, const Value& s, const CallArgs& a) {
  return justify(i, s, a, '^');
}
Value str_zfill(Interpreter& interp, const Value& self, const CallArgs& args) {
  const ArgReader a(args, "zfill", {"width"});
  const auto width = static_cast<size_t>(std::max<int64_t>(0, a.get_int(0, 0)));
  interp.check_string_size(width);
  std::string s = self_str(self);
  const size_t n = text::length(s);
  if (n >= width) return s;
  const size_t sign = !s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0;
  s.insert(sign, std::string(width - n, '0'));
  return s;
}

template <bool (*Predicate)(char32_t)>
Value char_class(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader(args, "is...", {});
  const std::u32string cps = text::decode(self_str(self));
  return !cps.empty() && std::all_of(cps.begin(), cps.end(), Predicate);
}
bool is_digit_char(char32_t c) { return c >= '0' && c <= '9'; }
bool is_alpha_char(char32_t c) { return text::is_cased(c) || (c > 0x7F && !text::is_space(c)); }
bool is_alnum_char(char32_t c) { return is_digit_char(c) || is_alpha_char(c); }

Value str_islower(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader(args, "islower", {});
  const std::string& s = self_str(self);
  return text::lower(s) == s && text::upper(s) != s;
}
Value str_isupper(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader(args, "isupper", {});
  const std::string& s = self_str(self);
  return text::upper(s) == s && text::lower(s) != s;
}
Value partition(const Value& self, const CallArgs& args, bool reverse) {
  const ArgReader a(args, reverse ? "rpartition" : "partition", {"sep"});
  const std::string sep = a.get_string(0).value_or("");
  if (sep.empty()) fail("empty separator");
  const std::string& s = self_str(self);
  const size_t at = reverse ? s.rfind(sep) : s.find(sep);
  if (at == std::string::npos) {
    return reverse ? Value::tuple({"", "", s}) : Value::tuple({s, "", ""});
  }
  return Value::tuple({s.substr(0, at), sep, s.substr(at + sep.size())});
}
Value str_partition(Interpreter&, const Value& self, const CallArgs& args) {
  return partition(self, args, false);
}
Value str_rpartition(Interpreter&, const Value& self, const CallArgs& args) {
  return partition(self, args, true);
}
Value str_removeprefix(Interpreter&, const Value& self, const CallArgs& args) {
  const ArgReader a(args, "removeprefix", {"prefix"});
  const std::string prefix = a.get_string(0).value_or("");
  const std::string& s = self_str(self);
  return s.starts_with(prefix) ? s.substr(prefix.size()) : s;
}
Value str_removesuffix(Interpreter&, const Value& self, const CallArgs& args) {
  const ArgReader a(args, "removesuffix", {"suffix"});
  const std::string suffix = a.get_string(0).value_or("");
  const std::string& s = self_str(self);
  return !suffix.empty() && s.ends_with(suffix) ? s.substr(0, s.size() - suffix.size()) : s;
}

// --- list ---------------------------------------------------------------------------------

std::vector<Value>& items_of(const Value& self) { return self.as_list().items; }

void check_mutable(const Value& self, std::string_view method) {
  if (self.is_tuple()) fail("'tuple' object has no attribute '" + std::string(method) + "'");
}

Value list_append(Interpreter& interp, const Value& self, const CallArgs& args) {
  check_mutable(self, "append");
  const ArgReader a(args, "append", {"object"});
  interp.check_item_count(items_of(self).size() + 1);
  interp.note_insertion(self, a.get(0));
  items_of(self).push_back(a.get(0));
  return Value::none();
}
Value list_extend(Interpreter& interp, const Value& self, const CallArgs& args) {
  check_mutable(self, "extend");
  const ArgReader a(args, "extend", {"iterable"});
  std::vector<Value> more = iterate(a.get(0));
  interp.check_item_count(items_of(self).size() + more.size());
  for (const Value& v : more) interp.note_insertion(self, v);
  items_of(self).insert(items_of(self).end(), more.begin(), more.end());
  return Value::none();
}
Value list_insert(Interpreter& interp, const Value& self, const CallArgs& args) {
  check_mutable(self, "insert");
  const ArgReader a(args, "insert", {"index", "object"});
  auto& items = items_of(self);
  interp.check_item_count(items.size() + 1);
  const auto n = static_cast<int64_t>(items.size());
  int64_t i = a.get_int(0, 0);
  if (i < 0) i = std::max<int64_t>(0, i + n);
  i = std::min(i, n);
  interp.note_insertion(self, a.get(1));
  items.insert(items.begin() + i, a.get(1));
  return Value::none();
}
Value list_pop(Interpreter&, const Value& self, const CallArgs& args) {
  check_mutable(self, "pop");
  const ArgReader a(args, "pop", {"index"});
  auto& items = items_of(self);
  if (items.empty()) fail("pop from empty list");
  const auto n = static_cast<int64_t>(items.size());
  int64_t i = a.get_int(0, -1);
  if (i < 0) i += n;
  if (i < 0 || i >= n) fail("pop index out of range");
  Value out = std::move(items[static_cast<size_t>(i)]);
  items.erase(items.begin() + i);
  return out;
}
Value list_remove(Interpreter&, const Value& self, const CallArgs& args) {
  check_mutable(self, "remove");
  const ArgReader a(args, "remove", {"value"});
  auto& items = items_of(self);
  const auto it = std::find_if(items.begin(), items.end(),
                               [&](const Value& v) { return values_equal(v, a.get(0)); });
  if (it == items.end()) fail("list.remove(x): x not in list");
  items.erase(it);
  return Value::none();
}
Value list_index(Interpreter&, const Value& self, const CallArgs& args) {
  const ArgReader a(args, "index", {"value"});
  const auto& items = items_of(self);
  for (size_t i = 0; i < items.size(); ++i) {
    if (values_equal(items[i], a.get(0))) return static_cast<int64_t>(i);
  }
  fail(to_python_repr(a.get(0)) + " is not in list");
}
Value list_count(Interpreter&, const Value& self, const CallArgs& args) {
  const ArgReader a(args, "count", {"value"});
  const auto& items = items_of(self);
  return static_cast<int64_t>(std::count_if(
      items.begin(), items.end(), [&](const Value& v) { return values_equal(v, a.get(0)); }));
}
Value list_copy(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader(args, "copy", {});
  return Value::list(items_of(self));
}
Value list_reverse(Interpreter&, const Value& self, const CallArgs& args) {
  check_mutable(self, "reverse");
  ArgReader(args, "reverse", {});
  std::reverse(items_of(self).begin(), items_of(self).end());
  return Value::none();
}
Value list_clear(Interpreter&, const Value& self, const CallArgs& args) {
  check_mutable(self, "clear");
  ArgReader(args, "clear", {});
  items_of(self).clear();
  return Value::none();
}

// --- dict ---------------------------------------------------------------------------------

Value dict_items(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader(args, "items", {});
  std::vector<Value> pairs;
  for (const auto& [key, value] : self.as_dict().entries)
    pairs.push_back(Value::tuple({key, value}));
  return Value::list(std::move(pairs));
}
Value dict_keys(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader(args, "keys", {});
  std::vector<Value> keys;
  for (const auto& [key, value] : self.as_dict().entries) keys.push_back(key);
  return Value::list(std::move(keys));
}
Value dict_values(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader(args, "values", {});
  std::vector<Value> values;
  for (const auto& [key, value] : self.as_dict().entries) values.push_back(value);
  return Value::list(std::move(values));
}
Value dict_get(Interpreter&, const Value& self, const CallArgs& args) {
  const ArgReader a(args, "get", {"key", "default"});
  if (const Value* v = self.as_dict().find(a.get(0))) return *v;
  return a.get_or(1, Value::none());
}
Value dict_pop(Interpreter&, const Value& self, const CallArgs& args) {
  const ArgReader a(args, "pop", {"key", "default"});
  if (const Value* v = self.as_dict().find(a.get(0))) {
    Value out = *v;
    self.as_dict().erase(a.get(0));
    return out;
  }
  if (a.has(1)) return a.get(1);
  fail("KeyError: " + to_python_repr(a.get(0)));
}
Value dict_setdefault(Interpreter& interp, const Value& self, const CallArgs& args) {
  const ArgReader a(args, "setdefault", {"key", "default"});
  if (const Value* v = self.as_dict().find(a.get(0))) return *v;
  const Value fallback = a.get_or(1, Value::none());
  interp.note_insertion(self, fallback);
  self.as_dict().set(a.get(0), fallback);
  return fallback;
}
Value dict_update(Interpreter& interp, const Value& self, const CallArgs& args) {
  if (args.positional.size() > 1) fail("update expected at most 1 argument");
  if (!args.positional.empty()) {
    const Value& other = args.positional[0];
    if (other.is_mapping()) {
      for (const auto& [key, value] : other.as_dict().entries) {
        interp.note_insertion(self, value);
        self.as_dict().set(key, value);
      }
    } else {
      for (const Value& pair : iterate(other)) {
        std::vector<Value> kv = iterate(pair);
        if (kv.size() != 2) fail("dictionary update sequence element has wrong length");
        interp.note_insertion(self, kv[1]);
        self.as_dict().set(kv[0], kv[1]);
      }
    }
  }
  for (const auto& [key, value] : args.keyword) {
    interp.note_insertion(self, value);
    self.as_dict().set(Value(key), value);
  }
  return Value::none();
}
Value dict_copy(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader(args, "copy", {});
  Value out = Value::dict();
  for (const auto& [key, value] : self.as_dict().entries) out.as_dict().set(key, value);
  return out;
}
Value dict_clear(Interpreter&, const Value& self, const CallArgs& args) {
  ArgReader(args, "clear", {});
  self.as_dict().clear();
  return Value::none();
}

using MethodTable = std::unordered_map<std::string_view, MethodFn>;

const MethodTable& string_methods() {
  static const MethodTable kTable = {
      {"capitalize", str_capitalize},
      {"casefold", str_lower},
      {"center", str_center},
      {"count", str_count},
      {"endswith", str_endswith},
      {"find", str_find},
      {"format", str_format},
      {"index", str_index},
      {"isalnum", char_class<is_alnum_char>},
      {"isalpha", char_class<is_alpha_char>},
      {"isdigit", char_class<is_digit_char>},
      {"islower", str_islower},
      {"isnumeric", char_class<is_digit_char>},
      {"isspace", char_class<text::is_space>},
      {"isupper", str_isupper},
      {"join", str_join},
      {"ljust", str_ljust},
      {"lower", str_lower},
      {"lstrip", str_lstrip},
      {"partition", str_partition},
      {"removeprefix", str_removeprefix},
      {"removesuffix", str_removesuffix},
      {"replace", str_replace},
      {"rfind", str_rfind},
      {"rjust", str_rjust},
      {"rpartition", str_rpartition},
      {"rsplit", str_rsplit},
      {"rstrip", str_rstrip},
      {"split", str_split},
      {"splitlines", str_splitlines},
      {"startswith", str_startswith},
      {"strip", str_strip},
      {"title", str_title},
      {"upper", str_upper},
      {"zfill", str_zfill},
  };
  return kTable;
}

const MethodTable& list_methods() {
  static const MethodTable kTable = {
      {"append", list_append},   {"clear", list_clear},   {"copy", list_copy},
      {"count", list_count},     {"extend", list_extend}, {"index", list_index},
      {"insert", list_insert},   {"pop", list_pop},       {"remove", list_remove},
      {"reverse", list_reverse},
  };
  return kTable;
}

const MethodTable& dict_methods() {
  static const MethodTable kTable = {
      {"clear", dict_clear},           {"copy", dict_copy},     {"get", dict_get},
      {"items", dict_items},           {"keys", dict_keys},     {"pop", dict_pop},
      {"setdefault", dict_setdefault}, {"update", dict_update}, {"values", dict_values},
  };
  return kTable;
}

}  // namespace

std::optional<Value> find_method(const Value& object, std::string_view name) {
  const MethodTable* table = nullptr;
  if (object.is_string()) {
    table = &string_methods();
  } else if (object.is_list()) {
    table = &list_methods();
  } else if (object.is_mapping()) {
    table = &dict_methods();
  } else {
    return std::nullopt;
  }
  const auto it = table->find(name);
  if (it == table->end()) return std::nullopt;
  const MethodFn method = it->second;
  if (object.is_markup()) {
    // `Markup` methods return markup, and escape what they insert (`join`, `format`).
    return Value::function(std::string(name),
                           [method, self = object](Interpreter& interp, CallArgs& args) {
                             CallArgs escaped = args;
                             for (Value& v : escaped.positional) v = escape_arguments(v);
                             for (auto& [key, v] : escaped.keyword) v = escape_arguments(v);
                             Value result = method(interp, self, escaped);
                             if (result.is_string()) return Value::markup(result.as_string());
                             if (result.is_list()) {
                               for (Value& item : result.as_list().items) {
                                 if (item.is_string()) item = Value::markup(item.as_string());
                               }
                             }
                             return result;
                           });
  }
  return Value::function(std::string(name),
                         [method, self = object](Interpreter& interp, CallArgs& args) {
                           return method(interp, self, args);
                         });
}

}  // namespace capibara::chat
