// `ArgReader`: Python's binding of call arguments to the parameters of native functions.
#include <algorithm>

#include "chat/native.hpp"

namespace capibara::chat {

ArgReader::ArgReader(const CallArgs& args, std::string_view function,
                     std::initializer_list<std::string_view> names)
    : function_(function), names_(names), values_(names.size(), nullptr) {
  if (args.positional.size() > names_.size()) {
    fail(function_ + "() takes at most " + std::to_string(names_.size()) + " argument(s) (" +
         std::to_string(args.positional.size()) + " given)");
  }
  for (size_t i = 0; i < args.positional.size(); ++i) values_[i] = &args.positional[i];
  for (const auto& [name, value] : args.keyword) {
    const auto it = std::find(names_.begin(), names_.end(), name);
    if (it == names_.end()) {
      fail(function_ + "() got an unexpected keyword argument '" + name + "'");
    }
    const auto i = static_cast<size_t>(it - names_.begin());
    if (values_[i] != nullptr) {
      fail(function_ + "() got multiple values for argument '" + name + "'");
    }
    values_[i] = &value;
  }
}

const Value& ArgReader::get(size_t i) const {
  static const Value kUndefined;
  return values_[i] != nullptr ? *values_[i] : kUndefined;
}

int64_t ArgReader::get_int(size_t i, int64_t fallback) const {
  if (!has(i) || values_[i]->is_none()) return fallback;
  const Value& v = *values_[i];
  if (v.is_float()) return static_cast<int64_t>(v.as_float());
  if (!v.is_int() && !v.is_bool()) {
    fail(function_ + "(): argument '" + std::string(names_[i]) + "' must be an integer, not " +
         v.type_name());
  }
  return v.to_int();
}

std::optional<std::string> ArgReader::get_string(size_t i) const {
  if (!has(i) || values_[i]->is_none() || values_[i]->is_undefined()) return std::nullopt;
  const Value& v = *values_[i];
  if (!v.is_string()) {
    fail(function_ + "(): argument '" + std::string(names_[i]) + "' must be a string, not " +
         v.type_name());
  }
  return v.as_string();
}

}  // namespace capibara::chat
