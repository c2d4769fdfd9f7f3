// The GGUF reader: a bounds-checked parser over the mapping, and the lookups built on it.
//
// Every length, count and offset read from the file is compared with the bytes that remain
// before it drives a read or an allocation, so the worst a hostile file can do is make us
// allocate a small constant multiple of its own size.
#include "gguf/gguf_file.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <new>
#include <utility>

#include <fmt/format.h>

#include "core/error.hpp"

namespace capibara::gguf {
namespace {

constexpr uint32_t kMaxKnownValueType = 12;
// Smallest possible encodings, used to reject counts before reserving for them:
// a metadata entry is a key length (8) + value type (4) + at least a 1-byte value;
// a tensor info is a name length (8) + n_dims (4) + type (4) + offset (8).
constexpr size_t kMinMetadataEntryBytes = 8 + 4 + 1;
constexpr size_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;
constexpr size_t kHeaderBytes = 4 + 4 + 8 + 8;
// `from_bytes` copies into a buffer this aligned, as a mapping would be page aligned, so tensor
// data keeps the alignment the file promises.
constexpr std::align_val_t kBufferAlignment{64};

// Bytes one value of `type` takes at least (exactly, for scalars).
size_t min_value_bytes(ValueType type) {
  switch (type) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kBool:
      return 1;
    case ValueType::kUint16:
    case ValueType::kInt16:
      return 2;
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kFloat32:
      return 4;
    case ValueType::kUint64:
    case ValueType::kInt64:
    case ValueType::kFloat64:
    case ValueType::kString:  // the length prefix
      return 8;
    case ValueType::kArray:  // element type + count
      return 4 + 8;
  }
  return 1;
}

// ggml type ids that exist upstream but that capibara does not implement (a file using them is
// valid, so it gets `UnsupportedError`); ids outside this list and the known table are corrupt.
std::string_view upstream_only_type_name(uint32_t id) {
  switch (id) {
    case 16:
      return "iq2_xxs";
    case 17:
      return "iq2_xs";
    case 18:
      return "iq3_xxs";
    case 19:
      return "iq1_s";
    case 20:
      return "iq4_nl";
    case 21:
      return "iq3_s";
    case 22:
      return "iq2_s";
    case 23:
      return "iq4_xs";
    case 29:
      return "iq1_m";
    case 34:
      return "tq1_0";
    case 35:
      return "tq2_0";
    case 39:
      return "mxfp4";
    default:
      return {};
  }
}

size_t align_up(size_t offset, size_t alignment) {
  const size_t rem = offset % alignment;
  return rem == 0 ? offset : offset + (alignment - rem);
}

// Sequential little-endian reader over the file; every read is checked against the end.
class Reader {
 public:
  Reader(std::span<const uint8_t> bytes, const std::string& display_name)
      : bytes_(bytes), display_name_(display_name) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }
  const std::string& display_name() const { return display_name_; }

  // Array items read so far, against `kMaxMetadataArrayItems`.
  uint64_t array_items() const { return array_items_; }
  void add_array_items(uint64_t n) { array_items_ += n; }

  // What is being read, for error messages ("metadata entry 3 ('llama.block_count')").
  void set_context(std::string context) { context_ = std::move(context); }

  [[noreturn]] void fail(std::string_view message) const {
    throw FormatError(fmt::format("{}: {}", display_name_, message));
  }

  void need(size_t n, std::string_view what) const {
    if (n > remaining()) {
      fail(
          fmt::format("truncated file: {} of {} needs {} bytes at byte offset {}, but only {} "
                      "remain",
                      what, context_, n, pos_, remaining()));
    }
  }

  uint8_t u8(std::string_view what) { return static_cast<uint8_t>(le(1, what)); }
  uint16_t u16(std::string_view what) { return static_cast<uint16_t>(le(2, what)); }
  uint32_t u32(std::string_view what) { return static_cast<uint32_t>(le(4, what)); }
  uint64_t u64(std::string_view what) { return le(8, what); }

  std::string string(std::string_view what) {
    const size_t at = pos_;
    const uint64_t length = u64(what);
    if (length > remaining()) {
      fail(fmt::format("{} of {} at byte offset {} claims {} bytes, but only {} remain", what,
                       context_, at, length, remaining()));
    }
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<size_t>(length));
    pos_ += static_cast<size_t>(length);
    return s;
  }

 private:
  uint64_t le(size_t n, std::string_view what) {
    need(n, what);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(bytes_[pos_ + i]) << (8 * i);
    pos_ += n;
    return v;
  }

  std::span<const uint8_t> bytes_;
  const std::string& display_name_;
  std::string context_ = "the header";
  size_t pos_ = 0;
  uint64_t array_items_ = 0;
};

ValueType checked_value_type(Reader& in, std::string_view what) {
  const size_t at = in.pos();
  const uint32_t raw = in.u32(what);
  if (raw > kMaxKnownValueType) {
    in.fail(fmt::format("unknown {} {} at byte offset {}", what, raw, at));
  }
  return static_cast<ValueType>(raw);
}

Value read_value(Reader& in, ValueType type, int depth) {
  switch (type) {
    case ValueType::kUint8:
      return {type, uint64_t{in.u8("uint8 value")}};
    case ValueType::kInt8:
      return {type, int64_t{static_cast<int8_t>(in.u8("int8 value"))}};
    case ValueType::kUint16:
      return {type, uint64_t{in.u16("uint16 value")}};
    case ValueType::kInt16:
      return {type, int64_t{static_cast<int16_t>(in.u16("int16 value"))}};
    case ValueType::kUint32:
      return {type, uint64_t{in.u32("uint32 value")}};
    case ValueType::kInt32:
      return {type, int64_t{static_cast<int32_t>(in.u32("int32 value"))}};
    case ValueType::kUint64:
      return {type, in.u64("uint64 value")};
    case ValueType::kInt64:
      return {type, static_cast<int64_t>(in.u64("int64 value"))};
    case ValueType::kFloat32:
      return {type, static_cast<double>(std::bit_cast<float>(in.u32("float32 value")))};
    case ValueType::kFloat64:
      return {type, std::bit_cast<double>(in.u64("float64 value"))};
    case ValueType::kBool: {
      const size_t at = in.pos();
      const uint8_t b = in.u8("bool value");
      if (b > 1) in.fail(fmt::format("invalid bool value {} at byte offset {}", b, at));
      return {type, b == 1};
    }
    case ValueType::kString:
      return {type, in.string("string value")};
    case ValueType::kArray: {
      const size_t at = in.pos();
      if (depth >= kMaxArrayNesting) {
        in.fail(
            fmt::format("arrays nested more than {} deep at byte offset {}", kMaxArrayNesting, at));
      }
      Array array;
      array.element_type = checked_value_type(in, "array element type");
      const size_t count_at = in.pos();
      const uint64_t count = in.u64("array length");
      const size_t min_bytes = min_value_bytes(array.element_type);
      if (count > in.remaining() / min_bytes) {
        in.fail(fmt::format(
            "array of {} {} values at byte offset {} cannot fit: needs at least {} bytes per "
            "item, but only {} bytes remain",
            count, value_type_name(array.element_type), count_at, min_bytes, in.remaining()));
      }
      if (count > kMaxMetadataArrayItems - in.array_items()) {
        throw UnsupportedError(fmt::format(
            "{}: array at byte offset {} brings the metadata past {} array items in total, "
            "more than capibara accepts",
            in.display_name(), count_at, kMaxMetadataArrayItems));
      }
      in.add_array_items(count);
      array.items.reserve(static_cast<size_t>(count));
      for (uint64_t i = 0; i < count; ++i) {
        array.items.push_back(read_value(in, array.element_type, depth + 1));
      }
      return {type, std::move(array)};
    }
  }
  in.fail("internal error: unhandled value type");  // checked_value_type rejects the rest
}

// `a * b` when it fits in `T`; nullopt on overflow.
template <typename T>
std::optional<T> checked_mul(T a, T b) {
  T r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// Sorts `order` (positions into `items`) by `name_of(item)`; returns the first position whose
// name repeats an earlier one (in file order), or nullopt when all names are distinct.
template <typename Item, typename NameOf>
std::optional<std::pair<size_t, size_t>> sort_and_find_duplicate(const std::vector<Item>& items,
                                                                 std::vector<size_t>& order,
                                                                 NameOf name_of) {
  order.resize(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const std::string_view na = name_of(items[a]);
    const std::string_view nb = name_of(items[b]);
    return na != nb ? na < nb : a < b;
  });
  for (size_t i = 1; i < order.size(); ++i) {
    if (name_of(items[order[i - 1]]) == name_of(items[order[i]])) {
      return std::pair{order[i - 1], order[i]};
    }
  }
  return std::nullopt;
}

}  // namespace

GgufFile GgufFile::open(const std::filesystem::path& path) {
  GgufFile file;
  file.mapping_ = std::make_shared<const MappedFile>(path);
  file.bytes_ = file.mapping_->bytes();
  file.display_name_ = path.string();
  file.parse();
  return file;
}

GgufFile GgufFile::from_bytes(std::span<const uint8_t> bytes, std::string display_name) {
  GgufFile file;
  // Exactly `size` bytes long, so that sanitizers catch any read past the end.
  auto* raw =
      static_cast<uint8_t*>(::operator new(std::max<size_t>(bytes.size(), 1), kBufferAlignment));
  file.owned_bytes_ = std::shared_ptr<const uint8_t>(
      raw, [](const uint8_t* p) { ::operator delete(const_cast<uint8_t*>(p), kBufferAlignment); });
  if (!bytes.empty()) std::memcpy(raw, bytes.data(), bytes.size());
  file.bytes_ = {file.owned_bytes_.get(), bytes.size()};
  file.display_name_ = std::move(display_name);
  file.parse();
  return file;
}

void GgufFile::parse() {
  Reader in(bytes_, display_name_);

  // Header.
  if (bytes_.size() < 4) {
    in.fail(fmt::format("not a GGUF file: only {} bytes long (a GGUF header has {})", bytes_.size(),
                        kHeaderBytes));
  }
  if (std::memcmp(bytes_.data(), "GGUF", 4) != 0) {
    in.fail(
        fmt::format("not a GGUF file: magic bytes at offset 0 are {:02x} {:02x} {:02x} {:02x}, "
                    "expected 47 47 55 46 (\"GGUF\")",
                    bytes_[0], bytes_[1], bytes_[2], bytes_[3]));
  }
  in.u32("magic");
  version_ = in.u32("version");
  if (version_ != 2 && version_ != 3) {
    const uint32_t swapped = ((version_ & 0xffu) << 24) | ((version_ & 0xff00u) << 8) |
                             ((version_ >> 8) & 0xff00u) | (version_ >> 24);
    if (swapped == 2 || swapped == 3) {
      throw UnsupportedError(
          fmt::format("{}: big-endian GGUF files are not supported (version {} stored big-endian)",
                      display_name_, swapped));
    }
    throw UnsupportedError(
        fmt::format("{}: unsupported GGUF version {} (capibara reads versions 2 and 3)",
                    display_name_, version_));
  }
  const uint64_t tensor_count = in.u64("tensor count");
  const uint64_t kv_count = in.u64("metadata entry count");
  if (kv_count > in.remaining() / kMinMetadataEntryBytes) {
    in.fail(
        fmt::format("metadata entry count {} (byte offset 16) cannot fit in the {} bytes that "
                    "follow the header",
                    kv_count, in.remaining()));
  }
  if (tensor_count > in.remaining() / kMinTensorInfoBytes) {
    in.fail(
        fmt::format("tensor count {} (byte offset 8) cannot fit in the {} bytes that follow "
                    "the header",
                    tensor_count, in.remaining()));
  }

  // Metadata.
  std::vector<size_t> key_offsets;  // [kv_count] byte offset of each key, for messages
  key_offsets.reserve(static_cast<size_t>(kv_count));
  metadata_.reserve(static_cast<size_t>(kv_count));
  for (uint64_t i = 0; i < kv_count; ++i) {
    key_offsets.push_back(in.pos());
    in.set_context(fmt::format("metadata entry {}", i));
    MetadataEntry entry;
    entry.key = in.string("key");
    in.set_context(fmt::format("metadata entry {} ('{}')", i, entry.key));
    const ValueType type = checked_value_type(in, fmt::format("value type of key '{}'", entry.key));
    entry.value = read_value(in, type, 0);
    metadata_.push_back(std::move(entry));
  }
  if (auto dup = sort_and_find_duplicate(
          metadata_, metadata_by_key_,
          [](const MetadataEntry& e) -> std::string_view { return e.key; })) {
    in.fail(fmt::format("duplicate metadata key '{}' (at byte offsets {} and {})",
                        metadata_[dup->first].key, key_offsets[dup->first],
                        key_offsets[dup->second]));
  }

  alignment_ = kDefaultAlignment;
  if (const Value* v = find("general.alignment")) {
    if (v->type() != ValueType::kUint32) {
      in.fail(fmt::format("key 'general.alignment' has type {}, expected uint32",
                          value_type_name(v->type())));
    }
    const uint64_t a = std::get<uint64_t>(v->storage());
    if (a == 0 || !std::has_single_bit(a)) {
      in.fail(fmt::format("key 'general.alignment' is {}, expected a nonzero power of two", a));
    }
    alignment_ = static_cast<size_t>(a);
  }

  // Tensor infos.
  if (tensor_count > in.remaining() / kMinTensorInfoBytes) {
    in.fail(
        fmt::format("tensor count {} cannot fit in the {} bytes after the metadata (byte "
                    "offset {})",
                    tensor_count, in.remaining(), in.pos()));
  }
  tensors_.reserve(static_cast<size_t>(tensor_count));
  for (uint64_t i = 0; i < tensor_count; ++i) {
    in.set_context(fmt::format("tensor info {}", i));
    TensorInfo t;
    t.name = in.string("name");
    in.set_context(fmt::format("tensor info {} ('{}')", i, t.name));
    const size_t dims_at = in.pos();
    const uint32_t n_dims = in.u32("dimension count");
    if (n_dims > kMaxTensorDims) {
      in.fail(fmt::format("tensor '{}' has {} dimensions (byte offset {}), at most {} allowed",
                          t.name, n_dims, dims_at, kMaxTensorDims));
    }
    t.shape.reserve(n_dims);
    int64_t n_elements = 1;
    int64_t n_rows = 1;  // product of shape[1..]; checked too, since shape[0] may be 0
    for (uint32_t d = 0; d < n_dims; ++d) {
      const size_t dim_at = in.pos();
      const uint64_t dim = in.u64("dimension");
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        in.fail(
            fmt::format("tensor '{}' dimension {} is {} (byte offset {}), which does not fit "
                        "in int64",
                        t.name, d, dim, dim_at));
      }
      t.shape.push_back(static_cast<int64_t>(dim));
      const auto product = checked_mul<int64_t>(n_elements, static_cast<int64_t>(dim));
      if (!product) {
        in.fail(fmt::format("tensor '{}' shape has more than 2^63 elements (byte offset {})",
                            t.name, dims_at));
      }
      n_elements = *product;
      if (d > 0) {
        const auto rows = checked_mul<int64_t>(n_rows, static_cast<int64_t>(dim));
        if (!rows) {
          in.fail(fmt::format("tensor '{}' shape has more than 2^63 rows (byte offset {})", t.name,
                              dims_at));
        }
        n_rows = *rows;
      }
    }
    const size_t type_at = in.pos();
    const uint32_t type_id = in.u32("type");
    const auto traits = ggml_type_traits(type_id);
    if (!traits) {
      if (const auto upstream = upstream_only_type_name(type_id); !upstream.empty()) {
        throw UnsupportedError(
            fmt::format("{}: tensor '{}' has type {} (id {}), which capibara does not support",
                        display_name_, t.name, upstream, type_id));
      }
      in.fail(fmt::format("tensor '{}' has unknown type id {} (byte offset {})", t.name, type_id,
                          type_at));
    }
    t.type = traits->type;
    const size_t offset_at = in.pos();
    t.offset = in.u64("data offset");
    if (t.offset % alignment_ != 0) {
      in.fail(
          fmt::format("tensor '{}' data offset {} (byte offset {}) is not a multiple of the "
                      "alignment {}",
                      t.name, t.offset, offset_at, alignment_));
    }
    if (t.row_length() % traits->block_size != 0) {
      in.fail(
          fmt::format("tensor '{}' has rows of {} elements, not a multiple of the {} block "
                      "size {}",
                      t.name, t.row_length(), traits->name, traits->block_size));
    }
    // Computed here with overflow checks rather than by `ggml_row_bytes`, which trusts its input.
    const auto row_bytes = checked_mul<size_t>(
        static_cast<size_t>(t.row_length() / traits->block_size), traits->block_bytes);
    const auto n_bytes =
        row_bytes ? checked_mul<size_t>(*row_bytes, static_cast<size_t>(n_rows)) : std::nullopt;
    if (!n_bytes) {
      in.fail(fmt::format("tensor '{}' size in bytes overflows", t.name));
    }
    t.n_bytes = *n_bytes;
    tensors_.push_back(std::move(t));
  }
  if (auto dup =
          sort_and_find_duplicate(tensors_, tensors_by_name_,
                                  [](const TensorInfo& t) -> std::string_view { return t.name; })) {
    in.fail(fmt::format("duplicate tensor name '{}' (tensor infos {} and {})",
                        tensors_[dup->first].name, dup->first, dup->second));
  }

  // Data section: each tensor must lie inside the file and not overlap another.
  data_offset_ = align_up(in.pos(), alignment_);
  const size_t file_size = bytes_.size();
  for (auto& t : tensors_) {
    const bool fits = data_offset_ <= file_size && t.offset <= file_size - data_offset_ &&
                      t.n_bytes <= file_size - data_offset_ - t.offset;
    if (!fits) {
      in.fail(
          fmt::format("tensor '{}' extends past end of file (needs {} bytes at offset {}, "
                      "file has {})",
                      t.name, t.n_bytes, data_offset_ + t.offset, file_size));
    }
    t.data = bytes_.data() + data_offset_ + t.offset;
  }
  std::vector<size_t> by_offset(tensors_.size());  // [tensor_count] positions sorted by offset
  for (size_t i = 0; i < by_offset.size(); ++i) by_offset[i] = i;
  std::sort(by_offset.begin(), by_offset.end(), [&](size_t a, size_t b) {
    return tensors_[a].offset != tensors_[b].offset ? tensors_[a].offset < tensors_[b].offset
                                                    : a < b;
  });
  const TensorInfo* furthest = nullptr;  // the tensor seen so far whose data ends last
  for (size_t i : by_offset) {
    const TensorInfo& t = tensors_[i];
    if (t.n_bytes == 0) continue;
    if (furthest != nullptr && t.offset < furthest->offset + furthest->n_bytes) {
      in.fail(fmt::format("tensors '{}' (data bytes {}..{}) and '{}' (data bytes {}..{}) overlap",
                          furthest->name, furthest->offset, furthest->offset + furthest->n_bytes,
                          t.name, t.offset, t.offset + t.n_bytes));
    }
    if (furthest == nullptr || t.offset + t.n_bytes > furthest->offset + furthest->n_bytes) {
      furthest = &t;
    }
  }
}

void GgufFile::fail_key(std::string_view key, std::string_view problem) const {
  throw FormatError(fmt::format("{}: key '{}' {}", display_name_, key, problem));
}

const Value* GgufFile::find(std::string_view key) const {
  const auto it = std::lower_bound(
      metadata_by_key_.begin(), metadata_by_key_.end(), key,
      [this](size_t i, std::string_view k) { return std::string_view(metadata_[i].key) < k; });
  if (it == metadata_by_key_.end() || metadata_[*it].key != key) return nullptr;
  return &metadata_[*it].value;
}

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (auto i = v->as_int()) return i;
  if (const auto* u = std::get_if<uint64_t>(&v->storage())) {
    fail_key(key, fmt::format("has value {}, which does not fit in int64", *u));
  }
  fail_key(key, fmt::format("has type {}, expected an integer", value_type_name(v->type())));
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (auto f = v->as_float()) return f;
  fail_key(key, fmt::format("has type {}, expected a number", value_type_name(v->type())));
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (auto b = v->as_bool()) return b;
  fail_key(key, fmt::format("has type {}, expected a bool", value_type_name(v->type())));
}

std::optional<std::string_view> GgufFile::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (const auto* s = v->as_string()) return std::string_view(*s);
  fail_key(key, fmt::format("has type {}, expected a string", value_type_name(v->type())));
}

const Array* GgufFile::get_array(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return nullptr;
  if (const auto* a = v->as_array()) return a;
  fail_key(key, fmt::format("has type {}, expected an array", value_type_name(v->type())));
}

int64_t GgufFile::require_int(std::string_view key) const {
  if (auto v = get_int(key)) return *v;
  throw FormatError(fmt::format("{}: missing required key '{}'", display_name_, key));
}

double GgufFile::require_float(std::string_view key) const {
  if (auto v = get_float(key)) return *v;
  throw FormatError(fmt::format("{}: missing required key '{}'", display_name_, key));
}

std::string_view GgufFile::require_string(std::string_view key) const {
  if (auto v = get_string(key)) return *v;
  throw FormatError(fmt::format("{}: missing required key '{}'", display_name_, key));
}

const Array& GgufFile::require_array(std::string_view key) const {
  if (const Array* v = get_array(key)) return *v;
  throw FormatError(fmt::format("{}: missing required key '{}'", display_name_, key));
}

std::string GgufFile::architecture() const {
  const Value* v = find("general.architecture");
  if (v == nullptr) return {};
  if (const auto* s = v->as_string()) return *s;
  fail_key("general.architecture",
           fmt::format("has type {}, expected a string", value_type_name(v->type())));
}

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
  const auto it = std::lower_bound(
      tensors_by_name_.begin(), tensors_by_name_.end(), name,
      [this](size_t i, std::string_view n) { return std::string_view(tensors_[i].name) < n; });
  if (it == tensors_by_name_.end() || tensors_[*it].name != name) return nullptr;
  return &tensors_[*it];
}

const TensorInfo& GgufFile::require_tensor(std::string_view name) const {
  if (const TensorInfo* t = find_tensor(name)) return *t;
  throw FormatError(fmt::format("{}: missing required tensor '{}'", display_name_, name));
}

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t TensorInfo::n_rows() const {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

}  // namespace capibara::gguf
