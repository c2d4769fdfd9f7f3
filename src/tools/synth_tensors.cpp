// Tensor names and shapes per architecture knob.
#include "tools/synth_tensors.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include "tools/synth_types.hpp"

namespace capibara::tools {

int64_t SynthTensor::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<SynthTensor> synth_tensor_list(const SynthShape& s, QuantTarget target) {
  const std::string& arch = s.architecture;
  const int64_t e = s.n_embd;
  std::vector<SynthTensor> out;
  const auto matrix = [&](std::string name, int64_t cols, int64_t rows) {
    out.push_back({std::move(name), {cols, rows}, TensorFill::kNormal});
  };
  const auto vector = [&](std::string name, int64_t n, TensorFill fill) {
    out.push_back({std::move(name), {n}, fill});
  };

  matrix("token_embd.weight", e, s.n_vocab);
  vector("output_norm.weight", e, TensorFill::kOnes);
  if (!s.tied_output) matrix("output.weight", e, s.n_vocab);
  const int64_t n_freq = s.rope_dims() / 2;
  if (s.llama3_rope) vector("rope_freqs.weight", n_freq, TensorFill::kLlama3Freqs);
  if (s.longrope) {
    vector("rope_factors_long.weight", n_freq, TensorFill::kLongRopeLong);
    vector("rope_factors_short.weight", n_freq, TensorFill::kLongRopeShort);
  }

  const bool fused = arch == "phi3";
  const bool parallel = arch == "command-r";
  const bool gemma = arch == "gemma3";
  for (int64_t l = 0; l < s.n_layer; ++l) {
    const std::string p = fmt::format("blk.{}.", l);
    vector(p + "attn_norm.weight", e, TensorFill::kOnes);
    if (fused) {
      matrix(p + "attn_qkv.weight", e, s.q_dim() + 2 * s.kv_dim());
    } else {
      matrix(p + "attn_q.weight", e, s.q_dim());
      matrix(p + "attn_k.weight", e, s.kv_dim());
      matrix(p + "attn_v.weight", e, s.kv_dim());
    }
    if (arch == "qwen2") {
      vector(p + "attn_q.bias", s.q_dim(), TensorFill::kNormal);
      vector(p + "attn_k.bias", s.kv_dim(), TensorFill::kNormal);
      vector(p + "attn_v.bias", s.kv_dim(), TensorFill::kNormal);
    }
    if (gemma) {
      vector(p + "attn_q_norm.weight", s.head_size(), TensorFill::kOnes);
      vector(p + "attn_k_norm.weight", s.head_size(), TensorFill::kOnes);
    }
    matrix(p + "attn_output.weight", s.q_dim(), e);
    if (gemma) vector(p + "post_attention_norm.weight", e, TensorFill::kOnes);
    if (!parallel) vector(p + "ffn_norm.weight", e, TensorFill::kOnes);
    if (!fused) matrix(p + "ffn_gate.weight", e, s.n_ff);
    matrix(p + "ffn_up.weight", e, fused ? 2 * s.n_ff : s.n_ff);
    matrix(p + "ffn_down.weight", s.n_ff, e);
    if (gemma) vector(p + "post_ffw_norm.weight", e, TensorFill::kOnes);
  }

  std::vector<std::string> names;
  names.reserve(out.size());
  for (const auto& t : out) names.push_back(t.name);
  std::vector<SynthTensor> ordered;
  ordered.reserve(out.size());
  for (size_t i : quantize_order(names)) ordered.push_back(std::move(out[i]));
  assign_synth_types(ordered, s, target);
  return ordered;
}

std::vector<float> rope_factor_values(TensorFill fill, int64_t n_freq, float rope_base) {
  std::vector<float> v(static_cast<size_t>(n_freq), 1.0f);
  if (fill == TensorFill::kLlama3Freqs) {
    // convert_hf_to_gguf.py's LlamaModel for rope_scaling "llama3": factor 32, low 1, high 4,
    // original context 8192 (Llama 3.2 1B / 3B).
    constexpr double kFactor = 32, kLow = 1, kHigh = 4, kOrigCtx = 8192;
    const double low_wavelen = kOrigCtx / kLow;
    const double high_wavelen = kOrigCtx / kHigh;
    for (int64_t i = 0; i < n_freq; ++i) {
      const double freq = std::pow(static_cast<double>(rope_base),
                                   -2.0 * static_cast<double>(i) / static_cast<double>(2 * n_freq));
      const double wavelen = 2 * std::numbers::pi / freq;
      double f = 1;
      if (wavelen > low_wavelen) {
        f = kFactor;
      } else if (wavelen >= high_wavelen) {
        const double smooth = (kOrigCtx / wavelen - kLow) / (kHigh - kLow);
        f = 1 / ((1 - smooth) / kFactor + smooth);
      }
      v[static_cast<size_t>(i)] = static_cast<float>(f);
    }
  } else if (fill == TensorFill::kLongRopeLong) {
    for (int64_t i = 0; i < n_freq; ++i) {
      const double t = n_freq > 1 ? static_cast<double>(i) / static_cast<double>(n_freq - 1) : 0;
      v[static_cast<size_t>(i)] = static_cast<float>(std::pow(32.0, t));
    }
  }
  return v;
}

}  // namespace capibara::tools
