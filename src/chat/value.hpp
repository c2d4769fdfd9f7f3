// `Value`: the dynamic values of the chat-template interpreter, Python's object model reduced to
// what Jinja templates use (undefined, None, bool, int, float, str, list/tuple, dict, namespace,
// callables).
//
// Lists and dicts are shared by reference like Python objects, so `ns.items.append(x)` is seen
// through every name bound to the list. Values belong to one render on one thread; nothing here
// is synchronized.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace capibara::chat {

class Interpreter;
class Value;
struct ListData;
struct DictData;

// Positional and keyword arguments of a call, in source order.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

// A callable: a global such as `range`, a bound method such as `text.split`, or a macro.
struct Function {
  std::string name;
  std::function<Value(Interpreter&, CallArgs&)> call;
};

class Value {
 public:
  // In the order of the alternatives of `data_`.
  enum class Kind : uint8_t {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,  // lists and tuples
    kDict,  // dicts and namespaces
    kFunction,
  };

  // An undefined value; `hint` is the message raised when it is used in a way that needs a value
  // (e.g. "'tools' is undefined").
  Value() = default;
  static Value undefined(std::string hint);
  static Value none() { return Value(NoneTag{}); }
  // Implicit on purpose: filters and tests read naturally as `return Value(true)` or `return n`.
  Value(bool b) : data_(b) {}
  Value(int64_t i) : data_(i) {}
  Value(int i) : data_(static_cast<int64_t>(i)) {}
  Value(double d) : data_(d) {}
  Value(std::string s) : data_(std::move(s)) {}
  Value(std::string_view s) : data_(std::string(s)) {}
  Value(const char* s) : data_(std::string(s)) {}

  static Value list(std::vector<Value> items = {});
  static Value tuple(std::vector<Value> items);
  static Value dict();
  static Value namespace_object();
  // A string marked safe (Jinja's `Markup`, from `|safe` or `|escape`): adding a plain string to
  // it HTML-escapes the plain one, as MarkupSafe does. Some templates rely on this.
  static Value markup(std::string s);
  static Value function(std::string name, std::function<Value(Interpreter&, CallArgs&)> call);

  Kind kind() const { return static_cast<Kind>(data_.index()); }
  bool is_undefined() const { return kind() == Kind::kUndefined; }
  bool is_none() const { return kind() == Kind::kNone; }
  bool is_bool() const { return kind() == Kind::kBool; }
  bool is_int() const { return kind() == Kind::kInt; }
  bool is_float() const { return kind() == Kind::kFloat; }
  // Python's numbers: bool, int and float.
  bool is_number() const { return is_bool() || is_int() || is_float(); }
  bool is_string() const { return kind() == Kind::kString; }
  bool is_markup() const { return markup_ && is_string(); }
  bool is_list() const { return kind() == Kind::kList; }
  bool is_tuple() const;
  bool is_dict() const { return kind() == Kind::kDict; }
  bool is_namespace() const;
  // A dict proper: a namespace is not a mapping (Jinja's `is mapping` is false for it).
  bool is_mapping() const { return is_dict() && !is_namespace(); }
  bool is_function() const { return kind() == Kind::kFunction; }

  bool as_bool() const { return std::get<bool>(data_); }
  int64_t as_int() const { return std::get<int64_t>(data_); }
  double as_float() const { return std::get<double>(data_); }
  // Any number as a double (bool as 0/1).
  double to_double() const;
  // Any integral number (bool or int) as an int64.
  int64_t to_int() const;
  const std::string& as_string() const { return std::get<std::string>(data_); }
  ListData& as_list() const { return *std::get<std::shared_ptr<ListData>>(data_); }
  DictData& as_dict() const { return *std::get<std::shared_ptr<DictData>>(data_); }
  const Function& as_function() const { return *std::get<std::shared_ptr<const Function>>(data_); }
  const std::string& undefined_hint() const;

  // True when this value is the only reference to its list or dict (used to dismantle deep
  // structures without recursion).
  bool is_unique_container() const;

  // Python's truth value: empty strings and containers, zero, None and undefined are false.
  bool truthy() const;
  // Python's type name (`str`, `int`, `dict`, `NoneType`, ...) for error messages.
  std::string type_name() const;
  // The identity of a list, dict or function (Python's `is`); null for other values.
  const void* identity() const;

 private:
  struct UndefinedTag {
    std::shared_ptr<const std::string> hint;
  };
  struct NoneTag {};
  explicit Value(NoneTag tag) : data_(tag) {}

  std::variant<UndefinedTag, NoneTag, bool, int64_t, double, std::string, std::shared_ptr<ListData>,
               std::shared_ptr<DictData>, std::shared_ptr<const Function>>
      data_;
  bool markup_ = false;  // only meaningful for strings
};

struct ListData {
  ListData() = default;
  ListData(const ListData&) = delete;
  ListData& operator=(const ListData&) = delete;
  // Dismantles nested uniquely-owned containers iteratively, so that freeing a list nested a
  // million levels deep cannot overflow the stack.
  ~ListData();

  std::vector<Value> items;
  bool is_tuple = false;
};

// Hash and equality of dict keys: Python's, restricted to hashable scalars (None, bool, int,
// float, str), with `1 == 1.0 == True` as in Python.
struct KeyHash {
  size_t operator()(const Value& key) const;
};
struct KeyEqual {
  bool operator()(const Value& a, const Value& b) const;
};

// An insertion-ordered dict, like Python's. Also the storage of `namespace()` objects.
struct DictData {
  DictData() = default;
  DictData(const DictData&) = delete;
  DictData& operator=(const DictData&) = delete;
  ~DictData();

  size_t size() const { return entries.size(); }
  // The value under `key`, or null. Throws `TemplateError` for an unhashable key.
  Value* find(const Value& key);
  Value* find(std::string_view key);
  Value* find(const std::string& key) { return find(std::string_view(key)); }
  Value* find(const char* key) { return find(std::string_view(key)); }
  void set(Value key, Value value);
  // `set` for a key the caller knows is absent (a new loop object, a parsed JSON object):
  // skips the search.
  void insert_new(Value key, Value value);
  // Removes `key`; returns whether it was present.
  bool erase(const Value& key);
  void clear();

  std::vector<std::pair<Value, Value>> entries;
  bool is_namespace = false;

 private:
  // Dicts up to this size are searched linearly; larger ones get a hash index.
  static constexpr size_t kIndexThreshold = 16;
  static constexpr size_t kAbsent = static_cast<size_t>(-1);
  // Position of `key` in `entries`, or `kAbsent`; throws for an unhashable key.
  size_t position_of(const Value& key) const;
  void rebuild_index();

  std::unordered_map<Value, size_t, KeyHash, KeyEqual> index_;  // key -> position in `entries`
};

// Throws `TemplateError` (runtime) unless `key` is hashable.
void check_hashable(const Value& key);

// Python's `==` (deep for lists and dicts).
bool values_equal(const Value& a, const Value& b);
// Python's ordering: -1, 0 or 1; throws `TemplateError` for values Python cannot order
// (e.g. "'<' not supported between instances of 'str' and 'int'").
int compare_values(const Value& a, const Value& b, std::string_view op = "<");

// The items of an iterable: a list's items, a dict's keys, a string's characters (code points);
// undefined iterates as empty. Throws `TemplateError` for other values.
std::vector<Value> iterate(const Value& iterable);

}  // namespace capibara::chat
