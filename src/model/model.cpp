// Loading and the shared transformer forward pass (Llama family).
#include "model/model.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/core.h>

#include "core/error.hpp"
#include "kernels/dequantize.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/ops.hpp"
#include "model/architecture.hpp"

namespace capibara {
namespace {

// Contexts beyond this are opt-in (`--ctx`): a per-sequence f32 cache grows linearly with it.
constexpr int64_t kDefaultMaxCtx = 4096;

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

std::unique_ptr<Model> Model::load(const std::filesystem::path& path, const ModelOptions& options) {
  return load(gguf::GgufFile::open(path), options);
}

std::unique_ptr<Model> Model::load(gguf::GgufFile file, const ModelOptions& options) {
  return std::unique_ptr<Model>(new Model(std::move(file), options));
}

Model::Model(gguf::GgufFile file, const ModelOptions& options)
    : file_(std::move(file)), pool_(options.n_threads) {
  require_supported_architecture(file_);
  config_ = read_model_config(file_);
  if (options.n_ctx < 0 || options.max_batch_tokens <= 0) {
    throw InvalidArgumentError("context size must be >= 0 and batch size positive");
  }
  n_ctx_ = options.n_ctx > 0 ? options.n_ctx : std::min(config_.n_ctx_train, kDefaultMaxCtx);
  max_batch_tokens_ = options.max_batch_tokens;
  bind_weights();
  allocate_buffers();
}

void Model::bind_weights() {
  const ModelConfig& c = config_;
  auto matrix = [&](const std::string& name, int64_t rows, int64_t cols) {
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
  };
  auto vector = [&](const std::string& name, int64_t n) -> const float* {
    const auto& t = file_.require_tensor(name);
    if (t.n_elements() != n || t.shape.size() != 1) {
      throw FormatError(fmt::format("{}: tensor '{}' has shape {}, expected [{}]",
                                    file_.display_name(), name, shape_string(t.shape), n));
    }
    if (t.type == GgmlType::kF32) return reinterpret_cast<const float*>(t.data);
    if (!kernels::can_dequantize(t.type)) {
      throw UnsupportedError(fmt::format("{}: tensor '{}' has unsupported type {}",
                                         file_.display_name(), name, ggml_type_name(t.type)));
    }
    auto& buf = weights_.converted.emplace_back(static_cast<size_t>(n));
    kernels::dequantize_row_ref(t.type, t.data, buf.data(), n);
    return buf.data();
  };

  const auto& embd = file_.require_tensor("token_embd.weight");
  if (embd.shape.size() != 2) {
    throw FormatError(fmt::format("{}: tensor 'token_embd.weight' must be 2-D, has shape {}",
                                  file_.display_name(), shape_string(embd.shape)));
  }
  config_.n_vocab = embd.shape[1];
  weights_.converted.reserve(static_cast<size_t>(2 * c.n_layer + 2));
  weights_.token_embd = matrix("token_embd.weight", c.n_vocab, c.n_embd);
  weights_.output_norm = vector("output_norm.weight", c.n_embd);
  weights_.output = file_.find_tensor("output.weight") != nullptr
                        ? matrix("output.weight", c.n_vocab, c.n_embd)
                        : weights_.token_embd;
  if (file_.find_tensor("rope_freqs.weight") != nullptr) {
    config_.rope.freq_factors = vector("rope_freqs.weight", c.rope.n_rot / 2);
  } else if (c.rope_scaling == RopeScaling::kLlama3) {
    throw FormatError(fmt::format("{}: rope scaling 'llama3' needs tensor 'rope_freqs.weight'",
                                  file_.display_name()));
  }

  weights_.layers.resize(static_cast<size_t>(c.n_layer));
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string p = fmt::format("blk.{}.", l);
    LayerWeights& w = weights_.layers[static_cast<size_t>(l)];
    w.attn_norm = vector(p + "attn_norm.weight", c.n_embd);
    w.wq = matrix(p + "attn_q.weight", c.q_dim(), c.n_embd);
    w.wk = matrix(p + "attn_k.weight", c.kv_dim(), c.n_embd);
    w.wv = matrix(p + "attn_v.weight", c.kv_dim(), c.n_embd);
    w.wo = matrix(p + "attn_output.weight", c.n_embd, c.q_dim());
    w.ffn_norm = vector(p + "ffn_norm.weight", c.n_embd);
    w.w_gate = matrix(p + "ffn_gate.weight", c.n_ff, c.n_embd);
    w.w_up = matrix(p + "ffn_up.weight", c.n_ff, c.n_embd);
    w.w_down = matrix(p + "ffn_down.weight", c.n_embd, c.n_ff);
  }
}

void Model::allocate_buffers() {
  const ModelConfig& c = config_;
  const auto b = static_cast<size_t>(max_batch_tokens_);
  auto sized = [&](std::vector<float>& v, int64_t per_token) {
    v.assign(b * static_cast<size_t>(per_token), 0.0f);
  };
  sized(x_, c.n_embd);
  sized(xn_, c.n_embd);
  sized(q_, c.q_dim());
  sized(k_, c.kv_dim());
  sized(v_, c.kv_dim());
  sized(attn_out_, c.q_dim());
  sized(proj_, c.n_embd);
  sized(gate_, c.n_ff);
  sized(up_, c.n_ff);
  sized(rope_cs_, c.rope.n_rot);
  sized(logit_rows_, c.n_embd);
  attn_scratch_.assign(
      static_cast<size_t>(pool_.size()) * static_cast<size_t>(c.n_gqa() * n_ctx_ + 2 * c.head_dim),
      0.0f);
  matmul_scratch_ = kernels::MatmulScratch(pool_.size(), std::max({c.n_embd, c.n_ff, c.q_dim()}),
                                           max_batch_tokens_);
}

SequenceKvCache Model::make_kv_cache(KvType type) const {
  return SequenceKvCache(config_.n_layer, n_ctx_, config_.kv_dim(), type);
}

void Model::validate(std::span<const BatchToken> batch,
                     std::span<SequenceKvCache* const> caches) const {
  if (static_cast<int64_t>(batch.size()) > max_batch_tokens_) {
    throw InvalidArgumentError(fmt::format("batch of {} tokens exceeds the model's maximum of {}",
                                           batch.size(), max_batch_tokens_));
  }
  for (const BatchToken& e : batch) {
    if (e.token < 0 || e.token >= config_.n_vocab) {
      throw InvalidArgumentError(
          fmt::format("token id {} is out of range [0, {})", e.token, config_.n_vocab));
    }
    if (e.seq < 0 || static_cast<size_t>(e.seq) >= caches.size() || caches[e.seq] == nullptr) {
      throw InvalidArgumentError(fmt::format("batch refers to unknown sequence {}", e.seq));
    }
    if (e.pos < 0 || e.pos >= caches[e.seq]->n_ctx()) {
      throw InvalidArgumentError(fmt::format("position {} is outside the context of {} tokens",
                                             e.pos, caches[e.seq]->n_ctx()));
    }
  }
}

void Model::forward(std::span<const BatchToken> batch, std::span<SequenceKvCache* const> caches,
                    float* logits) {
  validate(batch, caches);
  const ModelConfig& c = config_;
  const auto n = static_cast<int64_t>(batch.size());
  const int64_t e = c.n_embd;

  for (int64_t t = 0; t < n; ++t) {
    kernels::dequantize_row(weights_.token_embd, batch[t].token, x_.data() + t * e);
    kernels::rope_angles(c.rope, batch[t].pos, rope_cs_.data() + t * c.rope.n_rot);
  }

  for (int64_t l = 0; l < c.n_layer; ++l) {
    const LayerWeights& w = weights_.layers[static_cast<size_t>(l)];
    pool_.parallel_for(n, [&](int64_t begin, int64_t end, int) {
      for (int64_t t = begin; t < end; ++t) {
        kernels::rms_norm(x_.data() + t * e, w.attn_norm, xn_.data() + t * e, e, c.norm_eps);
      }
    });
    kernels::matmul(w.wq, xn_.data(), n, q_.data(), pool_, matmul_scratch_);
    kernels::matmul(w.wk, xn_.data(), n, k_.data(), pool_, matmul_scratch_);
    kernels::matmul(w.wv, xn_.data(), n, v_.data(), pool_, matmul_scratch_);
    for (int64_t t = 0; t < n; ++t) {
      const float* cs = rope_cs_.data() + t * c.rope.n_rot;
      kernels::rope_apply(c.rope, cs, q_.data() + t * c.q_dim(), c.n_head, c.head_dim);
      kernels::rope_apply(c.rope, cs, k_.data() + t * c.kv_dim(), c.n_head_kv, c.head_dim);
      caches[batch[t].seq]->store(l, batch[t].pos, k_.data() + t * c.kv_dim(),
                                  v_.data() + t * c.kv_dim());
    }
    attention(l, batch, caches);
    kernels::matmul(w.wo, attn_out_.data(), n, proj_.data(), pool_, matmul_scratch_);
    kernels::add(proj_.data(), x_.data(), n * e);

    pool_.parallel_for(n, [&](int64_t begin, int64_t end, int) {
      for (int64_t t = begin; t < end; ++t) {
        kernels::rms_norm(x_.data() + t * e, w.ffn_norm, xn_.data() + t * e, e, c.norm_eps);
      }
    });
    kernels::matmul(w.w_gate, xn_.data(), n, gate_.data(), pool_, matmul_scratch_);
    kernels::matmul(w.w_up, xn_.data(), n, up_.data(), pool_, matmul_scratch_);
    kernels::swiglu(gate_.data(), up_.data(), n * c.n_ff);
    kernels::matmul(w.w_down, gate_.data(), n, proj_.data(), pool_, matmul_scratch_);
    kernels::add(proj_.data(), x_.data(), n * e);
  }

  for (const BatchToken& entry : batch) {
    SequenceKvCache& cache = *caches[entry.seq];
    cache.set_n_tokens(std::max(cache.n_tokens(), entry.pos + 1));
  }

  int64_t n_out = 0;
  for (int64_t t = 0; t < n; ++t) {
    if (!batch[t].want_logits) continue;
    kernels::rms_norm(x_.data() + t * e, weights_.output_norm, logit_rows_.data() + n_out * e, e,
                      c.norm_eps);
    ++n_out;
  }
  if (n_out > 0) {
    kernels::matmul(weights_.output, logit_rows_.data(), n_out, logits, pool_, matmul_scratch_);
  }
}

void Model::attention(int64_t layer, std::span<const BatchToken> batch,
                      std::span<SequenceKvCache* const> caches) {
  const ModelConfig& c = config_;
  const int64_t hd = c.head_dim;
  const int64_t n_gqa = c.n_gqa();
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const auto& kt = kernels::active_kernels();
  const size_t scratch_per_thread = static_cast<size_t>(n_gqa * n_ctx_ + 2 * hd);
  const auto n_items = static_cast<int64_t>(batch.size()) * c.n_head_kv;

  // One work item per (batch entry, KV head): the KV rows are read once for the whole group of
  // query heads that share them.
  pool_.parallel_for(n_items, [&](int64_t begin, int64_t end, int thread) {
    float* scores = attn_scratch_.data() + static_cast<size_t>(thread) * scratch_per_thread;
    float* row = scores + n_gqa * n_ctx_;  // [head_dim] one K or V head, as f32
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = item / c.n_head_kv;
      const int64_t g = item % c.n_head_kv;
      const BatchToken& entry = batch[static_cast<size_t>(t)];
      const SequenceKvCache& cache = *caches[entry.seq];
      const int64_t n_kv = entry.pos + 1;  // causal: positions 0..pos
      const float* q = q_.data() + t * c.q_dim() + g * n_gqa * hd;
      for (int64_t j = 0; j < n_kv; ++j) {
        cache.read_k(layer, j, g * hd, hd, row);
        for (int64_t h = 0; h < n_gqa; ++h) {
          scores[h * n_kv + j] = kt.dot_f32(q + h * hd, row, hd) * scale;
        }
      }
      float* out = attn_out_.data() + t * c.q_dim() + g * n_gqa * hd;
      std::fill(out, out + n_gqa * hd, 0.0f);
      for (int64_t h = 0; h < n_gqa; ++h) kernels::softmax(scores + h * n_kv, n_kv);
      for (int64_t j = 0; j < n_kv; ++j) {
        cache.read_v(layer, j, g * hd, hd, row);
        for (int64_t h = 0; h < n_gqa; ++h) {
          kt.axpy_f32(scores[h * n_kv + j], row, out + h * hd, hd);
        }
      }
    }
  });
}

}  // namespace capibara
