// Jinja's tests (`x is defined`, `x is divisibleby 3`, ...), 3.1 semantics.
#include <cmath>
#include <unordered_map>

#include "chat/native.hpp"
#include "chat/text.hpp"

namespace capibara::chat {
namespace {

// The one argument of a comparison test (`equalto`, `gt`, ...).
const Value& other(const CallArgs& args, std::string_view test) {
  if (args.positional.size() != 1 || !args.keyword.empty()) {
    fail("test '" + std::string(test) + "' takes exactly one argument");
  }
  return args.positional[0];
}

void no_args(const CallArgs& args, std::string_view test) {
  if (!args.positional.empty() || !args.keyword.empty()) {
    fail("test '" + std::string(test) + "' takes no arguments");
  }
}

bool test_defined(Interpreter&, const Value& v, const CallArgs& a) {
  no_args(a, "defined");
  return !v.is_undefined();
}
bool test_undefined(Interpreter&, const Value& v, const CallArgs& a) {
  no_args(a, "undefined");
  return v.is_undefined();
}
bool test_none(Interpreter&, const Value& v, const CallArgs& a) {
  no_args(a, "none");
  return v.is_none();
}
bool test_boolean(Interpreter&, const Value& v, const CallArgs& a) {
  no_args(a, "boolean");
  return v.is_bool();
}
bool test_true(Interpreter&, const Value& v, const CallArgs& a) {
  no_args(a, "true");
  return v.is_bool() && v.as_bool();
}
bool test_false(Interpreter&, const Value& v, const CallArgs& a) {
  no_args(a, "false");
  return v.is_bool() && !v.as_bool();
}
bool test_integer(Interpreter&, const Value& v, const CallArgs& a) {
  no_args(a, "integer");
  return v.is_int();
}
bool test_float(Interpreter&, const Value& v, const CallArgs& a) {
  no_args(a, "float");
  return v.is_float();
}
bool test_number(Interpreter&, const Value& v, const CallArgs& a) {
  no_args(a, "number");
  return v.is_number();
}
bool test_string(Interpreter&, const Value& v, const CallArgs& a) {
  no_args(a, "string");
  return v.is_string();
}
bool test_mapping(Interpreter&, const Value& v, const CallArgs& a) {
  no_args(a, "mapping");
  return v.is_mapping();
}
bool test_sequence(Interpreter&, const Value& v, const CallArgs& a) {
  no_args(a, "sequence");
  return v.is_string() || v.is_list() || v.is_mapping() || v.is_undefined();
}
bool test_iterable(Interpreter&, const Value& v, const CallArgs& a) {
  no_args(a, "iterable");
  return v.is_string() || v.is_list() || v.is_mapping() || v.is_undefined();
}
bool test_callable(Interpreter&, const Value& v, const CallArgs& a) {
  no_args(a, "callable");
  return v.is_function();
}
bool test_lower(Interpreter&, const Value& v, const CallArgs& a) {
  no_args(a, "lower");
  if (!v.is_string()) return false;
  const std::string& s = v.as_string();
  return text::lower(s) == s && text::upper(s) != s;
}
bool test_upper(Interpreter&, const Value& v, const CallArgs& a) {
  no_args(a, "upper");
  if (!v.is_string()) return false;
  const std::string& s = v.as_string();
  return text::upper(s) == s && text::lower(s) != s;
}
bool test_odd(Interpreter&, const Value& v, const CallArgs& a) {
  no_args(a, "odd");
  return v.to_int() % 2 != 0;
}
bool test_even(Interpreter&, const Value& v, const CallArgs& a) {
  no_args(a, "even");
  return v.to_int() % 2 == 0;
}
bool test_divisibleby(Interpreter&, const Value& v, const CallArgs& a) {
  const Value& n = other(a, "divisibleby");
  if (v.is_float() || n.is_float()) {
    const double d = n.to_double();
    if (d == 0.0) fail("float modulo");
    return std::fmod(v.to_double(), d) == 0.0;
  }
  if (n.to_int() == 0) fail("integer division or modulo by zero");
  return v.to_int() % n.to_int() == 0;
}
bool test_eq(Interpreter&, const Value& v, const CallArgs& a) {
  return values_equal(v, other(a, "eq"));
}
bool test_ne(Interpreter&, const Value& v, const CallArgs& a) {
  return !values_equal(v, other(a, "ne"));
}
bool test_lt(Interpreter&, const Value& v, const CallArgs& a) {
  return compare_values(v, other(a, "lt"), "<") < 0;
}
bool test_le(Interpreter&, const Value& v, const CallArgs& a) {
  return compare_values(v, other(a, "le"), "<=") <= 0;
}
bool test_gt(Interpreter&, const Value& v, const CallArgs& a) {
  return compare_values(v, other(a, "gt"), ">") > 0;
}
bool test_ge(Interpreter&, const Value& v, const CallArgs& a) {
  return compare_values(v, other(a, "ge"), ">=") >= 0;
}
bool test_in(Interpreter&, const Value& v, const CallArgs& a) {
  return contains(other(a, "in"), v);
}
// Python's `is`: identity for containers and functions, equality of the same type otherwise
// (small ints, True/False and None are singletons in CPython).
bool test_sameas(Interpreter&, const Value& v, const CallArgs& a) {
  const Value& o = other(a, "sameas");
  if (v.identity() != nullptr || o.identity() != nullptr) return v.identity() == o.identity();
  return v.kind() == o.kind() && values_equal(v, o);
}
bool test_escaped(Interpreter&, const Value&, const CallArgs& a) {
  no_args(a, "escaped");
  return false;
}
bool test_filter(Interpreter&, const Value& v, const CallArgs& a) {
  no_args(a, "filter");
  return v.is_string() && find_filter(v.as_string()) != nullptr;
}
bool test_test(Interpreter&, const Value& v, const CallArgs& a) {
  no_args(a, "test");
  return v.is_string() && find_test(v.as_string()) != nullptr;
}

const std::unordered_map<std::string_view, TestFn>& test_table() {
  static const std::unordered_map<std::string_view, TestFn> kTable = {
      {"!=", test_ne},
      {"<", test_lt},
      {"<=", test_le},
      {"==", test_eq},
      {">", test_gt},
      {">=", test_ge},
      {"boolean", test_boolean},
      {"callable", test_callable},
      {"defined", test_defined},
      {"divisibleby", test_divisibleby},
      {"eq", test_eq},
      {"equalto", test_eq},
      {"escaped", test_escaped},
      {"even", test_even},
      {"false", test_false},
      {"filter", test_filter},
      {"float", test_float},
      {"ge", test_ge},
      {"greaterthan", test_gt},
      {"gt", test_gt},
      {"in", test_in},
      {"integer", test_integer},
      {"iterable", test_iterable},
      {"le", test_le},
      {"lessthan", test_lt},
      {"lower", test_lower},
      {"lt", test_lt},
      {"mapping", test_mapping},
      {"ne", test_ne},
      {"none", test_none},
      {"number", test_number},
      {"odd", test_odd},
      {"sameas", test_sameas},
      {"sequence", test_sequence},
      {"string", test_string},
      {"test", test_test},
      {"true", test_true},
      {"undefined", test_undefined},
      {"upper", test_upper},
  };
  return kTable;
}

}  // namespace

TestFn find_test(std::string_view name) {
  const auto& table = test_table();
  const auto it = table.find(name);
  return it == table.end() ? nullptr : it->second;
}

}  // namespace capibara::chat
