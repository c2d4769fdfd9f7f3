// GgufWriter output read back by GgufFile: every value type, nested arrays, tensors, alignment.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "gguf/gguf_file.hpp"
#include "gguf/gguf_writer.hpp"

namespace capibara::gguf {
namespace {

Value u(ValueType t, uint64_t v) { return {t, v}; }
Value i(ValueType t, int64_t v) { return {t, v}; }
Value arr(ValueType element, std::vector<Value> items) {
  return {ValueType::kArray, Array{element, std::move(items)}};
}

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t k = 0; k < n; ++k) v[k] = static_cast<uint8_t>(seed + k * 7);
  return v;
}

// Every value type at its edges, plus arrays of each, arrays of strings and nested arrays.
std::vector<MetadataEntry> all_values() {
  using VT = ValueType;
  std::vector<MetadataEntry> m = {
      {"u8", u(VT::kUint8, 255)},
      {"i8", i(VT::kInt8, -128)},
      {"u16", u(VT::kUint16, 65535)},
      {"i16", i(VT::kInt16, -32768)},
      {"u32", u(VT::kUint32, std::numeric_limits<uint32_t>::max())},
      {"i32", i(VT::kInt32, std::numeric_limits<int32_t>::min())},
      {"f32", {VT::kFloat32, static_cast<double>(-1.25e-5f)}},
      {"bool.true", {VT::kBool, true}},
      {"bool.false", {VT::kBool, false}},
      {"string", {VT::kString, std::string("héllo 🦫")}},
      {"string.empty", {VT::kString, std::string()}},
      {"string.nul", {VT::kString, std::string("a\0b", 3)}},
      {"u64", u(VT::kUint64, std::numeric_limits<uint64_t>::max())},
      {"i64", i(VT::kInt64, std::numeric_limits<int64_t>::min())},
      {"f64", {VT::kFloat64, 3.141592653589793}},
      {"arr.u8", arr(VT::kUint8, {u(VT::kUint8, 0), u(VT::kUint8, 255)})},
      {"arr.i8", arr(VT::kInt8, {i(VT::kInt8, -1), i(VT::kInt8, 127)})},
      {"arr.u16", arr(VT::kUint16, {u(VT::kUint16, 1)})},
      {"arr.i16", arr(VT::kInt16, {i(VT::kInt16, -2)})},
      {"arr.u32", arr(VT::kUint32, {u(VT::kUint32, 3)})},
      {"arr.i32", arr(VT::kInt32, {i(VT::kInt32, -4), i(VT::kInt32, 5)})},
      {"arr.f32", arr(VT::kFloat32, {{VT::kFloat32, 0.5}, {VT::kFloat32, -2.0}})},
      {"arr.bool", arr(VT::kBool, {{VT::kBool, true}, {VT::kBool, false}})},
      {"arr.u64", arr(VT::kUint64, {u(VT::kUint64, 1ull << 63)})},
      {"arr.i64", arr(VT::kInt64, {i(VT::kInt64, -7)})},
      {"arr.f64", arr(VT::kFloat64, {{VT::kFloat64, 1e300}})},
      {"arr.empty", arr(VT::kString, {})},
      {"arr.strings",
       arr(VT::kString, {{VT::kString, std::string("x")}, {VT::kString, std::string()}})},
      {"arr.nested", arr(VT::kArray, {arr(VT::kInt32, {i(VT::kInt32, 1), i(VT::kInt32, 2)}),
                                      arr(VT::kInt32, {}), arr(VT::kInt32, {i(VT::kInt32, 3)})})},
      {"arr.nested.strings",
       arr(VT::kArray,
           {arr(VT::kArray, {arr(VT::kString, {{VT::kString, std::string("deep")}})})})},
  };
  return m;
}

TEST(GgufWriterTest, RoundTripsEveryValueTypeAndTensor) {
  GgufWriter w;
  const auto values = all_values();
  for (const auto& e : values) w.set(e.key, e.value);
  const auto f32 = pattern(4 * 3 * 5, 1);
  const auto f16 = pattern(2 * 7, 2);
  const auto q4_0 = pattern(18 * 2 * 3, 3);  // [64, 3]: 2 blocks of 18 bytes per row
  const auto q6_k = pattern(210, 4);         // [256]: one super-block
  w.add_tensor("t.f32", GgmlType::kF32, {3, 5}, f32);
  w.add_tensor("t.f16", GgmlType::kF16, {7}, f16);
  w.add_tensor("t.q4_0", GgmlType::kQ4_0, {64, 3}, q4_0);
  w.add_tensor("t.q6_k", GgmlType::kQ6_K, {256, 1, 1, 1}, q6_k);

  const auto bytes = w.to_bytes();
  const GgufFile f = GgufFile::from_bytes(bytes, "roundtrip.gguf");
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.data_offset() % 32, 0u);
  EXPECT_EQ(f.file_size(), bytes.size());
  ASSERT_EQ(f.metadata().size(), values.size());
  for (size_t k = 0; k < values.size(); ++k) {
    EXPECT_EQ(f.metadata()[k].key, values[k].key);
    EXPECT_TRUE(f.metadata()[k].value == values[k].value) << values[k].key;
    EXPECT_TRUE(*f.find(values[k].key) == values[k].value) << values[k].key;
  }

  ASSERT_EQ(f.tensors().size(), 4u);
  const struct {
    const char* name;
    GgmlType type;
    std::vector<int64_t> shape;
    const std::vector<uint8_t>* data;
  } expected[] = {{"t.f32", GgmlType::kF32, {3, 5}, &f32},
                  {"t.f16", GgmlType::kF16, {7}, &f16},
                  {"t.q4_0", GgmlType::kQ4_0, {64, 3}, &q4_0},
                  {"t.q6_k", GgmlType::kQ6_K, {256, 1, 1, 1}, &q6_k}};
  for (size_t k = 0; k < 4; ++k) {
    const TensorInfo& t = f.tensors()[k];
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.name, expected[k].name);
    EXPECT_EQ(t.type, expected[k].type);
    EXPECT_EQ(t.shape, expected[k].shape);
    EXPECT_EQ(t.offset % 32, 0u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 32, 0u);
    ASSERT_EQ(t.n_bytes, expected[k].data->size());
    EXPECT_EQ(std::vector<uint8_t>(t.data, t.data + t.n_bytes), *expected[k].data);
    EXPECT_EQ(&f.require_tensor(expected[k].name), &t);
  }
  EXPECT_EQ(f.tensors()[2].n_rows(), 3);
  EXPECT_EQ(f.tensors()[2].row_bytes(), 36u);
  EXPECT_EQ(f.tensors()[0].n_elements(), 15);
}

TEST(GgufWriterTest, TypedSettersAndReplaceInPlace) {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 5);
  w.set_i32("i32", -3);
  w.set_u64("u64", 1ull << 40);
  w.set_f32("eps", 1e-5f);
  w.set_bool("flag", true);
  w.set_strings("tokens", {"<unk>", "<s>", "</s>"});
  w.set_f32s("scores", {0.0f, -1.5f});
  w.set_i32s("types", {2, 3, 3});
  w.set_u32("llama.block_count", 6);  // replaces, keeps the position
  const GgufFile f = GgufFile::from_bytes(w.to_bytes());
  EXPECT_EQ(f.metadata().size(), 9u);
  EXPECT_EQ(f.metadata()[1].key, "llama.block_count");
  EXPECT_EQ(f.require_int("llama.block_count"), 6);
  EXPECT_EQ(f.require_int("i32"), -3);
  EXPECT_EQ(f.require_int("u64"), 1ll << 40);
  EXPECT_EQ(f.require_float("eps"), static_cast<double>(1e-5f));
  EXPECT_EQ(f.get_bool("flag"), true);
  EXPECT_EQ(f.architecture(), "llama");
  const Array& tokens = f.require_array("tokens");
  ASSERT_EQ(tokens.items.size(), 3u);
  EXPECT_EQ(*tokens.items[2].as_string(), "</s>");
  EXPECT_EQ(f.require_array("scores").items[1].as_float(), -1.5);
  EXPECT_EQ(f.require_array("types").element_type, ValueType::kInt32);
}

TEST(GgufWriterTest, AlignmentOtherThanDefault) {
  GgufWriter w(64);
  const auto a = pattern(4, 9);
  const auto b = pattern(8, 10);
  w.add_tensor("a", GgmlType::kF32, {1}, a);
  w.add_tensor("b", GgmlType::kF16, {4}, b);
  const auto bytes = w.to_bytes();
  EXPECT_EQ(bytes.size() % 64, 0u);  // the last tensor is padded too
  const GgufFile f = GgufFile::from_bytes(bytes);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.require_int("general.alignment"), 64);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  EXPECT_EQ(f.require_tensor("b").offset, 64u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f.require_tensor("b").data) % 64, 0u);

  GgufWriter later;
  later.set_u32("general.alignment", 16);  // a valid key also changes the layout
  later.add_tensor("a", GgmlType::kF32, {1}, a);
  later.add_tensor("b", GgmlType::kF32, {1}, a);
  EXPECT_EQ(GgufFile::from_bytes(later.to_bytes()).require_tensor("b").offset, 16u);
}

TEST(GgufWriterTest, VersionTwoReadsTheSame) {
  GgufWriter w;
  w.set_u32("x", 7);
  auto bytes = w.to_bytes();
  bytes[4] = 2;
  const GgufFile f = GgufFile::from_bytes(bytes);
  EXPECT_EQ(f.version(), 2u);
  EXPECT_EQ(f.require_int("x"), 7);
}

TEST(GgufWriterTest, WritesAndOpensAFile) {
  const auto path = std::filesystem::path(::testing::TempDir()) / "gguf_writer_test.gguf";
  GgufWriter w;
  w.set_string("general.name", "file");
  const auto data = pattern(64, 5);
  w.add_tensor("t", GgmlType::kF32, {16}, data);
  w.write(path);
  {
    const GgufFile f = GgufFile::open(path);
    EXPECT_EQ(f.display_name(), path.string());
    EXPECT_EQ(f.require_string("general.name"), "file");
    ASSERT_NE(f.mapped_file(), nullptr);
    const GgufFile copy = f;  // shares the mapping
    EXPECT_EQ(copy.require_tensor("t").data, f.require_tensor("t").data);
    EXPECT_EQ(
        std::vector<uint8_t>(copy.require_tensor("t").data, copy.require_tensor("t").data + 64),
        data);
  }
  std::filesystem::remove(path);
  EXPECT_THROW(w.write(std::filesystem::path(::testing::TempDir()) / "no/such/dir/x.gguf"),
               SystemError);
}

// Streaming (`add_tensor_info` + `header_bytes`, data written by the caller) lays the file out
// byte for byte as `to_bytes` does, at any alignment.
TEST(GgufWriterTest, StreamedFileEqualsTheInMemoryOne) {
  for (size_t alignment : {size_t{32}, size_t{64}}) {
    GgufWriter whole(alignment);
    GgufWriter streamed(alignment);
    for (GgufWriter* w : {&whole, &streamed}) w->set_string("general.name", "streamed");
    const std::vector<std::pair<std::string, std::vector<uint8_t>>> tensors = {
        {"a", pattern(4 * 5, 1)}, {"b", pattern(4 * 16, 2)}, {"c", pattern(4 * 3, 3)}};
    for (const auto& [name, data] : tensors) {
      const int64_t n = static_cast<int64_t>(data.size() / 4);
      whole.add_tensor(name, GgmlType::kF32, {n}, data);
      EXPECT_EQ(streamed.add_tensor_info(name, GgmlType::kF32, {n}), data.size());
    }
    std::vector<uint8_t> bytes = streamed.header_bytes();
    EXPECT_EQ(bytes.size() % alignment, 0u);
    EXPECT_EQ(streamed.alignment(), alignment);
    for (const auto& [name, data] : tensors) {
      bytes.insert(bytes.end(), data.begin(), data.end());
      bytes.resize(bytes.size() + streamed.padding_after(data.size()), 0);
    }
    EXPECT_EQ(bytes, whole.to_bytes());
    const GgufFile f = GgufFile::from_bytes(bytes);
    EXPECT_EQ(std::vector<uint8_t>(f.require_tensor("b").data, f.require_tensor("b").data + 64),
              tensors[1].second);
    // A writer holding a declared tensor has no data to write by itself.
    EXPECT_THROW(streamed.to_bytes(), InvalidArgumentError);
    EXPECT_THROW(streamed.add_tensor_info("a", GgmlType::kF32, {4}), InvalidArgumentError);
    EXPECT_THROW(streamed.add_tensor_info("d", GgmlType::kQ4_0, {16}), InvalidArgumentError);
  }
}

TEST(GgufWriterTest, RejectsInvalidInput) {
  EXPECT_THROW(GgufWriter(0), InvalidArgumentError);
  EXPECT_THROW(GgufWriter(24), InvalidArgumentError);
  GgufWriter w;
  EXPECT_THROW(w.set("k", Value(ValueType::kUint8, uint64_t{256})), InvalidArgumentError);
  EXPECT_THROW(w.set("k", Value(ValueType::kInt16, int64_t{40000})), InvalidArgumentError);
  EXPECT_THROW(w.set("k", Value(ValueType::kUint32, int64_t{1})), InvalidArgumentError);
  EXPECT_THROW(w.set("k", Value(ValueType::kFloat32, 1e300)), InvalidArgumentError);
  EXPECT_THROW(w.set("k", arr(ValueType::kInt32, {u(ValueType::kUint32, 1)})),
               InvalidArgumentError);
  EXPECT_THROW(w.set("k", Value(static_cast<ValueType>(42), uint64_t{0})), InvalidArgumentError);
  const auto data = pattern(16, 0);
  EXPECT_THROW(w.add_tensor("t", GgmlType::kF32, {5}, data), InvalidArgumentError);
  EXPECT_THROW(w.add_tensor("t", GgmlType::kQ4_0, {4}, data), InvalidArgumentError);
  EXPECT_THROW(w.add_tensor("t", GgmlType::kF32, {1, 1, 1, 1, 4}, data), InvalidArgumentError);
  EXPECT_THROW(w.add_tensor("t", GgmlType::kF32, {-4}, data), InvalidArgumentError);
  w.add_tensor("t", GgmlType::kF32, {4}, data);
  EXPECT_THROW(w.add_tensor("t", GgmlType::kF32, {4}, data), InvalidArgumentError);
}

}  // namespace
}  // namespace capibara::gguf
