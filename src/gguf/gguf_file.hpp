// Read-only view of a GGUF file (v2 and v3) over a memory mapping.
//
// Every count, offset and size in the file is validated against the mapping before use, so a
// truncated, corrupted or hostile file throws `FormatError` (or `UnsupportedError` for a valid
// but unknown feature) naming the problem; nothing is read past the mapping and no allocation
// is driven by an unchecked count. Tensor data is never copied: `TensorInfo::data` points into
// the mapping, which lives as long as any copy of the `GgufFile`.
//
// Thread safety: immutable after `open`; any thread may read it concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/ggml_type.hpp"
#include "core/mapped_file.hpp"

namespace capibara {

namespace gguf {

// Metadata value types as GGUF numbers them (wire format).
enum class ValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
// "uint8", "string", "array", ...; "unknown" for a number outside the enum.
std::string_view value_type_name(ValueType type);

// Limits the reader enforces (and the writer respects) beyond the spec's own fields.
inline constexpr uint32_t kMaxTensorDims = 4;    // GGML_MAX_DIMS
inline constexpr int kMaxArrayNesting = 8;       // arrays of arrays of ... at most this deep
inline constexpr size_t kDefaultAlignment = 32;  // when `general.alignment` is absent
// Each array item becomes a `Value` of ~48 bytes in memory, so a hostile file made of one huge
// uint8 array could make the reader allocate ~48x the file's size; the total number of array
// items in the metadata is capped instead (real vocabularies hold about 1M, tokens + merges).
inline constexpr uint64_t kMaxMetadataArrayItems = uint64_t{1} << 24;

class Value;

struct Array {
  ValueType element_type = ValueType::kUint8;
  std::vector<Value> items;
};
bool operator==(const Array& a, const Array& b);

// One metadata value: a scalar, a string or an (optionally nested) array. The integer and
// float alternatives hold the widest C++ type; `type()` remembers what the file said.
class Value {
 public:
  using Storage = std::variant<uint64_t, int64_t, double, bool, std::string, Array>;

  Value() = default;
  Value(ValueType type, Storage storage) : type_(type), storage_(std::move(storage)) {}

  ValueType type() const { return type_; }
  const Storage& storage() const { return storage_; }

  // Conversions that succeed only when the stored kind matches (any integer type for
  // `as_int`, which also rejects values that do not fit in int64; float or integer for
  // `as_float`).
  std::optional<int64_t> as_int() const;
  std::optional<double> as_float() const;
  std::optional<bool> as_bool() const;
  const std::string* as_string() const;
  const Array* as_array() const;

  // Same file type and same content (floats compare by value, so NaN != NaN).
  friend bool operator==(const Value& a, const Value& b);

 private:
  ValueType type_ = ValueType::kUint8;
  Storage storage_;
};

struct MetadataEntry {
  std::string key;
  Value value;
};

struct TensorInfo {
  std::string name;
  GgmlType type = GgmlType::kF32;
  std::vector<int64_t> shape;  // GGUF order: shape[0] is the contiguous (row) dimension
  uint64_t offset = 0;         // from the start of the tensor data section
  size_t n_bytes = 0;
  const uint8_t* data = nullptr;  // into the mapping

  int64_t n_elements() const;
  int64_t row_length() const { return shape.empty() ? 1 : shape[0]; }
  int64_t n_rows() const;  // product of shape[1..]
  size_t row_bytes() const { return n_rows() == 0 ? 0 : n_bytes / static_cast<size_t>(n_rows()); }
};

class GgufFile {
 public:
  // Maps and validates `path`. Throws `SystemError` when it cannot be opened or mapped,
  // `FormatError` / `UnsupportedError` when its content is invalid.
  static GgufFile open(const std::filesystem::path& path);
  // Same validation over bytes already in memory (copied into an owned buffer); for tests.
  static GgufFile from_bytes(std::span<const uint8_t> bytes, std::string display_name = "<memory>");

  const std::string& display_name() const { return display_name_; }
  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }
  // Start of the tensor data section (aligned); may lie past `file_size()` when the file has no
  // tensors (vocabulary-only files are written without trailing padding).
  size_t data_offset() const { return data_offset_; }
  size_t file_size() const { return bytes_.size(); }
  // The whole file; tensor `data` pointers point into it.
  std::span<const uint8_t> bytes() const { return bytes_; }
  // The mapping behind `open` (for `madvise` hints); nullptr for `from_bytes`.
  const MappedFile* mapped_file() const { return mapping_.get(); }

  const std::vector<MetadataEntry>& metadata() const { return metadata_; }
  const Value* find(std::string_view key) const;

  // Optional typed lookups: nullopt when absent; `FormatError` naming the key when present
  // with the wrong type.
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string_view> get_string(std::string_view key) const;
  const Array* get_array(std::string_view key) const;

  // Required typed lookups: `FormatError` naming the key when it is absent or mistyped.
  int64_t require_int(std::string_view key) const;
  double require_float(std::string_view key) const;
  std::string_view require_string(std::string_view key) const;
  const Array& require_array(std::string_view key) const;

  // `general.architecture`, or "" when the file has none.
  std::string architecture() const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  // `FormatError` naming the tensor when it is absent.
  const TensorInfo& require_tensor(std::string_view name) const;

 private:
  GgufFile() = default;
  void parse();
  [[noreturn]] void fail_key(std::string_view key, std::string_view problem) const;

  std::shared_ptr<const MappedFile> mapping_;   // set by `open`
  std::shared_ptr<const uint8_t> owned_bytes_;  // set by `from_bytes` (64-byte aligned copy)
  std::span<const uint8_t> bytes_;              // into one of the two above
  std::string display_name_;
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  size_t data_offset_ = 0;
  std::vector<MetadataEntry> metadata_;
  std::vector<TensorInfo> tensors_;
  // Positions in `metadata_` / `tensors_` sorted by key / name, for binary-search lookups
  // (indices rather than pointers so that copies of a `GgufFile` stay valid).
  std::vector<size_t> metadata_by_key_;
  std::vector<size_t> tensors_by_name_;
};

}  // namespace gguf
}  // namespace capibara
