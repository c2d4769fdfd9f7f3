// Python's operators on values: arithmetic, concatenation, repetition, `in`, indexing, slicing.
#include <cmath>
#include <limits>

#include "chat/native.hpp"
#include "chat/serialize.hpp"
#include "chat/template_error.hpp"
#include "chat/text.hpp"

namespace capibara::chat {
namespace {

std::string_view symbol(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd:
      return "+";
    case BinaryOp::kSubtract:
      return "-";
    case BinaryOp::kMultiply:
      return "*";
    case BinaryOp::kDivide:
      return "/";
    case BinaryOp::kFloorDivide:
      return "//";
    case BinaryOp::kModulo:
      return "%";
    case BinaryOp::kPower:
      return "**";
    case BinaryOp::kConcat:
      return "~";
    case BinaryOp::kAnd:
      return "and";
    case BinaryOp::kOr:
      return "or";
  }
  return "?";
}

[[noreturn]] void unsupported(BinaryOp op, const Value& a, const Value& b) {
  fail("unsupported operand type(s) for " + std::string(symbol(op)) + ": '" + a.type_name() +
       "' and '" + b.type_name() + "'");
}

[[noreturn]] void overflow() { fail("integer overflow (Python would use a big integer)"); }

bool is_integral(const Value& v) { return v.is_int() || v.is_bool(); }

size_t saturating_product(size_t size, int64_t count) {
  const auto n = static_cast<uint64_t>(count);
  if (n != 0 && size > std::numeric_limits<size_t>::max() / n) {
    return std::numeric_limits<size_t>::max();
  }
  return size * n;
}

// `sequence * count` for strings and lists.
Value repeat(Interpreter& interp, const Value& sequence, int64_t count) {
  if (count < 0) count = 0;
  if (sequence.is_string()) {
    const std::string& s = sequence.as_string();
    if (!s.empty()) interp.check_string_size(saturating_product(s.size(), count));
    std::string out;
    out.reserve(s.size() * static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) out += s;
    return sequence.is_markup() ? Value::markup(std::move(out)) : Value(std::move(out));
  }
  const auto& items = sequence.as_list().items;
  if (!items.empty()) interp.check_item_count(saturating_product(items.size(), count));
  std::vector<Value> out;
  for (int64_t i = 0; i < count; ++i) out.insert(out.end(), items.begin(), items.end());
  return sequence.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

Value arithmetic(BinaryOp op, const Value& a, const Value& b) {
  if (is_integral(a) && is_integral(b)) {
    const int64_t x = a.to_int();
    const int64_t y = b.to_int();
    int64_t r = 0;
    switch (op) {
      case BinaryOp::kAdd:
        if (__builtin_add_overflow(x, y, &r)) overflow();
        return r;
      case BinaryOp::kSubtract:
        if (__builtin_sub_overflow(x, y, &r)) overflow();
        return r;
      case BinaryOp::kMultiply:
        if (__builtin_mul_overflow(x, y, &r)) overflow();
        return r;
      case BinaryOp::kDivide:
        if (y == 0) fail("division by zero");
        return static_cast<double>(x) / static_cast<double>(y);
      case BinaryOp::kFloorDivide: {
        if (y == 0) fail("integer division or modulo by zero");
        if (x == std::numeric_limits<int64_t>::min() && y == -1) overflow();
        int64_t q = x / y;
        if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
        return q;
      }
      case BinaryOp::kModulo: {
        if (y == 0) fail("integer division or modulo by zero");
        if (y == -1) return 0;
        int64_t m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) m += y;
        return m;
      }
      case BinaryOp::kPower: {
        if (y < 0) return std::pow(static_cast<double>(x), static_cast<double>(y));
        int64_t result = 1;
        int64_t base = x;
        for (int64_t e = y; e > 0; e >>= 1) {
          if ((e & 1) != 0 && __builtin_mul_overflow(result, base, &result)) overflow();
          if (e > 1 && __builtin_mul_overflow(base, base, &base)) overflow();
        }
        return result;
      }
      default:
        break;
    }
  }
  const double x = a.to_double();
  const double y = b.to_double();
  switch (op) {
    case BinaryOp::kAdd:
      return x + y;
    case BinaryOp::kSubtract:
      return x - y;
    case BinaryOp::kMultiply:
      return x * y;
    case BinaryOp::kDivide:
      if (y == 0.0) fail("float division by zero");
      return x / y;
    case BinaryOp::kFloorDivide:
      if (y == 0.0) fail("float floor division by zero");
      return std::floor(x / y);
    case BinaryOp::kModulo: {
      if (y == 0.0) fail("float modulo");
      double m = std::fmod(x, y);
      if (m != 0.0 && ((m < 0) != (y < 0))) m += y;
      return m;
    }
    case BinaryOp::kPower:
      if (x == 0.0 && y < 0) fail("0.0 cannot be raised to a negative power");
      return std::pow(x, y);
    default:
      break;
  }
  unsupported(op, a, b);
}

}  // namespace

Value escape_arguments(const Value& args) {
  const auto escape_one = [](const Value& v) -> Value {
    if (v.is_markup() || v.is_number() || v.is_none()) return v;
    return Value::markup(escape_html(to_python_str(v)));
  };
  if (args.is_tuple()) {
    std::vector<Value> items;
    for (const Value& item : args.as_list().items) items.push_back(escape_one(item));
    return Value::tuple(std::move(items));
  }
  if (args.is_mapping()) {
    Value out = Value::dict();
    for (const auto& [key, value] : args.as_dict().entries)
      out.as_dict().set(key, escape_one(value));
    return out;
  }
  return escape_one(args);
}

Value binary_operation(Interpreter& interp, BinaryOp op, const Value& a, const Value& b) {
  if (op == BinaryOp::kConcat) {
    std::string out = to_python_str(a);
    const std::string right = to_python_str(b);
    interp.check_string_size(out.size() + right.size());
    return out + right;
  }
  if (a.is_undefined()) fail(a.undefined_hint());
  if (b.is_undefined()) fail(b.undefined_hint());
  if (a.is_number() && b.is_number()) return arithmetic(op, a, b);
  switch (op) {
    case BinaryOp::kAdd:
      if (a.is_string() && b.is_string()) {
        interp.check_string_size(a.as_string().size() + b.as_string().size());
        if (a.is_markup() || b.is_markup()) {
          // MarkupSafe: the plain side is escaped, the result is markup.
          const auto side = [](const Value& v) {
            return v.is_markup() ? v.as_string() : escape_html(v.as_string());
          };
          std::string out = side(a) + side(b);
          interp.check_string_size(out.size());
          return Value::markup(std::move(out));
        }
        return a.as_string() + b.as_string();
      }
      if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
        const auto& x = a.as_list().items;
        const auto& y = b.as_list().items;
        interp.check_item_count(x.size() + y.size());
        std::vector<Value> out(x);
        out.insert(out.end(), y.begin(), y.end());
        return a.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
      }
      if (a.is_string()) {
        fail("can only concatenate str (not \"" + b.type_name() + "\") to str");
      }
      if (a.is_list() && !a.is_tuple()) {
        fail("can only concatenate list (not \"" + b.type_name() + "\") to list");
      }
      break;
    case BinaryOp::kMultiply:
      if ((a.is_string() || a.is_list()) && is_integral(b)) return repeat(interp, a, b.to_int());
      if ((b.is_string() || b.is_list()) && is_integral(a)) return repeat(interp, b, a.to_int());
      break;
    case BinaryOp::kModulo:
      if (a.is_string()) {
        std::string out = percent_format(a.as_string(), a.is_markup() ? escape_arguments(b) : b);
        interp.check_string_size(out.size());
        return a.is_markup() ? Value::markup(std::move(out)) : Value(std::move(out));
      }
      break;
    default:
      break;
  }
  unsupported(op, a, b);
}

Value negate(const Value& a) {
  if (a.is_bool() || a.is_int()) {
    const int64_t x = a.to_int();
    if (x == std::numeric_limits<int64_t>::min()) overflow();
    return -x;
  }
  if (a.is_float()) return -a.as_float();
  if (a.is_undefined()) fail(a.undefined_hint());
  fail("bad operand type for unary -: '" + a.type_name() + "'");
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::kUndefined:
      return false;
    case Value::Kind::kString:
      if (!item.is_string()) {
        if (item.is_undefined()) fail(item.undefined_hint());
        fail("'in <string>' requires string as left operand, not " + item.type_name());
      }
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Value::Kind::kList:
      for (const Value& v : container.as_list().items) {
        if (values_equal(v, item)) return true;
      }
      return false;
    case Value::Kind::kDict:
      if (container.is_namespace()) break;
      return container.as_dict().find(item) != nullptr;
    default:
      break;
  }
  fail("argument of type '" + container.type_name() + "' is not iterable");
}

std::optional<Value> index_value(const Value& object, int64_t index) {
  if (object.is_list()) {
    const auto& items = object.as_list().items;
    const auto n = static_cast<int64_t>(items.size());
    if (index < 0) index += n;
    if (index < 0 || index >= n) return std::nullopt;
    return items[static_cast<size_t>(index)];
  }
  const std::string& s = object.as_string();
  const std::u32string cps = text::decode(s);
  const auto n = static_cast<int64_t>(cps.size());
  if (index < 0) index += n;
  if (index < 0 || index >= n) return std::nullopt;
  std::string out;
  text::append_code_point(out, cps[static_cast<size_t>(index)]);
  return out;
}

Value slice_value(Interpreter& interp, const Value& object, const Value* start, const Value* stop,
                  const Value* step) {
  const auto integer = [](const Value* v) {
    if (!is_integral(*v)) fail("slice indices must be integers or None");
    return v->to_int();
  };
  const int64_t stride = step != nullptr ? integer(step) : 1;
  if (stride == 0) fail("slice step cannot be zero");
  std::u32string cps;
  int64_t n = 0;
  if (object.is_string()) {
    cps = text::decode(object.as_string());
    n = static_cast<int64_t>(cps.size());
  } else if (object.is_list()) {
    n = static_cast<int64_t>(object.as_list().items.size());
  } else {
    fail("'" + object.type_name() + "' object is not subscriptable");
  }
  // Python's PySlice_AdjustIndices.
  const auto adjust = [&](const Value* bound, int64_t fallback) {
    if (bound == nullptr) return fallback;
    int64_t i = integer(bound);
    if (i < 0) {
      i += n;
      if (i < 0) i = stride < 0 ? -1 : 0;
    } else if (i >= n) {
      i = stride < 0 ? n - 1 : n;
    }
    return i;
  };
  const int64_t begin = adjust(start, stride < 0 ? n - 1 : 0);
  const int64_t end = adjust(stop, stride < 0 ? -1 : n);
  std::vector<size_t> picked;
  for (int64_t i = begin; stride > 0 ? i < end : i > end; i += stride) {
    picked.push_back(static_cast<size_t>(i));
  }
  interp.charge(picked.size() / 64);
  if (object.is_string()) {
    std::u32string out;
    out.reserve(picked.size());
    for (const size_t i : picked) out.push_back(cps[i]);
    return text::encode(out);
  }
  const auto& items = object.as_list().items;
  std::vector<Value> out;
  out.reserve(picked.size());
  for (const size_t i : picked) out.push_back(items[i]);
  return object.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

}  // namespace capibara::chat
