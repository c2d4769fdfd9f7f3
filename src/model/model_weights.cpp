// Binds a file's tensors (GGUF tensor names are a wire format) to the weights the knobs of its
// `ModelConfig` call for, checking every shape and type.
#include <string>

#include <fmt/core.h>

#include "core/error.hpp"
#include "kernels/dequantize.hpp"
#include "model/model.hpp"

namespace capibara {
namespace {

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

class Binder {
 public:
  Binder(const gguf::GgufFile& file, ModelWeights& weights) : file_(file), weights_(weights) {}

  bool has(const std::string& name) const { return file_.find_tensor(name) != nullptr; }
  const std::string& display_name() const { return file_.display_name(); }

  kernels::WeightMatrix matrix(const std::string& name, int64_t rows, int64_t cols) const {
    const auto& t = file_.require_tensor(name);
    if (t.shape.size() != 2 || t.shape[0] != cols || t.shape[1] != rows) {
      throw FormatError(fmt::format("{}: tensor '{}' has shape {}, expected [{}, {}]",
                                    file_.display_name(), name, shape_string(t.shape), cols, rows));
    }
    if (!kernels::can_dequantize(t.type)) {
      throw UnsupportedError(
          fmt::format("{}: tensor '{}' has type {}, which capibara cannot "
                      "compute with",
                      file_.display_name(), name, ggml_type_name(t.type)));
    }
    return kernels::WeightMatrix{t.type, t.data, rows, cols, t.row_bytes()};
  }

  // A vector of `n` floats, or of `n_rows` rows of `n` (per-head norms); stored in f32 or
  // converted once.
  const float* vector(const std::string& name, int64_t n, int64_t n_rows = 1) const {
    const auto& t = file_.require_tensor(name);
    const bool shape_ok = n_rows == 1
                              ? t.shape.size() == 1 && t.shape[0] == n
                              : t.shape.size() == 2 && t.shape[0] == n && t.shape[1] == n_rows;
    if (!shape_ok) {
      throw FormatError(
          fmt::format("{}: tensor '{}' has shape {}, expected {}", file_.display_name(), name,
                      shape_string(t.shape),
                      n_rows == 1 ? fmt::format("[{}]", n) : fmt::format("[{}, {}]", n, n_rows)));
    }
    if (t.type == GgmlType::kF32) return reinterpret_cast<const float*>(t.data);
    if (!kernels::can_dequantize(t.type)) {
      throw UnsupportedError(fmt::format("{}: tensor '{}' has unsupported type {}",
                                         file_.display_name(), name, ggml_type_name(t.type)));
    }
    auto& buf = weights_.converted.emplace_back(static_cast<size_t>(n * n_rows));
    for (int64_t r = 0; r < n_rows; ++r) {
      kernels::dequantize_row_ref(t.type, t.data + static_cast<size_t>(r) * t.row_bytes(),
                                  buf.data() + r * n, n);
    }
    return buf.data();
  }

  const float* optional_vector(const std::string& name, int64_t n) const {
    return has(name) ? vector(name, n) : nullptr;
  }

  // A per-head norm: one `head_dim` weight vector shared by all heads (Gemma 3) or one per head
  // (Command R+). Sets `stride` to the floats between two heads' weights.
  const float* head_norm(const std::string& name, int64_t head_dim, int64_t n_heads,
                         int64_t& stride) const {
    const auto& t = file_.require_tensor(name);
    stride = t.shape.size() == 2 ? head_dim : 0;
    return vector(name, head_dim, t.shape.size() == 2 ? n_heads : 1);
  }

 private:
  const gguf::GgufFile& file_;
  ModelWeights& weights_;
};

void bind_layer(const Binder& b, const ModelConfig& c, int64_t l, LayerWeights& w) {
  const std::string p = fmt::format("blk.{}.", l);
  w.attn_norm = b.vector(p + "attn_norm.weight", c.n_embd);
  // Any architecture may store q, k and v as one matrix, as llama.cpp's loader allows.
  if (!b.has(p + "attn_qkv.weight") && !b.has(p + "attn_q.weight")) {
    throw FormatError(
        fmt::format("{}: missing required tensor '{}attn_qkv.weight' (or "
                    "'{}attn_q.weight', '{}attn_k.weight', '{}attn_v.weight')",
                    b.display_name(), p, p, p, p));
  }
  if (b.has(p + "attn_qkv.weight")) {
    w.wqkv = b.matrix(p + "attn_qkv.weight", c.q_dim() + 2 * c.kv_dim(), c.n_embd);
  } else {
    w.wq = b.matrix(p + "attn_q.weight", c.q_dim(), c.n_embd);
    w.wk = b.matrix(p + "attn_k.weight", c.kv_dim(), c.n_embd);
    w.wv = b.matrix(p + "attn_v.weight", c.kv_dim(), c.n_embd);
  }
  if (c.attention_bias) {
    w.bq = b.vector(p + "attn_q.bias", c.q_dim());
    w.bk = b.vector(p + "attn_k.bias", c.kv_dim());
    w.bv = b.vector(p + "attn_v.bias", c.kv_dim());
  } else {
    w.bq = b.optional_vector(p + "attn_q.bias", c.q_dim());
    w.bk = b.optional_vector(p + "attn_k.bias", c.kv_dim());
    w.bv = b.optional_vector(p + "attn_v.bias", c.kv_dim());
  }
  if (c.qk_norm || b.has(p + "attn_q_norm.weight")) {
    w.q_norm = b.head_norm(p + "attn_q_norm.weight", c.head_dim, c.n_head, w.q_norm_stride);
    w.k_norm = b.head_norm(p + "attn_k_norm.weight", c.head_dim, c.n_head_kv, w.k_norm_stride);
  }
  w.wo = b.matrix(p + "attn_output.weight", c.n_embd, c.q_dim());
  w.bo = b.optional_vector(p + "attn_output.bias", c.n_embd);
  if (c.post_norms) {
    w.post_attn_norm = b.vector(p + "post_attention_norm.weight", c.n_embd);
    w.post_ffn_norm = b.vector(p + "post_ffw_norm.weight", c.n_embd);
  }
  if (c.residual == ResidualLayout::kSequential) {
    w.ffn_norm = b.vector(p + "ffn_norm.weight", c.n_embd);
  }
  if (!c.fused_gate_up) w.w_gate = b.matrix(p + "ffn_gate.weight", c.n_ff, c.n_embd);
  w.w_up = b.matrix(p + "ffn_up.weight", c.ffn_up_rows(), c.n_embd);
  w.w_down = b.matrix(p + "ffn_down.weight", c.n_embd, c.n_ff);
}

}  // namespace

ModelWeights bind_model_weights(const gguf::GgufFile& file, ModelConfig& c, int64_t n_ctx) {
  ModelWeights weights;
  const Binder b(file, weights);
  const auto& embd = file.require_tensor("token_embd.weight");
  if (embd.shape.size() != 2) {
    throw FormatError(fmt::format("{}: tensor 'token_embd.weight' must be 2-D, has shape {}",
                                  file.display_name(), shape_string(embd.shape)));
  }
  c.n_vocab = embd.shape[1];
  // Pointers into `converted` must stay valid: reserve for every 1-D tensor a file may have.
  weights.converted.reserve(static_cast<size_t>(16 * c.n_layer + 8));
  weights.token_embd = b.matrix("token_embd.weight", c.n_vocab, c.n_embd);
  weights.output_norm = b.vector("output_norm.weight", c.n_embd);
  weights.output =
      b.has("output.weight") ? b.matrix("output.weight", c.n_vocab, c.n_embd) : weights.token_embd;
  weights.output_bias = b.optional_vector("output.bias", c.n_vocab);

  const int64_t n_freq = c.rope.n_rot / 2;
  if (b.has("rope_freqs.weight")) {
    c.rope.freq_factors = b.vector("rope_freqs.weight", n_freq);
  } else if (c.rope_scaling == RopeScaling::kLlama3) {
    throw FormatError(fmt::format("{}: rope scaling 'llama3' needs tensor 'rope_freqs.weight'",
                                  file.display_name()));
  } else if (b.has("rope_factors_long.weight") || b.has("rope_factors_short.weight") ||
             c.rope_scaling == RopeScaling::kLongRope) {
    // LongRoPE, as llama.cpp chooses: the long factors once a sequence may outgrow the
    // original context, the short ones below it.
    c.rope.freq_factors = n_ctx > c.rope_n_ctx_orig ? b.vector("rope_factors_long.weight", n_freq)
                                                    : b.vector("rope_factors_short.weight", n_freq);
  }
  // Sliding-window layers share the global factors unless they have their own base (Gemma 3,
  // whose files carry no factors).
  c.rope_swa.freq_factors = c.rope.freq_factors;

  weights.layers.resize(static_cast<size_t>(c.n_layer));
  for (int64_t l = 0; l < c.n_layer; ++l) {
    bind_layer(b, c, l, weights.layers[static_cast<size_t>(l)]);
  }
  return weights;
}

}  // namespace capibara
