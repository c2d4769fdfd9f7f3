// `capibara synth`: the presets' shapes and metadata, the tokenizers and chat templates, the
// per-tensor types, that a small model of every architecture loads and runs with finite logits,
// determinism by seed, and clear errors for bad input.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "chat/chat_template.hpp"
#include "core/error.hpp"
#include "model/model.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tools/synth.hpp"
#include "tools/synth_chat_templates.hpp"
#include "tools/synth_random.hpp"
#include "tools/synth_vocab.hpp"

namespace capibara::tools {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() : path_(fs::path(::testing::TempDir()) / ("synth_test_" + std::to_string(::getpid()))) {
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  fs::path file(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

// The preset with small sizes (its knobs kept): what the metadata tests load.
SynthShape small(const std::string& preset) {
  return resolve_synth_shape("", preset,
                             "n_embd=128,n_layer=2,n_head=4,n_head_kv=2,n_ff=256,n_vocab=1200,"
                             "n_ctx=256,head_dim=0,n_rot=0");
}

fs::path write(const TempDir& dir, const std::string& name, const SynthShape& shape,
               QuantTarget target, uint64_t seed = 7) {
  SynthOptions o;
  o.shape = shape;
  o.target = target;
  o.seed = seed;
  o.n_threads = 2;
  const fs::path path = dir.file(name);
  write_synth_model(o, path);
  return path;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int64_t params(const SynthShape& s) {
  int64_t n = 0;
  for (const auto& t : synth_tensor_list(s, QuantTarget::kF32)) n += t.n_elements();
  return n;
}

const SynthTensor& tensor(const std::vector<SynthTensor>& list, const std::string& name) {
  for (const auto& t : list) {
    if (t.name == name) return t;
  }
  ADD_FAILURE() << "no tensor " << name;
  return list.front();
}

bool has_tensor(const std::vector<SynthTensor>& list, const std::string& name) {
  for (const auto& t : list) {
    if (t.name == name) return true;
  }
  return false;
}

// Runs `tokens` through the model in one batch and returns the logits of every position.
std::vector<float> forward_all(Model& model, const std::vector<int32_t>& tokens) {
  const auto v = static_cast<size_t>(model.config().n_vocab);
  SequenceKvCache cache = model.make_kv_cache(KvType::kF32);
  SequenceKvCache* caches[] = {&cache};
  std::vector<BatchToken> batch;
  for (size_t i = 0; i < tokens.size(); ++i) {
    batch.push_back({tokens[i], static_cast<int64_t>(i), 0, true});
  }
  std::vector<float> logits(tokens.size() * v);
  model.forward(batch, caches, logits.data());
  return logits;
}

TEST(SynthPresets, EveryRequiredPresetExists) {
  const auto names = synth_preset_names();
  for (const char* name : {"tinyllama-1.1b", "llama-3.2-1b", "qwen2.5-0.5b", "mistral-7b",
                           "phi-4-mini", "qwen2.5-coder-7b", "gemma-3-4b", "aya-expanse-8b"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
}

TEST(SynthPresets, ShapesAndParameterCountsAreTheRealModels) {
  struct Expect {
    const char* name;
    const char* arch;
    int64_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab;
    double billions;  // published parameter count (text model)
  };
  for (const Expect& e :
       {Expect{"tinyllama-1.1b", "llama", 2048, 22, 32, 4, 5632, 32000, 1.100},
        Expect{"llama-3.2-1b", "llama", 2048, 16, 32, 8, 8192, 128256, 1.236},
        Expect{"qwen2.5-0.5b", "qwen2", 896, 24, 14, 2, 4864, 151936, 0.494},
        Expect{"mistral-7b", "llama", 4096, 32, 32, 8, 14336, 32000, 7.242},
        Expect{"phi-4-mini", "phi3", 3072, 32, 24, 8, 8192, 200064, 3.836},
        Expect{"qwen2.5-coder-7b", "qwen2", 3584, 28, 28, 4, 18944, 152064, 7.616},
        Expect{"gemma-3-4b", "gemma3", 2560, 34, 8, 4, 10240, 262144, 3.880},
        Expect{"aya-expanse-8b", "command-r", 4096, 32, 32, 8, 14336, 256000, 8.028}}) {
    SCOPED_TRACE(e.name);
    const auto s = find_synth_preset(e.name);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->architecture, e.arch);
    EXPECT_EQ(s->n_embd, e.n_embd);
    EXPECT_EQ(s->n_layer, e.n_layer);
    EXPECT_EQ(s->n_head, e.n_head);
    EXPECT_EQ(s->n_head_kv, e.n_head_kv);
    EXPECT_EQ(s->n_ff, e.n_ff);
    EXPECT_EQ(s->n_vocab, e.n_vocab);
    EXPECT_NEAR(static_cast<double>(params(*s)) / 1e9, e.billions, 0.01);
    EXPECT_NO_THROW(validate_synth_shape(*s));
  }
}

TEST(SynthPresets, ArchitectureKnobsAtFullSize) {
  const auto phi = synth_tensor_list(*find_synth_preset("phi-4-mini"), QuantTarget::kQ8_0);
  EXPECT_EQ(tensor(phi, "blk.0.attn_qkv.weight").shape, (std::vector<int64_t>{3072, 5120}));
  EXPECT_EQ(tensor(phi, "blk.0.ffn_up.weight").shape, (std::vector<int64_t>{3072, 16384}));
  EXPECT_FALSE(has_tensor(phi, "blk.0.ffn_gate.weight"));
  EXPECT_EQ(tensor(phi, "rope_factors_long.weight").shape, (std::vector<int64_t>{48}));
  EXPECT_EQ(find_synth_preset("phi-4-mini")->rope_dims(), 96);  // partial rotary: 0.75 * 128
  EXPECT_FALSE(has_tensor(phi, "output.weight"));

  const auto gemma = synth_tensor_list(*find_synth_preset("gemma-3-4b"), QuantTarget::kQ8_0);
  EXPECT_EQ(tensor(gemma, "blk.3.attn_q.weight").shape, (std::vector<int64_t>{2560, 2048}));
  EXPECT_EQ(tensor(gemma, "blk.3.attn_q_norm.weight").shape, (std::vector<int64_t>{256}));
  EXPECT_TRUE(has_tensor(gemma, "blk.33.post_ffw_norm.weight"));

  const auto aya = synth_tensor_list(*find_synth_preset("aya-expanse-8b"), QuantTarget::kQ8_0);
  EXPECT_FALSE(has_tensor(aya, "blk.0.ffn_norm.weight"));  // parallel residual: one norm
  EXPECT_FALSE(has_tensor(aya, "output.weight"));

  const auto llama3 = synth_tensor_list(*find_synth_preset("llama-3.2-1b"), QuantTarget::kQ8_0);
  EXPECT_EQ(tensor(llama3, "rope_freqs.weight").shape, (std::vector<int64_t>{32}));
  const auto qwen = synth_tensor_list(*find_synth_preset("qwen2.5-0.5b"), QuantTarget::kQ8_0);
  EXPECT_EQ(tensor(qwen, "blk.0.attn_k.bias").shape, (std::vector<int64_t>{128}));
  EXPECT_EQ(find_synth_preset("mistral-7b")->sliding_window, 4096);
}

TEST(SynthPresets, Llama3RopeFactorsMatchTheConverter) {
  const auto f = rope_factor_values(TensorFill::kLlama3Freqs, 32, 500000.0f);
  EXPECT_FLOAT_EQ(f.front(), 1.0f);  // high frequencies are not scaled
  EXPECT_FLOAT_EQ(f.back(), 32.0f);  // low frequencies by the factor
  for (size_t i = 1; i < f.size(); ++i) EXPECT_GE(f[i], f[i - 1]);
}

TEST(SynthTypes, FollowLlamaCppPresets) {
  const SynthShape tiny = *find_synth_preset("tinyllama-1.1b");
  const auto q4_0 = synth_tensor_list(tiny, QuantTarget::kQ4_0);
  EXPECT_EQ(tensor(q4_0, "output.weight").type, GgmlType::kQ6_K);
  EXPECT_EQ(tensor(q4_0, "token_embd.weight").type, GgmlType::kQ4_0);
  EXPECT_EQ(tensor(q4_0, "blk.5.ffn_down.weight").type, GgmlType::kQ4_0);
  EXPECT_EQ(tensor(q4_0, "blk.5.ffn_norm.weight").type, GgmlType::kF32);

  // Q4_K_M: attn_v and ffn_down of the first and last eighth and every third layer get Q6_K.
  const auto q4_k_m = synth_tensor_list(tiny, QuantTarget::kQ4_K_M);
  EXPECT_EQ(tensor(q4_k_m, "blk.0.attn_v.weight").type, GgmlType::kQ6_K);
  EXPECT_EQ(tensor(q4_k_m, "blk.0.ffn_down.weight").type, GgmlType::kQ6_K);
  EXPECT_EQ(tensor(q4_k_m, "blk.3.attn_v.weight").type, GgmlType::kQ4_K);
  EXPECT_EQ(tensor(q4_k_m, "blk.4.attn_v.weight").type, GgmlType::kQ6_K);  // (4 - 2) % 3 == 2
  EXPECT_EQ(tensor(q4_k_m, "blk.21.ffn_down.weight").type, GgmlType::kQ6_K);
  EXPECT_EQ(tensor(q4_k_m, "blk.3.ffn_up.weight").type, GgmlType::kQ4_K);

  // A tied embedding is also the output: 6 bits.
  const auto tied = synth_tensor_list(*find_synth_preset("gemma-3-4b"), QuantTarget::kQ4_0);
  EXPECT_EQ(tensor(tied, "token_embd.weight").type, GgmlType::kQ6_K);

  // Qwen2.5 0.5B's 896-wide rows do not fit 256-weight K blocks: llama.cpp's fallbacks.
  const auto qwen = synth_tensor_list(*find_synth_preset("qwen2.5-0.5b"), QuantTarget::kQ4_K_M);
  EXPECT_EQ(tensor(qwen, "blk.1.attn_q.weight").type, GgmlType::kQ5_0);
  EXPECT_EQ(tensor(qwen, "token_embd.weight").type, GgmlType::kQ8_0);

  const auto f16 = synth_tensor_list(tiny, QuantTarget::kF16);
  EXPECT_EQ(tensor(f16, "output.weight").type, GgmlType::kF16);
  EXPECT_EQ(tensor(f16, "output_norm.weight").type, GgmlType::kF32);
}

TEST(SynthVocab, EveryFamilyAtEveryPresetSizeIsValidAndLossless) {
  const std::vector<std::string> texts = {
      "Hello world, this is a test.", "  leading spaces and\ttabs\nnew lines  ",
      "numbers 12345 and symbols #$%^&*()", "Ünïcödé, 日本語, emoji 🦫!"};
  for (const auto name : synth_preset_names()) {
    SCOPED_TRACE(std::string(name));
    const SynthShape s = *find_synth_preset(name);
    const Tokenizer tok(build_synth_vocab(s.vocab, s.n_vocab, s.n_reserved));
    ASSERT_EQ(tok.n_vocab(), s.n_vocab);
    EXPECT_GE(tok.eos_id(), 0);
    for (const auto& text : texts) {
      const auto ids = tok.encode(text, false, false);
      EXPECT_LT(ids.size(), text.size());  // pieces longer than a byte are used
      EXPECT_EQ(tok.decode(ids), text);
    }
  }
}

TEST(SynthVocab, SmallestVocabularyOfEachFamilyWorks) {
  for (auto family : {VocabFamily::kLlamaSpm, VocabFamily::kGemmaSpm, VocabFamily::kLlama3Bpe,
                      VocabFamily::kQwen2Bpe, VocabFamily::kPhi4Bpe, VocabFamily::kCohereBpe}) {
    SCOPED_TRACE(std::string(vocab_family_name(family)));
    const int64_t n = min_vocab_size(family);
    const Tokenizer tok(build_synth_vocab(family, n, 100));
    EXPECT_EQ(tok.n_vocab(), n);
    EXPECT_EQ(tok.decode(tok.encode("round trip", false, false)), "round trip");
    EXPECT_THROW(build_synth_vocab(family, n - 1, 0), InvalidArgumentError);
  }
}

TEST(SynthChatTemplates, RenderToTheFamilysSpecialTokens) {
  const nlohmann::json messages = {{{"role", "user"}, {"content", "Hi there"}},
                                   {{"role", "assistant"}, {"content", "Hello"}},
                                   {{"role", "user"}, {"content", "Bye"}}};
  for (const auto name : synth_preset_names()) {
    SCOPED_TRACE(std::string(name));
    const SynthShape s = *find_synth_preset(name);
    const Tokenizer tok(build_synth_vocab(s.vocab, 2000, s.n_reserved));
    const auto tmpl = chat::ChatTemplate::parse(synth_chat_template(s.chat));
    chat::ChatTemplateOptions opts;
    if (tok.bos_id() >= 0) opts.bos_token = tok.token_text(tok.bos_id());
    opts.eos_token = tok.token_text(tok.eos_id());
    const std::string prompt = tmpl.render(messages, opts);
    EXPECT_NE(prompt.find("Bye"), std::string::npos) << prompt;
    // The markup becomes control tokens: fewer tokens with special parsing than without.
    const auto plain = tok.encode(prompt, false, false);
    const auto special = tok.encode(prompt, false, true);
    if (s.chat != ChatStyle::kZephyr && s.chat != ChatStyle::kMistral) {
      EXPECT_LT(special.size(), plain.size()) << prompt;
      bool has_control = false;
      for (int32_t id : special) has_control = has_control || tok.is_control(id);
      EXPECT_TRUE(has_control) << prompt;
    }
  }
}

TEST(Synth, SmallModelOfEveryPresetLoadsWithItsKnobsAndRunsFinite) {
  TempDir dir;
  for (const auto name : synth_preset_names()) {
    SCOPED_TRACE(std::string(name));
    const SynthShape shape = small(std::string(name));
    const auto path = write(dir, std::string(name) + ".gguf", shape, QuantTarget::kQ4_K_M);
    auto model = Model::load(path, {2, 64, 64});
    const ModelConfig& c = model->config();
    EXPECT_EQ(c.architecture, shape.architecture);
    EXPECT_EQ(c.n_vocab, 1200);
    EXPECT_EQ(c.n_layer, 2);
    EXPECT_EQ(model->file().find_tensor("output.weight") == nullptr, shape.tied_output);
    EXPECT_TRUE(model->file().get_string("tokenizer.chat_template").has_value());
    if (shape.architecture == "phi3") {
      EXPECT_TRUE(c.fused_gate_up);
      EXPECT_EQ(c.rope.n_rot, c.head_dim);  // n_rot=0 in the dims: the whole head
      EXPECT_NEAR(c.rope.attn_factor, 1.19f, 0.01f);
      EXPECT_NE(c.rope.freq_factors, nullptr);
    }
    if (shape.architecture == "gemma3") {
      EXPECT_TRUE(c.has_sliding_window());
      EXPECT_EQ(c.rope_scaling, RopeScaling::kLinear);
    }
    if (std::string(name) == "mistral-7b") {
      EXPECT_EQ(c.sliding_window, 4096);
    }
    if (shape.architecture == "command-r") {
      EXPECT_FLOAT_EQ(c.logit_scale, 0.125f);
    }
    if (shape.architecture == "qwen2") {
      EXPECT_TRUE(c.attention_bias);
    }
    if (shape.llama3_rope) {
      EXPECT_NE(c.rope.freq_factors, nullptr);
    }

    const Tokenizer tok = Tokenizer::from_gguf(model->file());
    const auto ids = tok.encode("Hello world, this is a synthetic model.", true, false);
    const auto logits = forward_all(*model, ids);
    for (float x : logits) ASSERT_TRUE(std::isfinite(x));
  }
}

TEST(Synth, EveryStorageTypeLoadsAndRunsFinite) {
  TempDir dir;
  const SynthShape shape = resolve_synth_shape(
      "llama", "", "n_embd=256,n_layer=2,n_head=4,n_head_kv=2,n_ff=512,n_vocab=600,n_ctx=128");
  for (auto target :
       {QuantTarget::kF32, QuantTarget::kF16, QuantTarget::kBF16, QuantTarget::kQ8_0,
        QuantTarget::kQ4_0, QuantTarget::kQ4_K_M, QuantTarget::kQ5_K_M, QuantTarget::kQ6_K}) {
    SCOPED_TRACE(std::string(quant_target_name(target)));
    const auto path = write(dir, "types.gguf", shape, target);
    auto model = Model::load(path, {2, 32, 16});
    EXPECT_EQ(model->file().require_int("general.file_type"), static_cast<int64_t>(target));
    const auto logits = forward_all(*model, {1, 50, 300, 7});
    for (float x : logits) ASSERT_TRUE(std::isfinite(x));
  }
}

TEST(Synth, ActivationsStayFiniteAndModestThroughManyLayers) {
  TempDir dir;
  for (const char* arch : {"llama", "gemma3", "command-r"}) {
    SCOPED_TRACE(arch);
    const SynthShape shape = resolve_synth_shape(
        arch, "", "n_embd=256,n_layer=48,n_head=4,n_head_kv=2,n_ff=768,n_vocab=600,n_ctx=64");
    const auto path = write(dir, "deep.gguf", shape, QuantTarget::kF32);
    auto model = Model::load(path, {2, 32, 32});
    const auto logits = forward_all(*model, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
    double sum_sq = 0;
    for (float x : logits) {
      ASSERT_TRUE(std::isfinite(x));
      sum_sq += static_cast<double>(x) * x;
    }
    const double rms = std::sqrt(sum_sq / static_cast<double>(logits.size()));
    EXPECT_GT(rms, 1e-3);
    EXPECT_LT(rms, 100.0);  // a peaked but not degenerate distribution
  }
}

TEST(Synth, SameSeedSameBytesOtherSeedOtherWeights) {
  TempDir dir;
  const SynthShape shape = small("qwen2.5-0.5b");
  const auto a = read_all(write(dir, "a.gguf", shape, QuantTarget::kQ4_0, 1));
  const auto b = read_all(write(dir, "b.gguf", shape, QuantTarget::kQ4_0, 1));
  const auto c = read_all(write(dir, "c.gguf", shape, QuantTarget::kQ4_0, 2));
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), c.size());
  EXPECT_NE(a, c);
  // Thread count does not change the bytes.
  SynthOptions o;
  o.shape = shape;
  o.target = QuantTarget::kQ4_0;
  o.seed = 1;
  o.n_threads = 1;
  write_synth_model(o, dir.file("d.gguf"));
  EXPECT_EQ(read_all(dir.file("d.gguf")), a);
}

TEST(Synth, WeightsHaveTheRequestedScale) {
  std::vector<float> w(1 << 16);
  fill_normal(123, 0.02f, w.data(), static_cast<int64_t>(w.size()));
  double sum = 0, sum_sq = 0;
  for (float x : w) {
    sum += x;
    sum_sq += static_cast<double>(x) * x;
  }
  const double n = static_cast<double>(w.size());
  EXPECT_NEAR(sum / n, 0.0, 5e-4);
  EXPECT_NEAR(std::sqrt(sum_sq / n), 0.02, 5e-4);
}

TEST(Synth, BadInputGivesClearErrors) {
  const auto message = [](auto&& fn) {
    try {
      fn();
    } catch (const InvalidArgumentError& e) {
      return std::string(e.what());
    }
    return std::string("<no error>");
  };
  EXPECT_NE(message([] { resolve_synth_shape("", "gpt-5", ""); }).find("tinyllama-1.1b"),
            std::string::npos);
  EXPECT_NE(message([] { resolve_synth_shape("qwen2", "tinyllama-1.1b", ""); }).find("'llama'"),
            std::string::npos);
  EXPECT_NE(message([] { resolve_synth_shape("llama", "", ""); }).find("--dims"),
            std::string::npos);
  EXPECT_NE(message([] { resolve_synth_shape("", "", ""); }).find("--shape"), std::string::npos);
  EXPECT_NE(message([] { resolve_synth_shape("mamba", "", "n_embd=8"); }).find("supported"),
            std::string::npos);
  EXPECT_NE(message([] {
              resolve_synth_shape("", "tinyllama-1.1b", "n_emb=3");
            }).find("unknown key 'n_emb'"),
            std::string::npos);
  EXPECT_NE(message([] {
              resolve_synth_shape("", "tinyllama-1.1b", "n_layer=x");
            }).find("non-negative integer"),
            std::string::npos);
  EXPECT_NE(message([] {
              resolve_synth_shape("", "tinyllama-1.1b", "n_layer=2,n_layer=3");
            }).find("twice"),
            std::string::npos);
  EXPECT_NE(message([] {
              resolve_synth_shape("", "tinyllama-1.1b", "n_head_kv=5");
            }).find("multiple of n_head_kv"),
            std::string::npos);
  EXPECT_NE(
      message([] { resolve_synth_shape("", "tinyllama-1.1b", "n_vocab=100"); }).find("too small"),
      std::string::npos);
  EXPECT_NE(message([] {
              resolve_synth_shape("llama", "", "n_embd=64,n_layer=1,n_head=2,n_head_kv=2,n_ff=64");
            }).find("n_vocab must be positive"),
            std::string::npos);

  // An unwritable output: SystemError, and no partial file left behind.
  SynthOptions o;
  o.shape = small("tinyllama-1.1b");
  EXPECT_THROW(write_synth_model(o, "/nonexistent-dir/x.gguf"), SystemError);
  EXPECT_FALSE(fs::exists("/nonexistent-dir/x.gguf.part"));
}

}  // namespace
}  // namespace capibara::tools
