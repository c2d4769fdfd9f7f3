// Typed metadata lookups, tensor lookups and Value conversions, with their error messages.
#include <cstdint>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "gguf/gguf_file.hpp"
#include "gguf/gguf_writer.hpp"

namespace capibara::gguf {
namespace {

GgufFile sample() {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 5);
  w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.set_bool("tokenizer.ggml.add_bos_token", true);
  w.set_u64("huge", std::numeric_limits<uint64_t>::max());
  w.set_strings("tokenizer.ggml.tokens", {"a", "b"});
  const std::vector<uint8_t> data(4 * 6 * 2, 0);
  w.add_tensor("token_embd.weight", GgmlType::kF32, {6, 2}, data);
  return GgufFile::from_bytes(w.to_bytes(), "model.gguf");
}

template <typename F>
std::string format_error_of(F&& f) {
  try {
    f();
  } catch (const FormatError& e) {
    return e.what();
  }
  return "(no FormatError)";
}

TEST(GgufLookupTest, TypedGetters) {
  const GgufFile f = sample();
  EXPECT_EQ(f.get_int("llama.block_count"), 5);
  EXPECT_EQ(f.get_float("llama.block_count"), 5.0);  // integers widen to float
  EXPECT_EQ(f.get_float("llama.attention.layer_norm_rms_epsilon"), static_cast<double>(1e-5f));
  EXPECT_EQ(f.get_bool("tokenizer.ggml.add_bos_token"), true);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  ASSERT_NE(f.get_array("tokenizer.ggml.tokens"), nullptr);
  EXPECT_EQ(f.get_array("tokenizer.ggml.tokens")->items.size(), 2u);
  EXPECT_EQ(f.get_int("absent"), std::nullopt);
  EXPECT_EQ(f.get_float("absent"), std::nullopt);
  EXPECT_EQ(f.get_bool("absent"), std::nullopt);
  EXPECT_EQ(f.get_string("absent"), std::nullopt);
  EXPECT_EQ(f.get_array("absent"), nullptr);
  EXPECT_EQ(f.find("absent"), nullptr);
  EXPECT_EQ(f.architecture(), "llama");
}

TEST(GgufLookupTest, ErrorsNameTheKey) {
  const GgufFile f = sample();
  EXPECT_EQ(format_error_of([&] { f.require_int("llama.context_length"); }),
            "model.gguf: missing required key 'llama.context_length'");
  EXPECT_EQ(format_error_of([&] { f.get_int("general.architecture"); }),
            "model.gguf: key 'general.architecture' has type string, expected an integer");
  EXPECT_EQ(format_error_of([&] { f.get_int("huge"); }),
            "model.gguf: key 'huge' has value 18446744073709551615, which does not fit in int64");
  EXPECT_EQ(format_error_of([&] { f.require_string("llama.block_count"); }),
            "model.gguf: key 'llama.block_count' has type uint32, expected a string");
  EXPECT_EQ(format_error_of([&] { f.get_bool("llama.block_count"); }),
            "model.gguf: key 'llama.block_count' has type uint32, expected a bool");
  EXPECT_EQ(format_error_of([&] { f.require_float("tokenizer.ggml.tokens"); }),
            "model.gguf: key 'tokenizer.ggml.tokens' has type array, expected a number");
  EXPECT_EQ(format_error_of([&] { f.require_array("general.architecture"); }),
            "model.gguf: key 'general.architecture' has type string, expected an array");
  EXPECT_EQ(format_error_of([&] { f.require_array("x"); }), "model.gguf: missing required key 'x'");
  EXPECT_EQ(format_error_of([&] { f.require_tensor("output.weight"); }),
            "model.gguf: missing required tensor 'output.weight'");
}

TEST(GgufLookupTest, Tensors) {
  const GgufFile f = sample();
  const TensorInfo* t = f.find_tensor("token_embd.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->n_elements(), 12);
  EXPECT_EQ(t->row_length(), 6);
  EXPECT_EQ(t->n_rows(), 2);
  EXPECT_EQ(t->row_bytes(), 24u);
  EXPECT_EQ(t->data, f.bytes().data() + f.data_offset());
  EXPECT_EQ(f.find_tensor("token_embd"), nullptr);
  EXPECT_EQ(f.find_tensor(""), nullptr);
}

TEST(GgufLookupTest, ManyKeysAndTensorsLookUp) {
  GgufWriter w;
  const std::vector<uint8_t> data(4, 0);
  for (int k = 0; k < 300; ++k) {
    w.set_u32("key." + std::to_string(k), static_cast<uint32_t>(k));
    w.add_tensor("t." + std::to_string(299 - k), GgmlType::kF32, {1}, data);
  }
  const GgufFile f = GgufFile::from_bytes(w.to_bytes());
  for (int k = 0; k < 300; ++k) {
    EXPECT_EQ(f.require_int("key." + std::to_string(k)), k);
    EXPECT_EQ(f.require_tensor("t." + std::to_string(k)).name, "t." + std::to_string(k));
  }
}

TEST(GgufValueTest, Conversions) {
  EXPECT_EQ(Value(ValueType::kInt8, int64_t{-5}).as_int(), -5);
  EXPECT_EQ(Value(ValueType::kUint64, uint64_t{1} << 63).as_int(), std::nullopt);
  EXPECT_EQ(Value(ValueType::kUint64, uint64_t{1} << 63).as_float(), 9223372036854775808.0);
  EXPECT_EQ(Value(ValueType::kFloat32, 0.5).as_float(), 0.5);
  EXPECT_EQ(Value(ValueType::kFloat32, 0.5).as_int(), std::nullopt);
  EXPECT_EQ(Value(ValueType::kBool, true).as_bool(), true);
  EXPECT_EQ(Value(ValueType::kBool, true).as_int(), std::nullopt);
  EXPECT_EQ(Value(ValueType::kString, std::string("s")).as_array(), nullptr);
  EXPECT_EQ(*Value(ValueType::kString, std::string("s")).as_string(), "s");
  EXPECT_FALSE(Value(ValueType::kUint8, uint64_t{1}) == Value(ValueType::kUint16, uint64_t{1}));
}

TEST(GgufValueTest, TypeNames) {
  EXPECT_EQ(value_type_name(ValueType::kUint8), "uint8");
  EXPECT_EQ(value_type_name(ValueType::kInt32), "int32");
  EXPECT_EQ(value_type_name(ValueType::kFloat32), "float32");
  EXPECT_EQ(value_type_name(ValueType::kString), "string");
  EXPECT_EQ(value_type_name(ValueType::kArray), "array");
  EXPECT_EQ(value_type_name(ValueType::kFloat64), "float64");
  EXPECT_EQ(value_type_name(static_cast<ValueType>(13)), "unknown");
}

}  // namespace
}  // namespace capibara::gguf
