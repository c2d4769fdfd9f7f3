// The native library of the interpreter and the helpers it is written with: filters
// (`filters.cpp`), tests (`is_tests.cpp`), methods of str/list/dict (`methods.cpp`), global
// functions (`builtins.cpp`), operators (`operators.cpp`) and Python string formatting
// (`format.cpp`). Only the interpreter and these files include it.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/ast.hpp"
#include "chat/interpreter.hpp"
#include "chat/value.hpp"

namespace capibara::chat {

[[noreturn]] void fail(std::string message);  // TemplateError (runtime), position added later

// Binds call arguments to a native function's parameters as Python does: positional arguments
// first, then keywords by name. Throws `TemplateError` for too many positional arguments, an
// unknown keyword or a parameter given twice.
class ArgReader {
 public:
  ArgReader(const CallArgs& args, std::string_view function,
            std::initializer_list<std::string_view> names);

  bool has(size_t i) const { return values_[i] != nullptr; }
  const Value& get(size_t i) const;  // undefined when not given
  Value get_or(size_t i, Value fallback) const { return has(i) ? *values_[i] : fallback; }
  bool get_bool(size_t i, bool fallback) const { return has(i) ? values_[i]->truthy() : fallback; }
  int64_t get_int(size_t i, int64_t fallback) const;
  std::optional<std::string> get_string(size_t i) const;  // nullopt when absent or None
  const std::string& function() const { return function_; }

 private:
  std::string function_;
  std::vector<std::string_view> names_;
  std::vector<const Value*> values_;
};

// --- filters, tests, methods, globals -----------------------------------------------------

using FilterFn = Value (*)(Interpreter&, const Value& subject, const CallArgs& args);
using TestFn = bool (*)(Interpreter&, const Value& subject, const CallArgs& args);

// Null when Jinja (as Hugging Face configures it) has no filter or test of that name.
FilterFn find_filter(std::string_view name);
TestFn find_test(std::string_view name);
// `object.name` as a bound method (`"a,b".split`, `messages.append`, `d.items`), or nullopt
// when the type has no such method.
std::optional<Value> find_method(const Value& object, std::string_view name);

struct BuiltinOptions {
  std::optional<std::string> strftime_date;  // "YYYY-MM-DD": fixed date for `strftime_now`
};
// range, dict, namespace, raise_exception, strftime_now, joiner, cycler.
void install_builtins(Scope& scope, const BuiltinOptions& options);

// --- operators (`operators.cpp`) --------------------------------------------------------

Value binary_operation(Interpreter& interp, BinaryOp op, const Value& a, const Value& b);
Value negate(const Value& a);
// The arguments of `markup % args`, escaped as MarkupSafe escapes them (strings and other
// non-numbers).
Value escape_arguments(const Value& args);
// Python's `item in container`.
bool contains(const Value& container, const Value& item);
// Python's `object[start:stop:step]` on a list, tuple or string; absent bounds are null.
Value slice_value(Interpreter& interp, const Value& object, const Value* start, const Value* stop,
                  const Value* step);
// Python's `object[index]` on a list, tuple or string with negative indices; nullopt when out of
// range.
std::optional<Value> index_value(const Value& object, int64_t index);

// --- formatting (`format.cpp`) ----------------------------------------------------------

// Python's `format % args` (printf style): `args` is one value, a tuple, or a dict for `%(k)s`.
std::string percent_format(const std::string& format, const Value& args);
// Python's `format.format(*args, **kwargs)`.
std::string brace_format(const std::string& format, const CallArgs& args);

}  // namespace capibara::chat
