// The architecture registry and the knobs each architecture file sets, and the variants no
// shared file covers (Mistral's window, Cohere2, LongRoPE, partial rotary, logit soft-capping),
// checked on copies of the synthetic models with edited metadata and tensors.
#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "gguf/gguf_writer.hpp"
#include "model/architecture.hpp"
#include "model/model.hpp"
#include "support/shared_data.hpp"

namespace capibara {
namespace {

using gguf::GgufFile;
using gguf::GgufWriter;

std::filesystem::path model_path(const std::filesystem::path& shared, const std::string& name) {
  return shared / "models" / (name + ".gguf");
}

// A copy of `src` with `edit` applied to a writer already holding its metadata and tensors
// (without `drop`ped keys and tensors); keys under `rename_from.` move to `rename_to.`.
struct Rebuild {
  std::set<std::string> drop;
  std::string rename_from, rename_to;
  std::function<void(const GgufFile&, GgufWriter&)> edit;
};

GgufFile rebuild(const std::filesystem::path& src_path, const Rebuild& r) {
  const auto src = GgufFile::open(src_path);
  GgufWriter w;
  for (const auto& e : src.metadata()) {
    if (r.drop.count(e.key) != 0) continue;
    std::string key = e.key;
    if (!r.rename_from.empty() && key.rfind(r.rename_from + ".", 0) == 0) {
      key = r.rename_to + key.substr(r.rename_from.size());
    }
    w.set(key, e.value);
  }
  if (!r.rename_to.empty()) w.set_string("general.architecture", r.rename_to);
  for (const auto& t : src.tensors()) {
    if (r.drop.count(t.name) == 0) w.add_tensor(t.name, t.type, t.shape, {t.data, t.n_bytes});
  }
  if (r.edit) r.edit(src, w);
  return GgufFile::from_bytes(w.to_bytes(), src_path.filename().string());
}

void add_f32_tensor(GgufWriter& w, const std::string& name, const std::vector<float>& values) {
  w.add_tensor(name, GgmlType::kF32, {static_cast<int64_t>(values.size())},
               {reinterpret_cast<const uint8_t*>(values.data()), values.size() * sizeof(float)});
}

// Logits after every token of `prompt`, fed as one batch.
std::vector<float> prompt_logits(Model& model, const std::vector<int32_t>& prompt) {
  SequenceKvCache cache = model.make_kv_cache(KvType::kF32);
  SequenceKvCache* caches[] = {&cache};
  std::vector<BatchToken> batch;
  for (size_t i = 0; i < prompt.size(); ++i) {
    batch.push_back({prompt[i], static_cast<int64_t>(i), 0, true});
  }
  std::vector<float> logits(prompt.size() * static_cast<size_t>(model.config().n_vocab));
  model.forward(batch, caches, logits.data());
  return logits;
}

float max_diff(const float* a, const float* b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

std::vector<int32_t> test_prompt(size_t n) {
  std::vector<int32_t> p = {1};
  for (size_t i = 1; i < n; ++i) p.push_back(static_cast<int32_t>(3 + (i * 37) % 500));
  return p;
}

TEST(Architecture, RegistryHoldsEveryFamily) {
  const auto names = supported_architectures();
  for (const char* a : {"llama", "qwen2", "phi3", "gemma3", "command-r", "cohere2"}) {
    EXPECT_TRUE(is_supported_architecture(a)) << a;
    EXPECT_NE(std::find(names.begin(), names.end(), a), names.end()) << a;
  }
  EXPECT_FALSE(is_supported_architecture("mamba"));
  EXPECT_FALSE(is_supported_architecture(""));
}

TEST(Architecture, UnsupportedOneIsRefusedWithTheList) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const auto file = rebuild(model_path(shared, "synth-qwen2-f32"), {{}, "qwen2", "qwen3moe", {}});
  try {
    Model::load(file);
    ADD_FAILURE() << "loaded an unsupported architecture";
  } catch (const UnsupportedError& e) {
    const std::string what = e.what();
    for (const char* a : {"qwen3moe", "llama", "qwen2", "phi3", "gemma3", "command-r", "cohere2"}) {
      EXPECT_NE(what.find(a), std::string::npos) << what;
    }
  }
}

TEST(Architecture, EachFileSetsItsKnobs) {
  CAPIBARA_REQUIRE_SHARED(shared);
  using kernels::RopeLayout;
  const auto llama = read_model_config(GgufFile::open(model_path(shared, "synth-llama-f32")));
  EXPECT_EQ(llama.rope.layout, RopeLayout::kNormal);
  EXPECT_EQ(llama.norm, NormType::kRms);
  EXPECT_FALSE(llama.has_sliding_window());
  EXPECT_FLOAT_EQ(llama.attention_scale, 1.0f / std::sqrt(32.0f));

  const auto qwen2 = read_model_config(GgufFile::open(model_path(shared, "synth-qwen2-f32")));
  EXPECT_EQ(qwen2.rope.layout, RopeLayout::kNeox);
  EXPECT_TRUE(qwen2.attention_bias);
  EXPECT_FLOAT_EQ(qwen2.rope.freq_base, 1e6f);
  EXPECT_EQ(qwen2.n_vocab, 515);

  const auto phi3 = read_model_config(GgufFile::open(model_path(shared, "synth-phi3-f32")));
  EXPECT_EQ(phi3.rope.layout, RopeLayout::kNeox);
  EXPECT_TRUE(phi3.fused_gate_up);
  EXPECT_EQ(phi3.ffn_up_rows(), 2 * phi3.n_ff);

  const auto gemma3 = read_model_config(GgufFile::open(model_path(shared, "synth-gemma3-f32")));
  EXPECT_EQ(gemma3.activation, Activation::kGeluTanh);
  EXPECT_TRUE(gemma3.qk_norm && gemma3.post_norms);
  EXPECT_FLOAT_EQ(gemma3.embedding_scale, std::sqrt(128.0f));
  EXPECT_FLOAT_EQ(gemma3.attention_scale, 1.0f / 8.0f);  // 1/sqrt(key_length 64)
  EXPECT_EQ(gemma3.sliding_window, 16);
  for (int64_t l = 0; l < 6; ++l) {
    EXPECT_EQ(gemma3.layers[static_cast<size_t>(l)].sliding_window, l != 5) << l;
  }
  EXPECT_FLOAT_EQ(gemma3.rope.freq_base, 1e6f);
  EXPECT_FLOAT_EQ(gemma3.rope_swa.freq_base, 10000.0f);
  EXPECT_EQ(gemma3.rope_swa.layout, RopeLayout::kNeox);
  EXPECT_EQ(gemma3.final_logit_softcap, 0.0f);

  const auto cmdr = read_model_config(GgufFile::open(model_path(shared, "synth-command-r-f32")));
  EXPECT_EQ(cmdr.norm, NormType::kLayerNorm);
  EXPECT_EQ(cmdr.residual, ResidualLayout::kParallel);
  EXPECT_FLOAT_EQ(cmdr.logit_scale, 0.0625f);
  EXPECT_FLOAT_EQ(cmdr.norm_eps, 1e-5f);
  EXPECT_EQ(cmdr.rope.layout, RopeLayout::kNormal);
}

TEST(Architecture, MissingKeysAndTensorsAreNamed) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const struct {
    const char* model;
    const char* dropped;
  } cases[] = {{"synth-command-r-f32", "command-r.logit_scale"},
               {"synth-command-r-f32", "command-r.attention.layer_norm_epsilon"},
               {"synth-gemma3-f32", "gemma3.attention.layer_norm_rms_epsilon"},
               {"synth-qwen2-f32", "blk.1.attn_k.bias"},
               {"synth-phi3-f32", "blk.0.attn_qkv.weight"},
               {"synth-gemma3-f32", "blk.2.post_ffw_norm.weight"},
               {"synth-gemma3-f32", "blk.0.attn_q_norm.weight"}};
  for (const auto& c : cases) {
    const auto file = rebuild(model_path(shared, c.model), {{c.dropped}, "", "", {}});
    try {
      Model::load(file);
      ADD_FAILURE() << c.model << " loaded without " << c.dropped;
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(c.dropped), std::string::npos) << e.what();
    }
  }
}

// Small Qwen2 models tie the output to the embedding: no `output.weight` is no error.
TEST(Architecture, Qwen2TiedOrUntiedOutput) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const auto path = model_path(shared, "synth-qwen2-f32");
  auto untied = Model::load(path, {1, 64, 32});
  auto tied = Model::load(rebuild(path, {{"output.weight"}, "", "", {}}), {1, 64, 32});
  const auto prompt = test_prompt(4);
  const auto a = prompt_logits(*untied, prompt);
  const auto b = prompt_logits(*tied, prompt);
  EXPECT_GT(max_diff(a.data(), b.data(), a.size()), 1e-3f);
}

// Mistral is `llama` with `attention.sliding_window`: a window as long as the prompt changes
// nothing, a shorter one changes exactly the positions past it.
TEST(Architecture, MistralSlidingWindowAppliesToEveryLayer) {
  CAPIBARA_REQUIRE_SHARED(shared);
  constexpr int64_t kWindow = 6;
  const auto path = model_path(shared, "synth-llama-f32");
  auto plain = Model::load(path, {1, 64, 32});
  auto windowed = Model::load(rebuild(path, {{},
                                             "",
                                             "",
                                             [](const GgufFile&, GgufWriter& w) {
                                               w.set_u32("llama.attention.sliding_window", kWindow);
                                             }}),
                              {1, 64, 32});
  ASSERT_TRUE(windowed->config().has_sliding_window());
  for (const auto& l : windowed->config().layers) EXPECT_TRUE(l.sliding_window);

  const auto prompt = test_prompt(12);
  const auto a = prompt_logits(*plain, prompt);
  const auto b = prompt_logits(*windowed, prompt);
  const auto v = static_cast<size_t>(plain->config().n_vocab);
  for (size_t t = 0; t < prompt.size(); ++t) {
    const float d = max_diff(a.data() + t * v, b.data() + t * v, v);
    if (static_cast<int64_t>(t) < kWindow) {
      EXPECT_LT(d, 1e-5f) << "position " << t;
    } else {
      EXPECT_GT(d, 1e-3f) << "position " << t;
    }
  }
}

// Cohere2 (Command R7B): Command-R's block with three sliding-window layers to one global layer,
// the global one without RoPE. Built from the Command-R file with its two layers repeated.
GgufFile make_cohere2(const std::filesystem::path& shared, int64_t window) {
  return rebuild(
      model_path(shared, "synth-command-r-f32"),
      {{}, "command-r", "cohere2", [window](const GgufFile& src, GgufWriter& w) {
         w.set_u32("cohere2.block_count", 4);
         w.set_u32("cohere2.attention.sliding_window", static_cast<uint32_t>(window));
         for (const auto& t : src.tensors()) {
           if (t.name.rfind("blk.", 0) != 0) continue;
           const std::string layer = t.name.substr(4, 1) == "0" ? "2" : "3";
           w.add_tensor("blk." + layer + t.name.substr(5), t.type, t.shape, {t.data, t.n_bytes});
         }
       }});
}

TEST(Architecture, Cohere2InterleavesWindowsAndDropsRopeOnGlobalLayers) {
  CAPIBARA_REQUIRE_SHARED(shared);
  auto model = Model::load(make_cohere2(shared, 4), {1, 64, 32});
  const auto& c = model->config();
  ASSERT_EQ(c.n_layer, 4);
  EXPECT_EQ(c.sliding_window, 4);
  for (int64_t l = 0; l < 4; ++l) {
    EXPECT_EQ(c.layers[static_cast<size_t>(l)].sliding_window, l != 3) << l;
    EXPECT_EQ(c.layers[static_cast<size_t>(l)].rope, l != 3) << l;
  }
  EXPECT_EQ(c.residual, ResidualLayout::kParallel);
  EXPECT_FLOAT_EQ(c.logit_scale, 0.0625f);

  // The same prompt fed token by token equals one batch (windows and all).
  const auto prompt = test_prompt(11);
  const auto batched = prompt_logits(*model, prompt);
  SequenceKvCache cache = model->make_kv_cache(KvType::kF32);
  SequenceKvCache* caches[] = {&cache};
  const auto v = static_cast<size_t>(c.n_vocab);
  std::vector<float> one(v);
  for (size_t i = 0; i < prompt.size(); ++i) {
    const BatchToken t{prompt[i], static_cast<int64_t>(i), 0, true};
    model->forward(std::span(&t, 1), caches, one.data());
    EXPECT_LT(max_diff(one.data(), batched.data() + i * v, v), 1e-4f) << i;
  }
  // Cohere2 requires its window.
  const auto no_window =
      rebuild(model_path(shared, "synth-command-r-f32"), {{}, "command-r", "cohere2", {}});
  EXPECT_THROW(Model::load(no_window), FormatError);
}

// Llama's rope scaling comes from metadata: `linear` divides every angle by the factor, and
// `llama3` divides each frequency by its entry of `rope_freqs.weight`, so factors that are all
// 2 equal linear scaling by 2; a llama3 file without the tensor is refused by name.
TEST(Architecture, LlamaRopeScalingFromMetadata) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const auto path = model_path(shared, "synth-llama-f32");
  const auto linear2 = rebuild(path, {{}, "", "", [](const GgufFile&, GgufWriter& w) {
                                        w.set_string("llama.rope.scaling.type", "linear");
                                        w.set_f32("llama.rope.scaling.factor", 2.0f);
                                      }});
  const auto llama3 =
      rebuild(path, {{}, "", "", [](const GgufFile&, GgufWriter& w) {
                       w.set_string("llama.rope.scaling.type", "llama3");
                       w.set_f32("llama.rope.scaling.factor", 8.0f);
                       add_f32_tensor(w, "rope_freqs.weight", std::vector<float>(16, 2.0f));
                     }});
  auto plain = Model::load(path, {1, 64, 32});
  auto lin = Model::load(linear2, {1, 64, 32});
  auto l3 = Model::load(llama3, {1, 64, 32});
  EXPECT_EQ(lin->config().rope_scaling, RopeScaling::kLinear);
  EXPECT_EQ(l3->config().rope_scaling, RopeScaling::kLlama3);
  const auto prompt = test_prompt(20);
  const auto p = prompt_logits(*plain, prompt);
  const auto a = prompt_logits(*lin, prompt);
  const auto b = prompt_logits(*l3, prompt);
  EXPECT_GT(max_diff(a.data(), p.data(), a.size()), 1e-3f) << "the scaling must matter";
  EXPECT_LT(max_diff(a.data(), b.data(), a.size()), 1e-4f);

  const auto no_tensor = rebuild(path, {{}, "", "", [](const GgufFile&, GgufWriter& w) {
                                          w.set_string("llama.rope.scaling.type", "llama3");
                                        }});
  try {
    Model::load(no_tensor, {1, 64, 32});
    ADD_FAILURE() << "loaded llama3 scaling without rope_freqs.weight";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("rope_freqs.weight"), std::string::npos) << e.what();
  }
}

// LongRoPE: dividing every frequency by 2 is linear scaling by 2, so a file whose short factors
// are all 2 must equal the plain file with linear scaling while the context stays within the
// original one, and the plain file (long factors 1) beyond it.
TEST(Architecture, Phi3LongRopeChoosesFactorsByContext) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const auto path = model_path(shared, "synth-phi3-f32");
  const auto with_factors =
      rebuild(path, {{}, "", "", [](const GgufFile&, GgufWriter& w) {
                       w.set_u32("phi3.rope.scaling.original_context_length", 64);
                       add_f32_tensor(w, "rope_factors_short.weight", std::vector<float>(16, 2.0f));
                       add_f32_tensor(w, "rope_factors_long.weight", std::vector<float>(16, 1.0f));
                     }});
  const auto linear2 = rebuild(path, {{}, "", "", [](const GgufFile&, GgufWriter& w) {
                                        w.set_string("phi3.rope.scaling.type", "linear");
                                        w.set_f32("phi3.rope.scaling.factor", 2.0f);
                                      }});
  const auto prompt = test_prompt(20);
  auto short_ctx = Model::load(with_factors, {1, 64, 32});
  auto long_ctx = Model::load(with_factors, {1, 128, 32});
  auto plain = Model::load(path, {1, 128, 32});
  auto linear = Model::load(linear2, {1, 64, 32});
  const auto s = prompt_logits(*short_ctx, prompt);
  const auto l = prompt_logits(*long_ctx, prompt);
  const auto p = prompt_logits(*plain, prompt);
  const auto lin = prompt_logits(*linear, prompt);
  EXPECT_LT(max_diff(s.data(), lin.data(), s.size()), 1e-4f);
  EXPECT_LT(max_diff(l.data(), p.data(), l.size()), 1e-6f);
  EXPECT_GT(max_diff(s.data(), p.data(), s.size()), 1e-3f);

  // `rope.scaling.attn_factor` scales the rotated dimensions of q and k: it must matter.
  const auto with_attn_factor = rebuild(path, {{}, "", "", [](const GgufFile&, GgufWriter& w) {
                                                 w.set_f32("phi3.rope.scaling.attn_factor", 1.19f);
                                               }});
  auto scaled = Model::load(with_attn_factor, {1, 64, 32});
  EXPECT_FLOAT_EQ(scaled->config().rope.attn_factor, 1.19f);
  const auto a = prompt_logits(*scaled, prompt);
  EXPECT_GT(max_diff(a.data(), p.data(), a.size()), 1e-3f);

  // A file with only one of the two factor tensors is broken, and says which one it lacks.
  const auto half =
      rebuild(path, {{}, "", "", [](const GgufFile&, GgufWriter& w) {
                       add_f32_tensor(w, "rope_factors_long.weight", std::vector<float>(16, 1.0f));
                     }});
  try {
    Model::load(half, {1, 64, 32});
    ADD_FAILURE() << "loaded without rope_factors_short.weight";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("rope_factors_short.weight"), std::string::npos);
  }
}

// Partial rotary (Phi-4-mini rotates 3/4 of each head): fewer rotated dimensions change the
// logits, and positions still behave (prefill equals one token at a time).
TEST(Architecture, Phi3PartialRotary) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const auto path = model_path(shared, "synth-phi3-f32");
  auto partial = Model::load(rebuild(path, {{},
                                            "",
                                            "",
                                            [](const GgufFile&, GgufWriter& w) {
                                              w.set_u32("phi3.rope.dimension_count", 24);
                                            }}),
                             {1, 64, 32});
  EXPECT_EQ(partial->config().rope.n_rot, 24);
  auto full = Model::load(path, {1, 64, 32});
  const auto prompt = test_prompt(9);
  const auto a = prompt_logits(*partial, prompt);
  const auto b = prompt_logits(*full, prompt);
  const auto v = static_cast<size_t>(full->config().n_vocab);
  EXPECT_LT(max_diff(a.data(), b.data(), v), 1e-5f);  // position 0 does not rotate
  EXPECT_GT(max_diff(a.data(), b.data(), a.size()), 1e-3f);
}

TEST(Architecture, Gemma3SoftcapAndWindowPatternFromMetadata) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const auto path = model_path(shared, "synth-gemma3-f32");
  auto capped =
      Model::load(rebuild(path, {{},
                                 "",
                                 "",
                                 [](const GgufFile&, GgufWriter& w) {
                                   w.set_f32("gemma3.final_logit_softcapping", 0.5f);
                                   w.set_u32("gemma3.attention.sliding_window_pattern", 3);
                                 }}),
                  {1, 64, 32});
  const auto& c = capped->config();
  for (int64_t l = 0; l < c.n_layer; ++l) {
    EXPECT_EQ(c.layers[static_cast<size_t>(l)].sliding_window, l % 3 != 2) << l;
  }
  const auto logits = prompt_logits(*capped, test_prompt(5));
  for (float x : logits) ASSERT_LT(std::abs(x), 0.5f);

  // One bool per layer works too; a list of the wrong length is refused, naming the key.
  auto per_layer = rebuild(path, {{}, "", "", [](const GgufFile&, GgufWriter& w) {
                                    gguf::Array a{gguf::ValueType::kBool, {}};
                                    for (bool b : {true, false, true, true, false, false}) {
                                      a.items.emplace_back(gguf::ValueType::kBool, b);
                                    }
                                    w.set("gemma3.attention.sliding_window_pattern",
                                          gguf::Value(gguf::ValueType::kArray, a));
                                  }});
  const auto pc = read_model_config(per_layer);
  const bool expected[] = {true, false, true, true, false, false};
  for (size_t l = 0; l < 6; ++l) EXPECT_EQ(pc.layers[l].sliding_window, expected[l]) << l;
  auto wrong = rebuild(path, {{}, "", "", [](const GgufFile&, GgufWriter& w) {
                                gguf::Array a{gguf::ValueType::kBool, {}};
                                a.items.emplace_back(gguf::ValueType::kBool, true);
                                w.set("gemma3.attention.sliding_window_pattern",
                                      gguf::Value(gguf::ValueType::kArray, a));
                              }});
  try {
    read_model_config(wrong);
    ADD_FAILURE() << "accepted a pattern of the wrong length";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("gemma3.attention.sliding_window_pattern"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace capibara
