// The GGUF reader against truncated, corrupted and deliberately hostile files.
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "gguf/gguf_file.hpp"
#include "gguf/gguf_writer.hpp"

namespace capibara::gguf {
namespace {

constexpr std::string_view kName = "hostile.gguf";

// Builds GGUF bytes field by field, so that tests can write what no valid writer would.
class Bytes {
 public:
  Bytes& u8(uint8_t v) { return le(v, 1); }
  Bytes& u32(uint32_t v) { return le(v, 4); }
  Bytes& u64(uint64_t v) { return le(v, 8); }
  Bytes& str(std::string_view s) {
    u64(s.size());
    bytes_.insert(bytes_.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& header(uint32_t version, uint64_t tensor_count, uint64_t kv_count) {
    bytes_.insert(bytes_.end(), {'G', 'G', 'U', 'F'});
    return u32(version).u64(tensor_count).u64(kv_count);
  }
  Bytes& kv_u32(std::string_view key, uint32_t v) { return str(key).u32(4).u32(v); }
  Bytes& kv_string(std::string_view key, std::string_view v) { return str(key).u32(8).str(v); }
  Bytes& tensor(std::string_view name, const std::vector<uint64_t>& dims, uint32_t type,
                uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) u64(d);
    return u32(type).u64(offset);
  }
  Bytes& pad(size_t alignment) {
    while (bytes_.size() % alignment != 0) bytes_.push_back(0);
    return *this;
  }
  Bytes& zeros(size_t n) {
    bytes_.resize(bytes_.size() + n, 0);
    return *this;
  }
  const std::vector<uint8_t>& get() const { return bytes_; }

 private:
  Bytes& le(uint64_t v, size_t n) {
    for (size_t i = 0; i < n; ++i) bytes_.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  std::vector<uint8_t> bytes_;
};

GgufFile parse(const std::vector<uint8_t>& bytes) {
  return GgufFile::from_bytes(bytes, std::string(kName));
}

// Expects `Err` whose message starts with the display name and contains every fragment.
template <typename Err = FormatError>
void expect_error(const std::vector<uint8_t>& bytes, std::vector<std::string_view> fragments) {
  try {
    parse(bytes);
    ADD_FAILURE() << "no error; expected one mentioning '" << fragments.front() << "'";
  } catch (const Err& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind(std::string(kName) + ": ", 0), 0u) << what;
    for (auto f : fragments)
      EXPECT_NE(what.find(f), std::string::npos) << what << "\n  lacks: " << f;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

// A small valid file with every value type, nested arrays and two tensors; its last tensor
// fills its padded slot exactly, so that every strict prefix of the file is invalid.
std::vector<uint8_t> small_valid_file() {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set(("u8"), Value(ValueType::kUint8, uint64_t{200}));
  w.set("i8", Value(ValueType::kInt8, int64_t{-100}));
  w.set("u16", Value(ValueType::kUint16, uint64_t{60000}));
  w.set("i16", Value(ValueType::kInt16, int64_t{-30000}));
  w.set_u32("u32", 4000000000u);
  w.set_i32("i32", -2000000000);
  w.set_f32("f32", 1.5f);
  w.set_bool("bool", true);
  w.set_u64("u64", 1ull << 60);
  w.set("i64", Value(ValueType::kInt64, int64_t{-(1ll << 60)}));
  w.set("f64", Value(ValueType::kFloat64, 2.25));
  w.set_strings("strings", {"a", "", "ccc"});
  Array inner{ValueType::kInt32, {Value(ValueType::kInt32, int64_t{7})}};
  Array outer{ValueType::kArray,
              {Value(ValueType::kArray, inner), Value(ValueType::kArray, inner)}};
  w.set("nested", Value(ValueType::kArray, outer));
  std::vector<uint8_t> a(12 * 4, 1), b(8 * 4, 2);
  w.add_tensor("a", GgmlType::kF32, {12}, a);
  w.add_tensor("b", GgmlType::kF32, {4, 2}, b);  // 32 bytes: ends exactly at the end
  return w.to_bytes();
}

TEST(GgufHostileTest, SmallValidFileParses) {
  const auto bytes = small_valid_file();
  const GgufFile f = parse(bytes);
  EXPECT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.file_size(), f.data_offset() + 64 + 32);
}

TEST(GgufHostileTest, EveryTruncationThrowsFormatError) {
  const auto bytes = small_valid_file();
  for (size_t n = 0; n < bytes.size(); ++n) {
    const std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(n));
    try {
      parse(prefix);
      ADD_FAILURE() << "prefix of " << n << " bytes parsed without error";
    } catch (const FormatError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("hostile.gguf: ", 0), 0u) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "prefix of " << n << " bytes: wrong exception: " << e.what();
    }
  }
}

// Random corruption must end in success or a capibara error, never a crash (the sanitizer
// builds turn any out-of-bounds read into a failure here).
TEST(GgufHostileTest, RandomCorruptionNeverCrashes) {
  const auto bytes = small_valid_file();
  std::mt19937 rng(1234);
  int errors = 0;
  for (int round = 0; round < 3000; ++round) {
    auto copy = bytes;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) {
      const size_t at = rng() % copy.size();
      const uint32_t kind = rng() % 3;
      copy[at] = kind == 0 ? static_cast<uint8_t>(rng()) : kind == 1 ? uint8_t{0xff} : uint8_t{0};
    }
    try {
      parse(copy);
    } catch (const Error&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 0);
}

TEST(GgufHostileTest, TooShortOrEmpty) {
  expect_error({}, {"not a GGUF file", "0 bytes"});
  expect_error({'G', 'G', 'U'}, {"not a GGUF file", "3 bytes"});
}

TEST(GgufHostileTest, BadMagic) {
  auto bytes = small_valid_file();
  bytes[3] = 'L';
  expect_error(bytes, {"not a GGUF file", "47 47 55 4c"});
}

TEST(GgufHostileTest, UnsupportedVersions) {
  expect_error<UnsupportedError>(Bytes().header(1, 0, 0).get(), {"unsupported GGUF version 1"});
  expect_error<UnsupportedError>(Bytes().header(4, 0, 0).get(), {"unsupported GGUF version 4"});
  expect_error<UnsupportedError>(Bytes().header(0x03000000, 0, 0).get(), {"big-endian"});
  EXPECT_EQ(parse(Bytes().header(2, 0, 0).get()).version(), 2u);
  EXPECT_EQ(parse(Bytes().header(3, 0, 0).get()).version(), 3u);
}

TEST(GgufHostileTest, HugeCounts) {
  expect_error(Bytes().header(3, 1ull << 60, 0).get(), {"tensor count 1152921504606846976"});
  expect_error(Bytes().header(3, 0, 1ull << 60).get(),
               {"metadata entry count 1152921504606846976"});
  expect_error(Bytes().header(3, ~0ull, ~0ull).get(), {"cannot fit"});
  // Plausible by the header alone, impossible once the metadata has used the bytes up.
  Bytes b;
  b.header(3, 1, 1).kv_string("general.name", std::string(30, 'x'));
  expect_error(b.get(), {"tensor count 1 cannot fit"});
}

TEST(GgufHostileTest, HugeStringLength) {
  expect_error(Bytes().header(3, 0, 1).u64(1ull << 62).zeros(16).get(),
               {"key of metadata entry 0", "claims 4611686018427387904 bytes"});
  expect_error(Bytes().header(3, 0, 1).str("k").u32(8).u64(~0ull).zeros(8).get(),
               {"string value of metadata entry 0 ('k')", "at byte offset 37"});
}

TEST(GgufHostileTest, HugeArrayCount) {
  expect_error(Bytes().header(3, 0, 1).str("k").u32(9).u32(0).u64(1ull << 60).zeros(16).get(),
               {"array of 1152921504606846976 uint8 values", "cannot fit"});
  // Fits as bytes, not as 4-byte items.
  expect_error(Bytes().header(3, 0, 1).str("k").u32(9).u32(4).u64(8).zeros(16).get(),
               {"array of 8 uint32 values", "needs at least 4 bytes per item"});
  expect_error(Bytes().header(3, 0, 1).str("k").u32(9).u32(9).u64(1ull << 40).zeros(64).get(),
               {"array of 1099511627776 array values"});
  expect_error(Bytes().header(3, 0, 1).str("k").u32(9).u32(8).u64(~0ull).zeros(64).get(),
               {"string values", "cannot fit"});
}

TEST(GgufHostileTest, TotalArrayItemsAreCapped) {
  // The bytes are there, but the items would cost ~48x as much memory: refused before reading.
  Bytes over;
  over.header(3, 0, 2).str("a").u32(9).u32(0).u64(3).zeros(3);
  over.str("b").u32(9).u32(0).u64(kMaxMetadataArrayItems - 2).zeros(kMaxMetadataArrayItems);
  expect_error<UnsupportedError>(over.get(), {"array items in total"});
}

TEST(GgufHostileTest, UnknownValueTypes) {
  expect_error(Bytes().header(3, 0, 1).str("weird.key").u32(13).u32(0).get(),
               {"unknown value type of key 'weird.key' 13"});
  expect_error(Bytes().header(3, 0, 1).str("k").u32(9).u32(77).u64(0).get(),
               {"unknown array element type 77"});
}

TEST(GgufHostileTest, InvalidBool) {
  expect_error(Bytes().header(3, 0, 1).str("flag").u32(7).u8(2).get(), {"invalid bool value 2"});
}

Bytes nested_arrays(int depth) {
  Bytes b;
  b.header(3, 0, 1).str("deep").u32(9);
  for (int i = 1; i < depth; ++i) b.u32(9).u64(1);  // an array holding one array ...
  b.u32(0).u64(1).u8(42);                           // ... holding one uint8
  return b;
}

TEST(GgufHostileTest, ArrayNestingIsLimited) {
  const GgufFile ok = parse(nested_arrays(kMaxArrayNesting).get());
  const Array* a = ok.get_array("deep");
  for (int i = 1; i < kMaxArrayNesting; ++i) a = a->items.at(0).as_array();
  EXPECT_EQ(a->items.at(0).as_int(), 42);
  expect_error(nested_arrays(kMaxArrayNesting + 1).get(), {"arrays nested more than 8 deep"});
  expect_error(nested_arrays(100000).get(), {"arrays nested more than 8 deep"});
}

TEST(GgufHostileTest, DuplicateKeysAndTensorNames) {
  expect_error(Bytes().header(3, 0, 2).kv_u32("a.b", 1).kv_u32("a.b", 2).get(),
               {"duplicate metadata key 'a.b'", "byte offsets 24 and 43"});
  Bytes b;
  b.header(3, 2, 0).tensor("t", {8}, 0, 0).tensor("t", {8}, 0, 32).pad(32).zeros(64);
  expect_error(b.get(), {"duplicate tensor name 't'"});
}

TEST(GgufHostileTest, Alignment) {
  for (uint32_t bad : {0u, 3u, 48u}) {
    expect_error(Bytes().header(3, 0, 1).kv_u32("general.alignment", bad).get(),
                 {"'general.alignment' is " + std::to_string(bad), "power of two"});
  }
  expect_error(Bytes().header(3, 0, 1).kv_string("general.alignment", "64").get(),
               {"'general.alignment' has type string, expected uint32"});
  Bytes b;
  b.header(3, 1, 1).kv_u32("general.alignment", 64).tensor("t", {16}, 0, 0).pad(64).zeros(64);
  const GgufFile f = parse(b.get());
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
}

TEST(GgufHostileTest, UnknownTensorTypes) {
  Bytes b;
  b.header(3, 1, 0).tensor("blk.0.ffn_up.weight", {32}, 1000, 0).pad(32).zeros(128);
  expect_error(b.get(), {"tensor 'blk.0.ffn_up.weight' has unknown type id 1000"});
  Bytes iq;
  iq.header(3, 1, 0).tensor("blk.0.ffn_up.weight", {256}, 16, 0).pad(32).zeros(128);
  expect_error<UnsupportedError>(iq.get(), {"tensor 'blk.0.ffn_up.weight'", "iq2_xxs (id 16)"});
}

TEST(GgufHostileTest, TensorShapes) {
  Bytes dims;
  dims.header(3, 1, 0).tensor("t", {1, 1, 1, 1, 1}, 0, 0).pad(32).zeros(32);
  expect_error(dims.get(), {"tensor 't' has 5 dimensions"});
  Bytes overflow;
  overflow.header(3, 1, 0).tensor("t", {1ull << 32, 1ull << 32}, 0, 0).pad(32);
  expect_error(overflow.get(), {"tensor 't' shape has more than 2^63 elements"});
  Bytes rows;  // zero elements, but the row count alone overflows
  rows.header(3, 1, 0).tensor("t", {0, 1ull << 32, 1ull << 32}, 0, 0).pad(32);
  expect_error(rows.get(), {"tensor 't' shape has more than 2^63 rows"});
  Bytes negative;
  negative.header(3, 1, 0).tensor("t", {~0ull}, 0, 0).pad(32);
  expect_error(negative.get(), {"does not fit in int64"});
  Bytes bytes_overflow;  // 2^62 f32 elements: fits int64, not as bytes
  bytes_overflow.header(3, 1, 0).tensor("t", {1ull << 62}, 0, 0).pad(32);
  expect_error(bytes_overflow.get(), {"size in bytes overflows"});
  Bytes block;
  block.header(3, 1, 0).tensor("q", {16, 2}, 2, 0).pad(32).zeros(64);
  expect_error(block.get(), {"tensor 'q' has rows of 16 elements", "q4_0 block size 32"});
  Bytes empty;  // zero-sized dimensions are legal and take no bytes
  empty.header(3, 2, 0).tensor("e", {0, 4}, 0, 0).tensor("s", {}, 0, 0).pad(32).zeros(32);
  const GgufFile f = parse(empty.get());
  EXPECT_EQ(f.require_tensor("e").n_bytes, 0u);
  EXPECT_EQ(f.require_tensor("s").n_elements(), 1);
  EXPECT_EQ(f.require_tensor("s").n_bytes, 4u);
}

TEST(GgufHostileTest, MisalignedTensorOffset) {
  Bytes b;
  b.header(3, 1, 0).tensor("t", {4}, 0, 4).pad(32).zeros(64);
  expect_error(b.get(), {"tensor 't' data offset 4", "not a multiple of the alignment 32"});
}

TEST(GgufHostileTest, TensorPastEndOfFile) {
  Bytes b;
  b.header(3, 1, 0).tensor("blk.3.attn_q.weight", {16}, 0, 32).pad(32).zeros(80);
  const size_t data_offset = b.get().size() - 80;
  expect_error(b.get(), {"tensor 'blk.3.attn_q.weight' extends past end of file (needs 64 bytes "
                         "at offset " +
                         std::to_string(data_offset + 32) + ", file has " +
                         std::to_string(b.get().size()) + ")"});
  Bytes far;
  far.header(3, 1, 0).tensor("t", {16}, 0, ~0ull - 31).pad(32);
  expect_error(far.get(), {"tensor 't' extends past end of file"});
}

TEST(GgufHostileTest, OverlappingTensors) {
  Bytes b;
  b.header(3, 3, 0)
      .tensor("a", {16}, 0, 0)
      .tensor("b", {16}, 0, 32)
      .tensor("empty", {0}, 0, 32)
      .pad(32)
      .zeros(96);
  expect_error(b.get(), {"tensors 'a' (data bytes 0..64) and 'b' (data bytes 32..96) overlap"});
  Bytes same;  // identical offsets overlap too, in any order of the infos
  same.header(3, 2, 0).tensor("x", {8}, 0, 32).tensor("y", {8}, 0, 32).pad(32).zeros(64);
  expect_error(same.get(), {"tensors 'x'", "and 'y'", "overlap"});
}

}  // namespace
}  // namespace capibara::gguf
