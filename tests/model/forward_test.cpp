// Properties of the forward pass that must hold whatever the weights: prefill and decode are
// the same computation, sequences in one batch do not see each other, bad input is refused.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "gguf/gguf_writer.hpp"
#include "model/model.hpp"
#include "support/shared_data.hpp"

namespace capibara {
namespace {

const std::vector<int32_t> kPromptA = {1, 403, 407, 261, 378, 300, 42, 17};
const std::vector<int32_t> kPromptB = {1, 88, 99, 120};

float max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

// Logits after each token, feeding one token per forward call.
std::vector<float> logits_one_by_one(Model& model, const std::vector<int32_t>& prompt) {
  const auto v = static_cast<size_t>(model.config().n_vocab);
  SequenceKvCache cache = model.make_kv_cache(KvType::kF32);
  SequenceKvCache* caches[] = {&cache};
  std::vector<float> all(prompt.size() * v);
  for (size_t i = 0; i < prompt.size(); ++i) {
    const BatchToken t{prompt[i], static_cast<int64_t>(i), 0, true};
    model.forward(std::span(&t, 1), caches, all.data() + i * v);
  }
  return all;
}

TEST(Forward, PrefillInOneBatchEqualsTokenByToken) {
  CAPIBARA_REQUIRE_SHARED(shared);
  auto model = Model::load(shared / "models" / "stories260K.gguf", {2, 128, 64});
  const auto v = static_cast<size_t>(model->config().n_vocab);
  const auto ref = logits_one_by_one(*model, kPromptA);

  SequenceKvCache cache = model->make_kv_cache(KvType::kF32);
  SequenceKvCache* caches[] = {&cache};
  std::vector<BatchToken> batch;
  for (size_t i = 0; i < kPromptA.size(); ++i) {
    batch.push_back({kPromptA[i], static_cast<int64_t>(i), 0, true});
  }
  std::vector<float> got(kPromptA.size() * v);
  model->forward(batch, caches, got.data());
  EXPECT_LT(max_diff(got, ref), 1e-4f);
  EXPECT_EQ(cache.n_tokens(), static_cast<int64_t>(kPromptA.size()));
}

TEST(Forward, TwoSequencesInOneBatchEqualEachAlone) {
  CAPIBARA_REQUIRE_SHARED(shared);
  auto model = Model::load(shared / "models" / "synth-llama-q8_0.gguf", {2, 128, 64});
  const auto v = static_cast<size_t>(model->config().n_vocab);
  const auto ref_a = logits_one_by_one(*model, kPromptA);
  const auto ref_b = logits_one_by_one(*model, kPromptB);

  SequenceKvCache ca = model->make_kv_cache(KvType::kF32);
  SequenceKvCache cb = model->make_kv_cache(KvType::kF32);
  SequenceKvCache* caches[] = {&ca, &cb};
  // Interleaved entries of both sequences, only the last of each wanting logits.
  std::vector<BatchToken> batch;
  for (size_t i = 0; i < std::max(kPromptA.size(), kPromptB.size()); ++i) {
    if (i < kPromptA.size()) {
      batch.push_back({kPromptA[i], static_cast<int64_t>(i), 0, i + 1 == kPromptA.size()});
    }
    if (i < kPromptB.size()) {
      batch.push_back({kPromptB[i], static_cast<int64_t>(i), 1, i + 1 == kPromptB.size()});
    }
  }
  std::vector<float> got(2 * v);
  model->forward(batch, caches, got.data());
  // Sequence B finishes first in batch order, so its row comes first.
  const std::vector<float> got_b(got.begin(), got.begin() + static_cast<long>(v));
  const std::vector<float> got_a(got.begin() + static_cast<long>(v), got.end());
  EXPECT_LT(max_diff(got_a, {ref_a.end() - static_cast<long>(v), ref_a.end()}), 1e-4f);
  EXPECT_LT(max_diff(got_b, {ref_b.end() - static_cast<long>(v), ref_b.end()}), 1e-4f);
}

// The same properties for every architecture, with prompts longer than Gemma 3's window of
// 16 so that chunks cross it.
class ForwardArchTest : public ::testing::TestWithParam<std::string> {};

std::vector<int32_t> long_prompt(size_t n) {
  std::vector<int32_t> p = {1};
  for (size_t i = 1; i < n; ++i) p.push_back(static_cast<int32_t>(3 + (i * 53) % 500));
  return p;
}

TEST_P(ForwardArchTest, ChunkedPrefillEqualsTokenByToken) {
  CAPIBARA_REQUIRE_SHARED(shared);
  auto model = Model::load(shared / "models" / (GetParam() + ".gguf"), {2, 64, 64});
  const auto v = static_cast<size_t>(model->config().n_vocab);
  const auto prompt = long_prompt(40);
  const auto ref = logits_one_by_one(*model, prompt);

  SequenceKvCache cache = model->make_kv_cache(KvType::kF32);
  SequenceKvCache* caches[] = {&cache};
  std::vector<float> got(prompt.size() * v);
  constexpr size_t kChunk = 5;
  for (size_t start = 0; start < prompt.size(); start += kChunk) {
    std::vector<BatchToken> batch;
    for (size_t i = start; i < std::min(prompt.size(), start + kChunk); ++i) {
      batch.push_back({prompt[i], static_cast<int64_t>(i), 0, true});
    }
    model->forward(batch, caches, got.data() + start * v);
  }
  for (size_t i = 0; i < prompt.size(); ++i) {
    const std::vector<float> a(got.begin() + static_cast<long>(i * v),
                               got.begin() + static_cast<long>((i + 1) * v));
    const std::vector<float> b(ref.begin() + static_cast<long>(i * v),
                               ref.begin() + static_cast<long>((i + 1) * v));
    EXPECT_LT(max_diff(a, b), 1e-4f) << "position " << i;
  }
}

TEST_P(ForwardArchTest, TwoSequencesInOneBatchEqualEachAlone) {
  CAPIBARA_REQUIRE_SHARED(shared);
  auto model = Model::load(shared / "models" / (GetParam() + ".gguf"), {2, 64, 64});
  const auto v = static_cast<size_t>(model->config().n_vocab);
  const auto prompt_a = long_prompt(24);
  const auto ref_a = logits_one_by_one(*model, prompt_a);
  const auto ref_b = logits_one_by_one(*model, kPromptB);
  SequenceKvCache ca = model->make_kv_cache(KvType::kF32);
  SequenceKvCache cb = model->make_kv_cache(KvType::kF32);
  SequenceKvCache* caches[] = {&ca, &cb};
  std::vector<BatchToken> batch;
  for (size_t i = 0; i < prompt_a.size(); ++i) {
    batch.push_back({prompt_a[i], static_cast<int64_t>(i), 0, i + 1 == prompt_a.size()});
    if (i < kPromptB.size()) {
      batch.push_back({kPromptB[i], static_cast<int64_t>(i), 1, i + 1 == kPromptB.size()});
    }
  }
  std::vector<float> got(2 * v);
  model->forward(batch, caches, got.data());
  const std::vector<float> got_b(got.begin(), got.begin() + static_cast<long>(v));
  const std::vector<float> got_a(got.begin() + static_cast<long>(v), got.end());
  EXPECT_LT(max_diff(got_a, {ref_a.end() - static_cast<long>(v), ref_a.end()}), 1e-4f);
  EXPECT_LT(max_diff(got_b, {ref_b.end() - static_cast<long>(v), ref_b.end()}), 1e-4f);
}

std::string arch_param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (char& c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return s;
}

INSTANTIATE_TEST_SUITE_P(Architectures, ForwardArchTest,
                         ::testing::Values("stories260K", "synth-qwen2-f32", "synth-phi3-f32",
                                           "synth-gemma3-f32", "synth-command-r-f32"),
                         arch_param_name);

TEST(Forward, RefusesOutOfRangeTokensAndPositions) {
  CAPIBARA_REQUIRE_SHARED(shared);
  auto model = Model::load(shared / "models" / "stories260K.gguf", {1, 16, 8});
  SequenceKvCache cache = model->make_kv_cache(KvType::kF16);
  SequenceKvCache* caches[] = {&cache};
  std::vector<float> logits(static_cast<size_t>(model->config().n_vocab));
  const BatchToken bad_token{512, 0, 0, true};
  EXPECT_THROW(model->forward(std::span(&bad_token, 1), caches, logits.data()),
               InvalidArgumentError);
  const BatchToken bad_pos{1, 16, 0, true};
  EXPECT_THROW(model->forward(std::span(&bad_pos, 1), caches, logits.data()), InvalidArgumentError);
  const BatchToken bad_seq{1, 0, 3, true};
  EXPECT_THROW(model->forward(std::span(&bad_seq, 1), caches, logits.data()), InvalidArgumentError);
}

// Rebuilds stories260K without one metadata key or tensor and expects a load error naming it.
std::vector<uint8_t> stories_without(const std::filesystem::path& shared, const std::string& key,
                                     const std::string& tensor) {
  const auto src = gguf::GgufFile::open(shared / "models" / "stories260K.gguf");
  gguf::GgufWriter w;
  for (const auto& e : src.metadata()) {
    if (e.key != key) w.set(e.key, e.value);
  }
  for (const auto& t : src.tensors()) {
    if (t.name != tensor) w.add_tensor(t.name, t.type, t.shape, {t.data, t.n_bytes});
  }
  return w.to_bytes();
}

// Loading copies no weights: every matrix points into the file's mapping, and only 1-D tensors
// stored in a non-f32 type are converted (a few KiB).
TEST(ModelLoad, MatricesAreUsedInPlaceFromTheMapping) {
  CAPIBARA_REQUIRE_SHARED(shared);
  for (const char* name : {"synth-llama-q4_0", "synth-llama-f16", "synth-phi3-f32"}) {
    const auto file = gguf::GgufFile::open(shared / "models" / (std::string(name) + ".gguf"));
    ModelConfig config = read_model_config(file);
    const ModelWeights w = bind_model_weights(file, config, 64);
    const uint8_t* begin = file.bytes().data();
    const uint8_t* end = begin + file.bytes().size();
    auto in_file = [&](const kernels::WeightMatrix& m) {
      return m.data == nullptr ||
             (m.data >= begin && m.data + static_cast<size_t>(m.n_rows) * m.row_bytes <= end);
    };
    EXPECT_TRUE(in_file(w.token_embd)) << name;
    EXPECT_TRUE(in_file(w.output)) << name;
    for (const auto& l : w.layers) {
      for (const auto* m : {&l.wqkv, &l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
        EXPECT_TRUE(in_file(*m)) << name;
      }
    }
    size_t converted = 0;
    for (const auto& v : w.converted) converted += v.size() * sizeof(float);
    EXPECT_LT(converted, 64u * 1024u) << name;
  }
}

TEST(ModelLoad, MissingRequiredKeyIsNamed) {
  CAPIBARA_REQUIRE_SHARED(shared);
  for (const std::string key :
       {"llama.block_count", "llama.embedding_length", "llama.attention.layer_norm_rms_epsilon"}) {
    auto bytes = stories_without(shared, key, "");
    try {
      Model::load(gguf::GgufFile::from_bytes(bytes, "broken.gguf"));
      ADD_FAILURE() << "loaded without " << key;
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
}

TEST(ModelLoad, MissingTensorIsNamed) {
  CAPIBARA_REQUIRE_SHARED(shared);
  auto bytes = stories_without(shared, "", "blk.3.ffn_up.weight");
  try {
    Model::load(gguf::GgufFile::from_bytes(bytes, "broken.gguf"));
    ADD_FAILURE() << "loaded without blk.3.ffn_up.weight";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("blk.3.ffn_up.weight"), std::string::npos) << e.what();
  }
}

TEST(ModelLoad, UnsupportedArchitectureListsSupportedOnes) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const auto src = gguf::GgufFile::open(shared / "models" / "stories260K.gguf");
  gguf::GgufWriter w;
  for (const auto& e : src.metadata()) w.set(e.key, e.value);
  w.set_string("general.architecture", "mamba");
  try {
    Model::load(gguf::GgufFile::from_bytes(w.to_bytes(), "mamba.gguf"));
    ADD_FAILURE() << "loaded an unsupported architecture";
  } catch (const UnsupportedError& e) {
    EXPECT_NE(std::string(e.what()).find("mamba"), std::string::npos) << e.what();
    for (const char* a : {"llama", "qwen2", "phi3", "gemma3", "command-r", "cohere2"}) {
      EXPECT_NE(std::string(e.what()).find(a), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace capibara
