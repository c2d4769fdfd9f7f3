// The shared building blocks of the forward pass: norms, the attention block (projections,
// biases, per-head norms, RoPE, KV store, attention, output projection), the gated FFN and the
// output head. The knobs of `ModelConfig` choose the variant; nothing here names an
// architecture.
#include <algorithm>
#include <cstring>

#include "kernels/ops.hpp"
#include "model/attention.hpp"
#include "model/model.hpp"

namespace capibara {
namespace {

void norm_row(NormType type, const float* x, const float* weight, float* out, int64_t n,
              float eps) {
  if (type == NormType::kRms) {
    kernels::rms_norm(x, weight, out, n, eps);
  } else {
    kernels::layer_norm(x, weight, out, n, eps);
  }
}

// Per-head norm of `n_heads` heads of `head_dim` values, in place; `stride` 0 shares one weight
// vector between the heads.
void norm_heads(NormType type, float* x, const float* weight, int64_t stride, int64_t n_heads,
                int64_t head_dim, float eps) {
  for (int64_t h = 0; h < n_heads; ++h) {
    norm_row(type, x + h * head_dim, weight + h * stride, x + h * head_dim, head_dim, eps);
  }
}

void add_bias(const float* bias, float* rows, int64_t n, int64_t width) {
  if (bias == nullptr) return;
  for (int64_t t = 0; t < n; ++t) kernels::add(bias, rows + t * width, width);
}

}  // namespace

void Model::norm_rows(const float* weight, const float* in, float* out, int64_t n) {
  const NormType type = config_.norm;
  const float eps = config_.norm_eps;
  const int64_t e = config_.n_embd;
  pool_.parallel_for(n, [&](int64_t begin, int64_t end, int) {
    for (int64_t t = begin; t < end; ++t) norm_row(type, in + t * e, weight, out + t * e, e, eps);
  });
}

void Model::attention_block(int64_t layer, std::span<const BatchToken> batch,
                            std::span<SequenceKvCache* const> caches) {
  const ModelConfig& c = config_;
  const LayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
  const LayerConfig& lc = c.layers[static_cast<size_t>(layer)];
  const auto n = static_cast<int64_t>(batch.size());
  const int64_t qd = c.q_dim();
  const int64_t kvd = c.kv_dim();

  if (w.wqkv.data != nullptr) {
    // Fused projection: each row is [q; k; v].
    kernels::matmul(w.wqkv, xn_.data(), n, qkv_.data(), pool_, matmul_scratch_);
    const int64_t width = qd + 2 * kvd;
    for (int64_t t = 0; t < n; ++t) {
      const float* row = qkv_.data() + t * width;
      std::memcpy(q_.data() + t * qd, row, static_cast<size_t>(qd) * sizeof(float));
      std::memcpy(k_.data() + t * kvd, row + qd, static_cast<size_t>(kvd) * sizeof(float));
      std::memcpy(v_.data() + t * kvd, row + qd + kvd, static_cast<size_t>(kvd) * sizeof(float));
    }
  } else {
    const kernels::WeightMatrix* ws[] = {&w.wq, &w.wk, &w.wv};
    float* ys[] = {q_.data(), k_.data(), v_.data()};
    kernels::matmul_shared_input(ws, xn_.data(), n, ys, pool_, matmul_scratch_);
  }
  add_bias(w.bq, q_.data(), n, qd);
  add_bias(w.bk, k_.data(), n, kvd);
  add_bias(w.bv, v_.data(), n, kvd);

  const kernels::RopeParams& rope = lc.sliding_window ? c.rope_swa : c.rope;
  const float* rope_cs = lc.sliding_window ? rope_cs_swa_.data() : rope_cs_.data();
  pool_.parallel_for(n, [&](int64_t begin, int64_t end, int) {
    for (int64_t t = begin; t < end; ++t) {
      float* q = q_.data() + t * qd;
      float* k = k_.data() + t * kvd;
      if (w.q_norm != nullptr) {
        norm_heads(c.norm, q, w.q_norm, w.q_norm_stride, c.n_head, c.head_dim, c.norm_eps);
        norm_heads(c.norm, k, w.k_norm, w.k_norm_stride, c.n_head_kv, c.head_dim, c.norm_eps);
      }
      if (lc.rope) {
        const float* cs = rope_cs + t * rope.n_rot;
        kernels::rope_apply(rope, cs, q, c.n_head, c.head_dim);
        kernels::rope_apply(rope, cs, k, c.n_head_kv, c.head_dim);
      }
    }
  });
  for (int64_t t = 0; t < n; ++t) {
    caches[batch[t].seq]->store(layer, batch[t].pos, k_.data() + t * kvd, v_.data() + t * kvd);
  }

  const AttentionShape shape{c.n_head, c.n_head_kv, c.head_dim, c.attention_scale,
                             lc.sliding_window ? c.sliding_window : 0};
  attend(shape, layer, batch, caches, q_.data(), attn_out_.data(), attn_workspace_, pool_);
  kernels::matmul(w.wo, attn_out_.data(), n, proj_.data(), pool_, matmul_scratch_);
  add_bias(w.bo, proj_.data(), n, c.n_embd);
}

void Model::ffn_block(int64_t layer, int64_t n, float* out) {
  const ModelConfig& c = config_;
  const LayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
  const int64_t ff = c.n_ff;
  const float* up = up_.data();
  int64_t up_stride = ff;
  if (c.fused_gate_up) {
    kernels::matmul(w.w_up, xn_.data(), n, up_.data(), pool_, matmul_scratch_);
    // Each row of `up_` is [gate; up]: the gate half moves to `gate_`, which the activation and
    // the down projection want contiguous.
    for (int64_t t = 0; t < n; ++t) {
      std::memcpy(gate_.data() + t * ff, up_.data() + t * 2 * ff,
                  static_cast<size_t>(ff) * sizeof(float));
    }
    up = up_.data() + ff;
    up_stride = 2 * ff;
  } else {
    const kernels::WeightMatrix* ws[] = {&w.w_gate, &w.w_up};
    float* ys[] = {gate_.data(), up_.data()};
    kernels::matmul_shared_input(ws, xn_.data(), n, ys, pool_, matmul_scratch_);
  }
  const Activation act = c.activation;
  pool_.parallel_for(n, [&](int64_t begin, int64_t end, int) {
    for (int64_t t = begin; t < end; ++t) {
      float* g = gate_.data() + t * ff;
      const float* u = up + t * up_stride;
      if (act == Activation::kSilu) {
        kernels::swiglu(g, u, ff);
      } else {
        kernels::geglu_tanh(g, u, ff);
      }
    }
  });
  kernels::matmul(w.w_down, gate_.data(), n, out, pool_, matmul_scratch_);
}

void Model::output_logits(std::span<const BatchToken> batch, float* logits) {
  const ModelConfig& c = config_;
  const int64_t e = c.n_embd;
  int64_t n_out = 0;
  for (size_t t = 0; t < batch.size(); ++t) {
    if (!batch[t].want_logits) continue;
    norm_row(c.norm, x_.data() + static_cast<int64_t>(t) * e, weights_.output_norm,
             logit_rows_.data() + n_out * e, e, c.norm_eps);
    ++n_out;
  }
  if (n_out == 0) return;
  kernels::matmul(weights_.output, logit_rows_.data(), n_out, logits, pool_, matmul_scratch_);
  const int64_t v = c.n_vocab;
  for (int64_t r = 0; r < n_out; ++r) {
    float* row = logits + r * v;
    if (weights_.output_bias != nullptr) kernels::add(weights_.output_bias, row, v);
    if (c.logit_scale != 1.0f) kernels::scale(row, c.logit_scale, v);
    if (c.final_logit_softcap > 0.0f) kernels::softcap(row, c.final_logit_softcap, v);
  }
}

}  // namespace capibara
