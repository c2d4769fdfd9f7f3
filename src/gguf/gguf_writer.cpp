// The GGUF v3 writer: validates values and tensors as they are added, then lays the file out
// exactly as the reader expects it (zero padding to the alignment before and after tensor data).
#include "gguf/gguf_writer.hpp"

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>

#include <fmt/format.h>

#include "core/error.hpp"

namespace capibara::gguf {
namespace {

constexpr std::string_view kAlignmentKey = "general.alignment";

bool valid_alignment(uint64_t a) {
  return a != 0 && std::has_single_bit(a) && a <= std::numeric_limits<uint32_t>::max();
}

[[noreturn]] void bad_value(std::string_view key, ValueType type, std::string_view problem) {
  throw InvalidArgumentError(
      fmt::format("GGUF writer: key '{}' ({}): {}", key, value_type_name(type), problem));
}

[[noreturn]] void bad_tensor(std::string_view name, std::string_view problem) {
  throw InvalidArgumentError(fmt::format("GGUF writer: tensor '{}': {}", name, problem));
}

// Throws `InvalidArgumentError` unless `value` can be written as its declared type: the
// storage alternative matches, integers fit, array items all have the element type.
void validate_value(std::string_view key, const Value& value, int depth) {
  const auto check_unsigned = [&](uint64_t max) {
    const auto* u = std::get_if<uint64_t>(&value.storage());
    if (u == nullptr)
      bad_value(key, value.type(), "expects an unsigned integer (uint64_t storage)");
    if (*u > max) bad_value(key, value.type(), fmt::format("value {} out of range", *u));
  };
  const auto check_signed = [&](int64_t min, int64_t max) {
    const auto* i = std::get_if<int64_t>(&value.storage());
    if (i == nullptr) bad_value(key, value.type(), "expects a signed integer (int64_t storage)");
    if (*i < min || *i > max)
      bad_value(key, value.type(), fmt::format("value {} out of range", *i));
  };
  switch (value.type()) {
    case ValueType::kUint8:
      return check_unsigned(std::numeric_limits<uint8_t>::max());
    case ValueType::kUint16:
      return check_unsigned(std::numeric_limits<uint16_t>::max());
    case ValueType::kUint32:
      return check_unsigned(std::numeric_limits<uint32_t>::max());
    case ValueType::kUint64:
      return check_unsigned(std::numeric_limits<uint64_t>::max());
    case ValueType::kInt8:
      return check_signed(std::numeric_limits<int8_t>::min(), std::numeric_limits<int8_t>::max());
    case ValueType::kInt16:
      return check_signed(std::numeric_limits<int16_t>::min(), std::numeric_limits<int16_t>::max());
    case ValueType::kInt32:
      return check_signed(std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max());
    case ValueType::kInt64:
      return check_signed(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
    case ValueType::kFloat32:
    case ValueType::kFloat64: {
      const auto* d = std::get_if<double>(&value.storage());
      if (d == nullptr)
        bad_value(key, value.type(), "expects a floating-point value (double storage)");
      if (value.type() == ValueType::kFloat32 && std::isfinite(*d) &&
          std::fabs(*d) > static_cast<double>(std::numeric_limits<float>::max())) {
        bad_value(key, value.type(), fmt::format("value {} does not fit in float32", *d));
      }
      return;
    }
    case ValueType::kBool:
      if (!std::holds_alternative<bool>(value.storage()))
        bad_value(key, value.type(), "expects bool storage");
      return;
    case ValueType::kString:
      if (!std::holds_alternative<std::string>(value.storage()))
        bad_value(key, value.type(), "expects string storage");
      return;
    case ValueType::kArray: {
      const Array* array = value.as_array();
      if (array == nullptr) bad_value(key, value.type(), "expects Array storage");
      if (depth >= kMaxArrayNesting) {
        bad_value(key, value.type(),
                  fmt::format("arrays nested more than {} deep", kMaxArrayNesting));
      }
      if (value_type_name(array->element_type) == "unknown")
        bad_value(key, value.type(), "unknown element type");
      for (const Value& item : array->items) {
        if (item.type() != array->element_type) {
          bad_value(key, value.type(),
                    fmt::format("array of {} holds a {} item", value_type_name(array->element_type),
                                value_type_name(item.type())));
        }
        validate_value(key, item, depth + 1);
      }
      return;
    }
  }
  bad_value(key, value.type(), "unknown value type");
}

// Appends little-endian encodings to a byte vector.
class Sink {
 public:
  explicit Sink(std::vector<uint8_t>& out) : out_(out) {}

  void le(uint64_t v, size_t n) {
    for (size_t i = 0; i < n; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void u32(uint32_t v) { le(v, 4); }
  void u64(uint64_t v) { le(v, 8); }
  void raw(std::span<const uint8_t> bytes) { out_.insert(out_.end(), bytes.begin(), bytes.end()); }
  void string(std::string_view s) {
    u64(s.size());
    raw({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
  }
  void pad_to(size_t alignment) {
    out_.resize(out_.size() + (alignment - out_.size() % alignment) % alignment, 0);
  }

  // The payload of `value` (not its type tag); `value` was validated when it was set.
  void value(const Value& value) {
    const auto& s = value.storage();
    switch (value.type()) {
      case ValueType::kUint8:
      case ValueType::kInt8:
        return int_value(s, 1);
      case ValueType::kUint16:
      case ValueType::kInt16:
        return int_value(s, 2);
      case ValueType::kUint32:
      case ValueType::kInt32:
        return int_value(s, 4);
      case ValueType::kUint64:
      case ValueType::kInt64:
        return int_value(s, 8);
      case ValueType::kFloat32:
        return u32(std::bit_cast<uint32_t>(static_cast<float>(std::get<double>(s))));
      case ValueType::kFloat64:
        return u64(std::bit_cast<uint64_t>(std::get<double>(s)));
      case ValueType::kBool:
        return le(std::get<bool>(s) ? 1 : 0, 1);
      case ValueType::kString:
        return string(std::get<std::string>(s));
      case ValueType::kArray: {
        const Array& array = std::get<Array>(s);
        u32(static_cast<uint32_t>(array.element_type));
        u64(array.items.size());
        for (const Value& item : array.items) this->value(item);
        return;
      }
    }
  }

 private:
  void int_value(const Value::Storage& s, size_t n) {
    if (const auto* u = std::get_if<uint64_t>(&s)) return le(*u, n);
    le(static_cast<uint64_t>(std::get<int64_t>(s)), n);  // two's complement, truncated to n
  }

  std::vector<uint8_t>& out_;
};

size_t align_up(size_t offset, size_t alignment) {
  return offset + (alignment - offset % alignment) % alignment;
}

}  // namespace

GgufWriter::GgufWriter(size_t alignment) : alignment_(alignment) {
  if (!valid_alignment(alignment)) {
    throw InvalidArgumentError(
        fmt::format("GGUF writer: alignment {} is not a nonzero power of two", alignment));
  }
  if (alignment != kDefaultAlignment) set_u32(kAlignmentKey, static_cast<uint32_t>(alignment));
}

void GgufWriter::set(std::string_view key, Value value) {
  validate_value(key, value, 0);
  // Keep the layout consistent with a valid alignment key; an invalid one is still written
  // as given (tests use that to build broken files) while the layout keeps the old alignment.
  if (key == kAlignmentKey && value.type() == ValueType::kUint32 &&
      valid_alignment(std::get<uint64_t>(value.storage()))) {
    alignment_ = static_cast<size_t>(std::get<uint64_t>(value.storage()));
  }
  for (auto& entry : metadata_) {
    if (entry.key == key) {
      entry.value = std::move(value);
      return;
    }
  }
  metadata_.push_back({std::string(key), std::move(value)});
}

void GgufWriter::set_u32(std::string_view key, uint32_t v) {
  set(key, Value(ValueType::kUint32, uint64_t{v}));
}
void GgufWriter::set_i32(std::string_view key, int32_t v) {
  set(key, Value(ValueType::kInt32, int64_t{v}));
}
void GgufWriter::set_u64(std::string_view key, uint64_t v) {
  set(key, Value(ValueType::kUint64, v));
}
void GgufWriter::set_f32(std::string_view key, float v) {
  set(key, Value(ValueType::kFloat32, static_cast<double>(v)));
}
void GgufWriter::set_bool(std::string_view key, bool v) { set(key, Value(ValueType::kBool, v)); }
void GgufWriter::set_string(std::string_view key, std::string v) {
  set(key, Value(ValueType::kString, std::move(v)));
}

void GgufWriter::set_strings(std::string_view key, const std::vector<std::string>& v) {
  Array array{ValueType::kString, {}};
  array.items.reserve(v.size());
  for (const auto& s : v) array.items.emplace_back(ValueType::kString, s);
  set(key, Value(ValueType::kArray, std::move(array)));
}

void GgufWriter::set_f32s(std::string_view key, const std::vector<float>& v) {
  Array array{ValueType::kFloat32, {}};
  array.items.reserve(v.size());
  for (float f : v) array.items.emplace_back(ValueType::kFloat32, static_cast<double>(f));
  set(key, Value(ValueType::kArray, std::move(array)));
}

void GgufWriter::set_i32s(std::string_view key, const std::vector<int32_t>& v) {
  Array array{ValueType::kInt32, {}};
  array.items.reserve(v.size());
  for (int32_t i : v) array.items.emplace_back(ValueType::kInt32, int64_t{i});
  set(key, Value(ValueType::kArray, std::move(array)));
}

size_t GgufWriter::checked_tensor_bytes(std::string_view name, GgmlType type,
                                        const std::vector<int64_t>& shape) const {
  for (const auto& t : tensors_) {
    if (t.name == name) bad_tensor(name, "added twice");
  }
  if (shape.size() > kMaxTensorDims) {
    bad_tensor(name, fmt::format("{} dimensions, at most {}", shape.size(), kMaxTensorDims));
  }
  int64_t n_rows = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] < 0) bad_tensor(name, fmt::format("negative dimension {}", shape[d]));
    if (d > 0 && __builtin_mul_overflow(n_rows, shape[d], &n_rows))
      bad_tensor(name, "too many rows");
  }
  const int64_t row_length = shape.empty() ? 1 : shape[0];
  int64_t n_elements = 0;
  if (__builtin_mul_overflow(row_length, n_rows, &n_elements))
    bad_tensor(name, "too many elements");
  const auto known = ggml_type_traits(static_cast<uint32_t>(type));
  if (!known) bad_tensor(name, fmt::format("unknown type id {}", static_cast<uint32_t>(type)));
  const GgmlTypeTraits& traits = *known;
  if (row_length % traits.block_size != 0) {
    bad_tensor(name, fmt::format("row length {} is not a multiple of the {} block size {}",
                                 row_length, traits.name, traits.block_size));
  }
  size_t row_bytes = 0;
  size_t n_bytes = 0;
  if (__builtin_mul_overflow(static_cast<size_t>(row_length / traits.block_size),
                             traits.block_bytes, &row_bytes) ||
      __builtin_mul_overflow(row_bytes, static_cast<size_t>(n_rows), &n_bytes)) {
    bad_tensor(name, "too many bytes");
  }
  return n_bytes;
}

void GgufWriter::add_tensor(std::string name, GgmlType type, std::vector<int64_t> shape,
                            std::span<const uint8_t> data) {
  const size_t n_bytes = checked_tensor_bytes(name, type, shape);
  if (data.size() != n_bytes) {
    bad_tensor(name, fmt::format("{} bytes of data given, its shape and type need {}", data.size(),
                                 n_bytes));
  }
  tensors_.push_back(
      {std::move(name), type, std::move(shape), n_bytes, true, {data.begin(), data.end()}});
}

size_t GgufWriter::add_tensor_info(std::string name, GgmlType type, std::vector<int64_t> shape) {
  const size_t n_bytes = checked_tensor_bytes(name, type, shape);
  tensors_.push_back({std::move(name), type, std::move(shape), n_bytes, false, {}});
  return n_bytes;
}

std::vector<uint8_t> GgufWriter::header_bytes() const {
  std::vector<uint8_t> out;
  Sink sink(out);
  sink.raw({reinterpret_cast<const uint8_t*>("GGUF"), 4});
  sink.u32(3);
  sink.u64(tensors_.size());
  sink.u64(metadata_.size());
  for (const auto& entry : metadata_) {
    sink.string(entry.key);
    sink.u32(static_cast<uint32_t>(entry.value.type()));
    sink.value(entry.value);
  }
  size_t data_offset = 0;  // running offset inside the data section
  for (const auto& t : tensors_) {
    sink.string(t.name);
    sink.u32(static_cast<uint32_t>(t.shape.size()));
    for (int64_t d : t.shape) sink.u64(static_cast<uint64_t>(d));
    sink.u32(static_cast<uint32_t>(t.type));
    sink.u64(data_offset);
    data_offset = align_up(data_offset + t.n_bytes, alignment_);
  }
  sink.pad_to(alignment_);
  return out;
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
  for (const auto& t : tensors_) {
    if (!t.has_data) {
      bad_tensor(t.name, "declared without data (add_tensor_info): stream the file instead");
    }
  }
  std::vector<uint8_t> out = header_bytes();
  Sink sink(out);
  // Every tensor, the last included, is padded to the alignment, as llama.cpp writes files.
  for (const auto& t : tensors_) {
    sink.raw(t.data);
    sink.pad_to(alignment_);
  }
  return out;
}

void GgufWriter::write(const std::filesystem::path& path) const {
  const std::vector<uint8_t> bytes = to_bytes();
  const auto fail = [&](const char* what) {
    throw SystemError(fmt::format("cannot {} '{}': {}", what, path.string(), std::strerror(errno)));
  };
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) fail("create");
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f.get()) != bytes.size()) {
    fail("write");
  }
  if (std::fclose(f.release()) != 0) fail("write");
}

}  // namespace capibara::gguf
