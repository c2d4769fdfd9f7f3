// The GGUF reader on the real model and vocabulary files in ../shared.
#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "gguf/gguf_file.hpp"
#include "support/shared_data.hpp"

namespace capibara::gguf {
namespace {

std::vector<std::filesystem::path> gguf_files_in(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".gguf") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(GgufRealFilesTest, EveryModelOpens) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const auto files = gguf_files_in(shared / "models");
  ASSERT_GE(files.size(), 12u);
  for (const auto& path : files) {
    SCOPED_TRACE(path.string());
    const GgufFile f = GgufFile::open(path);
    EXPECT_EQ(f.version(), 3u);
    EXPECT_FALSE(f.architecture().empty());
    EXPECT_EQ(f.require_array("tokenizer.ggml.tokens").element_type, ValueType::kString);
    ASSERT_FALSE(f.tensors().empty());
    EXPECT_NE(f.find_tensor("token_embd.weight"), nullptr);
    size_t end = 0;
    for (const auto& t : f.tensors()) {
      EXPECT_EQ(t.data, f.bytes().data() + f.data_offset() + t.offset);
      end = std::max<size_t>(end, f.data_offset() + t.offset + t.n_bytes);
    }
    EXPECT_LE(end, f.file_size());
  }
}

TEST(GgufRealFilesTest, EveryVocabularyOpens) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const auto files = gguf_files_in(shared / "vocab");
  ASSERT_FALSE(files.empty());
  for (const auto& path : files) {
    SCOPED_TRACE(path.string());
    const GgufFile f = GgufFile::open(path);
    EXPECT_GT(f.require_array("tokenizer.ggml.tokens").items.size(), 100u);
    EXPECT_FALSE(f.require_string("tokenizer.ggml.model").empty());
  }
}

TEST(GgufRealFilesTest, Stories260K) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const GgufFile f = GgufFile::open(shared / "models" / "stories260K.gguf");
  EXPECT_EQ(f.architecture(), "llama");
  EXPECT_EQ(f.require_int("llama.block_count"), 5);
  EXPECT_EQ(f.require_int("llama.embedding_length"), 64);
  EXPECT_EQ(f.require_int("llama.feed_forward_length"), 172);
  EXPECT_EQ(f.require_int("llama.attention.head_count"), 8);
  EXPECT_EQ(f.require_int("llama.attention.head_count_kv"), 4);
  EXPECT_FLOAT_EQ(static_cast<float>(f.require_float("llama.attention.layer_norm_rms_epsilon")),
                  1e-5f);
  EXPECT_EQ(f.require_int("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_EQ(f.require_int("tokenizer.ggml.eos_token_id"), 2);
  const Array& tokens = f.require_array("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.items.size(), 512u);
  EXPECT_TRUE(std::all_of(tokens.items.begin(), tokens.items.end(),
                          [](const Value& v) { return v.as_string() != nullptr; }));
  EXPECT_EQ(*tokens.items[1].as_string(), "<s>");
  EXPECT_EQ(f.require_array("tokenizer.ggml.scores").items.size(), 512u);
  EXPECT_EQ(f.alignment(), 32u);

  EXPECT_EQ(f.tensors().size(), 48u);
  const TensorInfo& embd = f.require_tensor("token_embd.weight");
  EXPECT_EQ(embd.type, GgmlType::kF32);
  EXPECT_EQ(embd.shape, (std::vector<int64_t>{64, 512}));
  EXPECT_EQ(embd.n_bytes, 64u * 512u * 4u);
  EXPECT_EQ(embd.offset, 0u);
  EXPECT_EQ(f.require_tensor("blk.4.ffn_up.weight").shape, (std::vector<int64_t>{64, 172}));
}

TEST(GgufRealFilesTest, QuantizedTypes) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const GgufFile q4 = GgufFile::open(shared / "models" / "synth-llama-q4_0.gguf");
  EXPECT_EQ(q4.require_int("llama.block_count"), 3);
  EXPECT_EQ(q4.require_tensor("output.weight").type, GgmlType::kQ6_K);
  EXPECT_EQ(q4.require_tensor("output.weight").n_bytes, 512u * 210u);
  EXPECT_EQ(q4.require_tensor("blk.0.attn_q.weight").type, GgmlType::kQ4_0);
  EXPECT_EQ(q4.require_tensor("blk.0.attn_q.weight").row_bytes(), 256u / 32u * 18u);
  EXPECT_EQ(q4.require_tensor("output_norm.weight").type, GgmlType::kF32);

  const GgufFile km = GgufFile::open(shared / "models" / "synth-llama-q4_k_m.gguf");
  std::set<GgmlType> types;
  for (const auto& t : km.tensors()) types.insert(t.type);
  EXPECT_TRUE(types.count(GgmlType::kQ4_K));
  EXPECT_TRUE(types.count(GgmlType::kQ6_K));
}

// Cutting a real file anywhere inside its metadata and tensor infos gives a FormatError.
TEST(GgufRealFilesTest, TruncatedRealFileHeader) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const GgufFile whole = GgufFile::open(shared / "models" / "stories260K.gguf");
  const auto bytes = whole.bytes();
  for (size_t n = 0; n <= whole.data_offset() + 64; n += 13) {
    EXPECT_THROW(GgufFile::from_bytes(bytes.first(n), "cut.gguf"), FormatError) << n;
  }
  EXPECT_THROW(GgufFile::from_bytes(bytes.first(bytes.size() - 1), "cut.gguf"), FormatError);
}

TEST(GgufRealFilesTest, MissingFileIsASystemError) {
  try {
    GgufFile::open("/nonexistent/dir/model.gguf");
    FAIL() << "no error";
  } catch (const SystemError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/model.gguf"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("No such file"), std::string::npos);
  }
}

}  // namespace
}  // namespace capibara::gguf
