// `Value`: construction, truthiness, Python equality and ordering, dict storage.
#include "chat/value.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

#include "chat/template_error.hpp"
#include "chat/text.hpp"

namespace capibara::chat {
namespace {

// Deeper structures than this cannot come from a real template; comparing or printing them is
// refused rather than risking the stack (a list that contains itself would recurse forever).
constexpr int kMaxNestingDepth = 512;

[[noreturn]] void fail(std::string message) {
  throw TemplateError(TemplateError::Kind::kRuntime, std::move(message));
}

void check_depth(int depth) {
  if (depth > kMaxNestingDepth) {
    throw TemplateError(TemplateError::Kind::kLimit, "values nested more than " +
                                                         std::to_string(kMaxNestingDepth) +
                                                         " levels deep (or containing themselves)");
  }
}

// Moves the children of uniquely-owned containers out into `pending` until none is left, so
// that destruction never recurses more than one level.
void dismantle(std::vector<Value>& pending) {
  while (!pending.empty()) {
    Value v = std::move(pending.back());
    pending.pop_back();
    if (!v.is_unique_container()) continue;
    if (v.is_list()) {
      auto& items = v.as_list().items;
      for (auto& item : items) pending.push_back(std::move(item));
      items.clear();
    } else {
      DictData& dict = v.as_dict();
      for (auto& [key, value] : dict.entries) pending.push_back(std::move(value));
      dict.clear();
    }
  }
}

bool equal_impl(const Value& a, const Value& b, int depth) {
  check_depth(depth);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.to_double() == b.to_double();
    return a.to_int() == b.to_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return true;
    case Value::Kind::kString:
      return a.as_string() == b.as_string();
    case Value::Kind::kList: {
      const auto& x = a.as_list().items;
      const auto& y = b.as_list().items;
      if (a.is_tuple() != b.is_tuple() || x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!equal_impl(x[i], y[i], depth + 1)) return false;
      }
      return true;
    }
    case Value::Kind::kDict: {
      if (a.is_namespace() || b.is_namespace()) return a.identity() == b.identity();
      DictData& x = a.as_dict();
      DictData& y = b.as_dict();
      if (x.size() != y.size()) return false;
      for (const auto& [key, value] : x.entries) {
        const Value* other = y.find(key);
        if (other == nullptr || !equal_impl(value, *other, depth + 1)) return false;
      }
      return true;
    }
    case Value::Kind::kFunction:
      return a.identity() == b.identity();
    default:
      return false;  // numbers were handled above
  }
}

int compare_impl(const Value& a, const Value& b, std::string_view op, int depth) {
  check_depth(depth);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      const double x = a.to_double();
      const double y = b.to_double();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    const int64_t x = a.to_int();
    const int64_t y = b.to_int();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    // Byte order of UTF-8 is code point order, which is Python's string order.
    const int c = a.as_string().compare(b.as_string());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
    const auto& x = a.as_list().items;
    const auto& y = b.as_list().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!equal_impl(x[i], y[i], depth + 1)) return compare_impl(x[i], y[i], op, depth + 1);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  if (a.is_undefined()) fail(a.undefined_hint());
  if (b.is_undefined()) fail(b.undefined_hint());
  fail("'" + std::string(op) + "' not supported between instances of '" + a.type_name() +
       "' and '" + b.type_name() + "'");
}

}  // namespace

Value Value::undefined(std::string hint) {
  Value v;
  v.data_ = UndefinedTag{std::make_shared<const std::string>(std::move(hint))};
  return v;
}

Value Value::list(std::vector<Value> items) {
  auto data = std::make_shared<ListData>();
  data->items = std::move(items);
  Value v;
  v.data_ = std::move(data);
  return v;
}

Value Value::tuple(std::vector<Value> items) {
  Value v = list(std::move(items));
  v.as_list().is_tuple = true;
  return v;
}

Value Value::dict() {
  Value v;
  v.data_ = std::make_shared<DictData>();
  return v;
}

Value Value::namespace_object() {
  Value v = dict();
  v.as_dict().is_namespace = true;
  return v;
}

Value Value::markup(std::string s) {
  Value v(std::move(s));
  v.markup_ = true;
  return v;
}

Value Value::function(std::string name, std::function<Value(Interpreter&, CallArgs&)> call) {
  Value v;
  v.data_ = std::make_shared<const Function>(Function{std::move(name), std::move(call)});
  return v;
}

bool Value::is_tuple() const { return is_list() && as_list().is_tuple; }
bool Value::is_namespace() const { return is_dict() && as_dict().is_namespace; }

double Value::to_double() const {
  switch (kind()) {
    case Kind::kBool:
      return as_bool() ? 1.0 : 0.0;
    case Kind::kInt:
      return static_cast<double>(as_int());
    case Kind::kFloat:
      return as_float();
    default:
      fail("'" + type_name() + "' object is not a number");
  }
}

int64_t Value::to_int() const {
  if (is_bool()) return as_bool() ? 1 : 0;
  if (is_int()) return as_int();
  fail("'" + type_name() + "' object cannot be interpreted as an integer");
}

const std::string& Value::undefined_hint() const {
  static const std::string kDefault = "value is undefined";
  const auto& hint = std::get<UndefinedTag>(data_).hint;
  return hint ? *hint : kDefault;
}

bool Value::is_unique_container() const {
  if (const auto* list = std::get_if<std::shared_ptr<ListData>>(&data_)) {
    return list->use_count() == 1;
  }
  if (const auto* dict = std::get_if<std::shared_ptr<DictData>>(&data_)) {
    return dict->use_count() == 1;
  }
  return false;
}

bool Value::truthy() const {
  switch (kind()) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return as_bool();
    case Kind::kInt:
      return as_int() != 0;
    case Kind::kFloat:
      return as_float() != 0.0;
    case Kind::kString:
      return !as_string().empty();
    case Kind::kList:
      return !as_list().items.empty();
    case Kind::kDict:
      return is_namespace() || as_dict().size() != 0;
    case Kind::kFunction:
      return true;
  }
  return false;
}

std::string Value::type_name() const {
  switch (kind()) {
    case Kind::kUndefined:
      return "Undefined";
    case Kind::kNone:
      return "NoneType";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kList:
      return is_tuple() ? "tuple" : "list";
    case Kind::kDict:
      return is_namespace() ? "Namespace" : "dict";
    case Kind::kFunction:
      return "function";
  }
  return "object";
}

const void* Value::identity() const {
  if (const auto* list = std::get_if<std::shared_ptr<ListData>>(&data_)) return list->get();
  if (const auto* dict = std::get_if<std::shared_ptr<DictData>>(&data_)) return dict->get();
  if (const auto* fn = std::get_if<std::shared_ptr<const Function>>(&data_)) return fn->get();
  return nullptr;
}

ListData::~ListData() {
  // Only nesting can recurse; flat lists are freed the ordinary way.
  if (std::any_of(items.begin(), items.end(),
                  [](const Value& v) { return v.is_unique_container(); })) {
    dismantle(items);
  }
}

DictData::~DictData() {
  if (std::none_of(entries.begin(), entries.end(),
                   [](const auto& entry) { return entry.second.is_unique_container(); })) {
    return;
  }
  std::vector<Value> pending;
  pending.reserve(entries.size());
  for (auto& [key, value] : entries) pending.push_back(std::move(value));
  clear();
  dismantle(pending);
}

void check_hashable(const Value& key) {
  switch (key.kind()) {
    case Value::Kind::kNone:
    case Value::Kind::kBool:
    case Value::Kind::kInt:
    case Value::Kind::kFloat:
    case Value::Kind::kString:
      return;
    case Value::Kind::kList:
      if (key.is_tuple()) {
        for (const Value& item : key.as_list().items) check_hashable(item);
        return;
      }
      break;
    default:
      break;
  }
  fail("unhashable type: '" + key.type_name() + "'");
}

size_t KeyHash::operator()(const Value& key) const {
  switch (key.kind()) {
    case Value::Kind::kString:
      return std::hash<std::string>()(key.as_string());
    case Value::Kind::kBool:
    case Value::Kind::kInt:
      return std::hash<int64_t>()(key.to_int());
    case Value::Kind::kFloat: {
      const double d = key.as_float();
      // Integral floats hash like the equal int, as in Python.
      if (std::trunc(d) == d && std::fabs(d) < 9.2e18) {
        return std::hash<int64_t>()(static_cast<int64_t>(d));
      }
      return std::hash<double>()(d);
    }
    case Value::Kind::kList: {
      size_t h = 0x9E3779B9u;
      for (const Value& item : key.as_list().items) h = h * 31 + (*this)(item);
      return h;
    }
    default:
      return 0;
  }
}

bool KeyEqual::operator()(const Value& a, const Value& b) const { return values_equal(a, b); }

size_t DictData::position_of(const Value& key) const {
  check_hashable(key);
  if (index_.empty()) {
    // Small dicts (messages, tool calls, loop objects) are faster to scan than to hash.
    for (size_t i = 0; i < entries.size(); ++i) {
      if (KeyEqual()(entries[i].first, key)) return i;
    }
    return kAbsent;
  }
  const auto it = index_.find(key);
  return it == index_.end() ? kAbsent : it->second;
}

Value* DictData::find(const Value& key) {
  const size_t at = position_of(key);
  return at == kAbsent ? nullptr : &entries[at].second;
}

Value* DictData::find(std::string_view key) {
  if (index_.empty()) {
    for (auto& [k, v] : entries) {
      if (k.is_string() && k.as_string() == key) return &v;
    }
    return nullptr;
  }
  return find(Value(key));
}

void DictData::set(Value key, Value value) {
  const size_t at = position_of(key);
  if (at != kAbsent) {
    entries[at].second = std::move(value);
    return;
  }
  if (!index_.empty()) index_.emplace(key, entries.size());
  entries.emplace_back(std::move(key), std::move(value));
  if (index_.empty() && entries.size() > kIndexThreshold) rebuild_index();
}

void DictData::insert_new(Value key, Value value) {
  if (!index_.empty()) index_.emplace(key, entries.size());
  entries.emplace_back(std::move(key), std::move(value));
  if (index_.empty() && entries.size() > kIndexThreshold) rebuild_index();
}

bool DictData::erase(const Value& key) {
  const size_t at = position_of(key);
  if (at == kAbsent) return false;
  entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(at));
  index_.clear();
  if (entries.size() > kIndexThreshold) rebuild_index();
  return true;
}

void DictData::rebuild_index() {
  index_.clear();
  for (size_t i = 0; i < entries.size(); ++i) index_.emplace(entries[i].first, i);
}

void DictData::clear() {
  index_.clear();
  entries.clear();
}

bool values_equal(const Value& a, const Value& b) { return equal_impl(a, b, 0); }

int compare_values(const Value& a, const Value& b, std::string_view op) {
  return compare_impl(a, b, op, 0);
}

std::vector<Value> iterate(const Value& iterable) {
  switch (iterable.kind()) {
    case Value::Kind::kUndefined:
      return {};
    case Value::Kind::kList:
      return iterable.as_list().items;
    case Value::Kind::kDict: {
      if (iterable.is_namespace()) break;
      std::vector<Value> keys;
      keys.reserve(iterable.as_dict().size());
      for (const auto& [key, value] : iterable.as_dict().entries) keys.push_back(key);
      return keys;
    }
    case Value::Kind::kString: {
      std::vector<Value> chars;
      for (const char32_t c : text::decode(iterable.as_string())) {
        std::string s;
        text::append_code_point(s, c);
        chars.emplace_back(std::move(s));
      }
      return chars;
    }
    default:
      break;
  }
  fail("'" + iterable.type_name() + "' object is not iterable");
}

}  // namespace capibara::chat
