// Global functions of the template environment: Jinja's `range`, `dict`, `namespace`, `joiner`,
// and Hugging Face's `raise_exception` and `strftime_now`.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "chat/native.hpp"
#include "chat/serialize.hpp"
#include "chat/template_error.hpp"

namespace capibara::chat {
namespace {

Value builtin_range(Interpreter& interp, CallArgs& args) {
  if (!args.keyword.empty()) fail("range() takes no keyword arguments");
  const auto& p = args.positional;
  if (p.empty() || p.size() > 3) fail("range expected 1 to 3 arguments");
  for (const Value& v : p) {
    if (!v.is_int() && !v.is_bool()) {
      fail("'" + v.type_name() + "' object cannot be interpreted as an integer");
    }
  }
  const int64_t start = p.size() == 1 ? 0 : p[0].to_int();
  const int64_t stop = p.size() == 1 ? p[0].to_int() : p[1].to_int();
  const int64_t step = p.size() == 3 ? p[2].to_int() : 1;
  if (step == 0) fail("range() arg 3 must not be zero");
  // Count first (in floating point, immune to overflow) so that huge ranges fail fast.
  const double span =
      (static_cast<double>(stop) - static_cast<double>(start)) / static_cast<double>(step);
  const double count = span > 0 ? std::ceil(span) : 0.0;
  if (count > static_cast<double>(interp.limits().max_items)) {
    interp.check_item_count(interp.limits().max_items + 1);
  }
  std::vector<Value> items;
  items.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < static_cast<int64_t>(count); ++i) items.emplace_back(start + i * step);
  interp.charge(items.size() / 64);
  return Value::list(std::move(items));
}

void set_pairs(Value& dict, const Value& source) {
  if (source.is_dict()) {
    for (const auto& [key, value] : source.as_dict().entries) dict.as_dict().set(key, value);
    return;
  }
  for (const Value& pair : iterate(source)) {
    std::vector<Value> kv = iterate(pair);
    if (kv.size() != 2) fail("dictionary update sequence element has wrong length");
    dict.as_dict().set(kv[0], kv[1]);
  }
}

Value builtin_dict(Interpreter&, CallArgs& args) {
  if (args.positional.size() > 1) fail("dict expected at most 1 argument");
  Value dict = Value::dict();
  if (!args.positional.empty()) set_pairs(dict, args.positional[0]);
  for (const auto& [key, value] : args.keyword) dict.as_dict().set(Value(key), value);
  return dict;
}

Value builtin_namespace(Interpreter&, CallArgs& args) {
  if (args.positional.size() > 1) fail("namespace expected at most 1 positional argument");
  Value ns = Value::namespace_object();
  if (!args.positional.empty()) set_pairs(ns, args.positional[0]);
  for (const auto& [key, value] : args.keyword) ns.as_dict().set(Value(key), value);
  return ns;
}

Value builtin_raise_exception(Interpreter&, CallArgs& args) {
  const std::string message =
      args.positional.empty() ? std::string() : to_python_str(args.positional[0]);
  throw TemplateError(TemplateError::Kind::kRaised, message);
}

Value builtin_joiner(Interpreter&, CallArgs& args) {
  const ArgReader a(args, "joiner", {"sep"});
  const std::string separator = a.has(0) ? to_python_str(a.get(0)) : ", ";
  auto used = std::make_shared<bool>(false);
  return Value::function("joiner", [separator, used](Interpreter&, CallArgs&) -> Value {
    if (!*used) {
      *used = true;
      return "";
    }
    return separator;
  });
}

// The calendar date `date` ("YYYY-MM-DD") at midnight, or now in local time.
std::tm date_or_now(const std::optional<std::string>& date) {
  std::tm tm{};
  if (!date) {
    const std::time_t now = std::time(nullptr);
    localtime_r(&now, &tm);
    return tm;
  }
  int y = 0;
  unsigned m = 0;
  unsigned d = 0;
  if (std::sscanf(date->c_str(), "%d-%u-%u", &y, &m, &d) != 3) {
    fail("strftime_now: the fixed date must read YYYY-MM-DD, not '" + *date + "'");
  }
  const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{m},
                                        std::chrono::day{d}};
  if (!ymd.ok()) fail("strftime_now: invalid date '" + *date + "'");
  const std::chrono::sys_days days{ymd};
  const std::chrono::year_month_day jan1{ymd.year(), std::chrono::January, std::chrono::day{1}};
  tm.tm_year = y - 1900;
  tm.tm_mon = static_cast<int>(m) - 1;
  tm.tm_mday = static_cast<int>(d);
  tm.tm_wday = static_cast<int>(std::chrono::weekday{days}.c_encoding());
  tm.tm_yday = static_cast<int>((days - std::chrono::sys_days{jan1}).count());
  tm.tm_isdst = -1;
  return tm;
}

}  // namespace

void install_builtins(Scope& scope, const BuiltinOptions& options) {
  scope.vars["range"] = Value::function("range", builtin_range);
  scope.vars["dict"] = Value::function("dict", builtin_dict);
  scope.vars["namespace"] = Value::function("namespace", builtin_namespace);
  scope.vars["joiner"] = Value::function("joiner", builtin_joiner);
  scope.vars["raise_exception"] = Value::function("raise_exception", builtin_raise_exception);
  const std::optional<std::string> date = options.strftime_date;
  scope.vars["strftime_now"] =
      Value::function("strftime_now", [date](Interpreter&, CallArgs& args) -> Value {
        const ArgReader a(args, "strftime_now", {"format"});
        const std::optional<std::string> format = a.get_string(0);
        if (!format) fail("strftime_now() needs a format string");
        if (format->empty()) return "";
        const std::tm tm = date_or_now(date);
        // strftime reports "too small" and "empty result" alike; give up past 64 KiB.
        for (size_t capacity = format->size() * 4 + 64; capacity <= (64u << 10); capacity *= 2) {
          std::string out(capacity, '\0');
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"  // the template's format, as Python takes it
          const size_t n = std::strftime(out.data(), out.size(), format->c_str(), &tm);
#pragma GCC diagnostic pop
          if (n > 0) {
            out.resize(n);
            return out;
          }
        }
        return "";
      });
}

}  // namespace capibara::chat
