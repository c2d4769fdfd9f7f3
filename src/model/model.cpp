// Loading, the execution plan (buffers sized once) and the layer loop of the forward pass; the
// sub-blocks it calls are in transformer.cpp.
#include "model/model.hpp"

#include <algorithm>

#include <fmt/core.h>

#include "core/error.hpp"
#include "kernels/dequantize.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/ops.hpp"
#include "model/attention.hpp"

namespace capibara {
namespace {

// Contexts beyond this are opt-in (`--ctx`): a per-sequence f32 cache grows linearly with it.
constexpr int64_t kDefaultMaxCtx = 4096;

}  // namespace

std::unique_ptr<Model> Model::load(const std::filesystem::path& path, const ModelOptions& options) {
  return load(gguf::GgufFile::open(path), options);
}

std::unique_ptr<Model> Model::load(gguf::GgufFile file, const ModelOptions& options) {
  return std::unique_ptr<Model>(new Model(std::move(file), options));
}

Model::Model(gguf::GgufFile file, const ModelOptions& options)
    : file_(std::move(file)), pool_(options.n_threads) {
  config_ = read_model_config(file_);
  if (options.n_ctx < 0 || options.max_batch_tokens <= 0) {
    throw InvalidArgumentError("context size must be >= 0 and batch size positive");
  }
  n_ctx_ = options.n_ctx > 0 ? options.n_ctx : std::min(config_.n_ctx_train, kDefaultMaxCtx);
  max_batch_tokens_ = options.max_batch_tokens;
  weights_ = bind_model_weights(file_, config_, n_ctx_);
  if (options.repack_weights) pack_model_weights(weights_, kernels::active_kernels(), file_, pool_);
  allocate_buffers();
}

void Model::allocate_buffers() {
  const ModelConfig& c = config_;
  const auto b = static_cast<size_t>(max_batch_tokens_);
  auto sized = [&](AlignedVector<float>& v, int64_t per_token) {
    v.assign(b * static_cast<size_t>(per_token), 0.0f);
  };
  const bool fused_qkv = std::any_of(weights_.layers.begin(), weights_.layers.end(),
                                     [](const LayerWeights& w) { return w.wqkv.data != nullptr; });
  sized(x_, c.n_embd);
  sized(xn_, c.n_embd);
  sized(qkv_, fused_qkv ? c.q_dim() + 2 * c.kv_dim() : 0);
  sized(q_, c.q_dim());
  sized(k_, c.kv_dim());
  sized(v_, c.kv_dim());
  sized(attn_out_, c.q_dim());
  sized(proj_, c.n_embd);
  sized(ffn_out_, c.residual == ResidualLayout::kParallel ? c.n_embd : 0);
  sized(gate_, c.n_ff);
  sized(up_, c.ffn_up_rows());
  sized(rope_cs_, c.rope.n_rot);
  sized(rope_cs_swa_, c.has_sliding_window() ? c.rope_swa.n_rot : 0);
  sized(logit_rows_, c.n_embd);
  const AttentionShape shape{c.n_head, c.n_head_kv, c.head_dim, c.attention_scale, 0};
  attn_workspace_ = AttentionWorkspace(shape, pool_.size());
  matmul_scratch_ = kernels::MatmulScratch(pool_.size(), std::max({c.n_embd, c.n_ff, c.q_dim()}),
                                           max_batch_tokens_);
}

SequenceKvCache Model::make_kv_cache(KvType type) const {
  return SequenceKvCache(config_.n_layer, n_ctx_, config_.n_head_kv, config_.head_dim, type);
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
    if (e.pos >= caches[e.seq]->capacity_tokens()) {
      throw InvalidArgumentError(
          fmt::format("position {} has no KV block in sequence {}'s block table", e.pos, e.seq));
    }
  }
}

void Model::forward(std::span<const BatchToken> batch, std::span<SequenceKvCache* const> caches,
                    float* logits) {
  validate(batch, caches);
  const ModelConfig& c = config_;
  const auto n = static_cast<int64_t>(batch.size());
  const int64_t e = c.n_embd;

  const bool swa = !rope_cs_swa_.empty();
  for (int64_t t = 0; t < n; ++t) {
    kernels::dequantize_row(weights_.token_embd, batch[t].token, x_.data() + t * e);
    if (c.embedding_scale != 1.0f) kernels::scale(x_.data() + t * e, c.embedding_scale, e);
    kernels::rope_angles(c.rope, batch[t].pos, rope_cs_.data() + t * c.rope.n_rot);
    if (swa) {
      kernels::rope_angles(c.rope_swa, batch[t].pos, rope_cs_swa_.data() + t * c.rope_swa.n_rot);
    }
  }

  for (int64_t l = 0; l < c.n_layer; ++l) {
    const LayerWeights& w = weights_.layers[static_cast<size_t>(l)];
    norm_rows(w.attn_norm, x_.data(), xn_.data(), n);
    attention_block(l, batch, caches);  // xn_ -> proj_
    if (w.post_attn_norm != nullptr) {
      norm_rows(w.post_attn_norm, proj_.data(), proj_.data(), n);
    }
    if (c.residual == ResidualLayout::kParallel) {
      // x + ffn(xn) + attn(xn), added in llama.cpp's order so that the sums round alike.
      ffn_block(l, n, ffn_out_.data());
      kernels::add(ffn_out_.data(), x_.data(), n * e);
      kernels::add(proj_.data(), x_.data(), n * e);
      continue;
    }
    kernels::add(proj_.data(), x_.data(), n * e);
    norm_rows(w.ffn_norm, x_.data(), xn_.data(), n);
    ffn_block(l, n, proj_.data());
    if (w.post_ffn_norm != nullptr) {
      norm_rows(w.post_ffn_norm, proj_.data(), proj_.data(), n);
    }
    kernels::add(proj_.data(), x_.data(), n * e);
  }

  for (const BatchToken& entry : batch) {
    SequenceKvCache& cache = *caches[entry.seq];
    cache.set_n_tokens(std::max(cache.n_tokens(), entry.pos + 1));
  }
  output_logits(batch, logits);
}

}  // namespace capibara
