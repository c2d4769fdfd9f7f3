// A loaded model: its configuration, its weights (used in place from the GGUF mapping, or
// repacked at load for faster kernels) and the
// forward pass over a batch of (token, position, sequence) entries. Prefill and decode are the
// same call: a prompt is a batch of consecutive positions, a decode step one token per sequence.
//
// Model layer role: the engine above calls `forward`; the kernels below do the arithmetic.
// Thread safety: `forward` is called by one thread at a time (the engine thread); it uses the
// model's own thread pool and the buffers sized at load, and allocates nothing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "core/aligned_buffer.hpp"
#include "core/huge_page_buffer.hpp"
#include "core/thread_pool.hpp"
#include "gguf/gguf_file.hpp"
#include "kernels/matmul.hpp"
#include "model/attention.hpp"
#include "model/batch.hpp"
#include "model/kv_cache.hpp"
#include "model/model_config.hpp"

namespace capibara {

struct ModelOptions {
  int n_threads = 0;               // 0: every hardware thread
  int64_t n_ctx = 0;               // positions per sequence; 0: the training context, capped
  int64_t max_batch_tokens = 512;  // tokens per forward call
  // Repack the matrices into the kernel table's packed layout at load where it has one
  // (kernels/packed_weights.hpp); off, every matrix is used in place from the mapping.
  bool repack_weights = true;
};

// Weights of one transformer block, bound to tensors of the file. Optional tensors are null.
struct LayerWeights {
  const float* attn_norm = nullptr;  // [n_embd]
  kernels::WeightMatrix wqkv;        // [q_dim + 2 kv_dim rows, n_embd] when fused (Phi-3), else
  kernels::WeightMatrix wq;          // [q_dim rows, n_embd]
  kernels::WeightMatrix wk;          // [kv_dim rows, n_embd]
  kernels::WeightMatrix wv;          // [kv_dim rows, n_embd]
  const float* bq = nullptr;         // [q_dim] optional biases (Qwen2)
  const float* bk = nullptr;         // [kv_dim]
  const float* bv = nullptr;         // [kv_dim]
  const float* q_norm = nullptr;     // [head_dim] or [n_head, head_dim] per-head norm (Gemma 3)
  const float* k_norm = nullptr;     // [head_dim] or [n_head_kv, head_dim]
  int64_t q_norm_stride = 0;         // floats between the weights of two heads; 0 when shared
  int64_t k_norm_stride = 0;
  kernels::WeightMatrix wo;               // [n_embd rows, q_dim]
  const float* bo = nullptr;              // [n_embd] optional
  const float* post_attn_norm = nullptr;  // [n_embd] (Gemma 3)
  const float* ffn_norm = nullptr;        // [n_embd]; none with a parallel residual
  kernels::WeightMatrix w_gate;           // [n_ff rows, n_embd]; empty when fused into w_up
  kernels::WeightMatrix w_up;             // [ffn_up_rows rows, n_embd]
  kernels::WeightMatrix w_down;           // [n_embd rows, n_ff]
  const float* post_ffn_norm = nullptr;   // [n_embd] (Gemma 3)
};

struct ModelWeights {
  kernels::WeightMatrix token_embd;  // [n_vocab rows, n_embd]
  std::vector<LayerWeights> layers;
  const float* output_norm = nullptr;  // [n_embd]
  kernels::WeightMatrix output;        // [n_vocab rows, n_embd]; token_embd when tied
  const float* output_bias = nullptr;  // [n_vocab] optional
  // 1-D tensors stored in a type other than f32, converted once at load.
  std::vector<std::vector<float>> converted;
  // Matrices repacked at load (`pack_model_weights`), one after another; their
  // WeightMatrix::packed points here.
  HugePageBuffer packed;
};

// Binds the tensors `config` calls for (model_weights.cpp); sets `config.n_vocab` and the rope
// frequency factors (chosen for a context of `n_ctx` positions). FormatError / UnsupportedError
// naming a missing tensor or one with the wrong shape or type.
ModelWeights bind_model_weights(const gguf::GgufFile& file, ModelConfig& config, int64_t n_ctx);
// Repacks every matrix the forward pass multiplies for which `table` has a packed kernel
// (weight_packing.cpp), and drops the mapped pages of those no lookup reads any more.
void pack_model_weights(ModelWeights& weights, const kernels::KernelTable& table,
                        const gguf::GgufFile& file, ThreadPool& pool);

class Model {
 public:
  // Opens, validates and binds the model. Throws FormatError / UnsupportedError naming the
  // problem (missing key or tensor, wrong shape, unsupported architecture).
  static std::unique_ptr<Model> load(const std::filesystem::path& path,
                                     const ModelOptions& options = {});
  static std::unique_ptr<Model> load(gguf::GgufFile file, const ModelOptions& options = {});

  const ModelConfig& config() const { return config_; }
  const gguf::GgufFile& file() const { return file_; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t max_batch_tokens() const { return max_batch_tokens_; }
  int n_threads() const { return pool_.size(); }
  // The pool `forward` runs on; for its time accounting (`capibara bench --pool-stats`), which
  // may only be switched between forward passes, by the thread that runs them.
  ThreadPool& thread_pool() { return pool_; }

  SequenceKvCache make_kv_cache(KvType type) const;

  // Runs `batch` (at most max_batch_tokens entries) and writes one row of `n_vocab` logits per
  // entry with `want_logits`, in batch order, to `logits`. `caches[seq]` holds sequence `seq`;
  // its positions before each entry's `pos` must already be computed. InvalidArgumentError for
  // a token id or position out of range.
  void forward(std::span<const BatchToken> batch, std::span<SequenceKvCache* const> caches,
               float* logits);

 private:
  Model(gguf::GgufFile file, const ModelOptions& options);
  void allocate_buffers();
  void validate(std::span<const BatchToken> batch, std::span<SequenceKvCache* const> caches) const;
  // The sub-blocks of the shared forward pass (transformer.cpp), over the first `n` rows.
  // `norm_rows` normalises rows of n_embd values; `out` may alias `in`.
  void norm_rows(const float* weight, const float* in, float* out, int64_t n);
  void attention_block(int64_t layer, std::span<const BatchToken> batch,
                       std::span<SequenceKvCache* const> caches);
  void ffn_block(int64_t layer, int64_t n, float* out);
  void output_logits(std::span<const BatchToken> batch, float* logits);

  gguf::GgufFile file_;
  ModelConfig config_;
  ModelWeights weights_;
  int64_t n_ctx_ = 0;
  int64_t max_batch_tokens_ = 0;
  ThreadPool pool_;
  kernels::MatmulScratch matmul_scratch_;

  // Activations for the largest batch, B = max_batch_tokens, each starting on a cache line.
  AlignedVector<float> x_;            // [B, n_embd] residual stream
  AlignedVector<float> xn_;           // [B, n_embd] normalised input of a sub-block
  AlignedVector<float> qkv_;          // [B, q_dim + 2 kv_dim] fused projection; empty if unused
  AlignedVector<float> q_;            // [B, q_dim]
  AlignedVector<float> k_;            // [B, kv_dim]
  AlignedVector<float> v_;            // [B, kv_dim]
  AlignedVector<float> attn_out_;     // [B, q_dim]
  AlignedVector<float> proj_;         // [B, n_embd] output of attn_output / ffn_down
  AlignedVector<float> ffn_out_;      // [B, n_embd] FFN output beside proj_ (parallel residual)
  AlignedVector<float> gate_;         // [B, n_ff]
  AlignedVector<float> up_;           // [B, ffn_up_rows] (fused: [gate; up] per row)
  AlignedVector<float> rope_cs_;      // [B, n_rot] cos/sin pairs per batch entry, global layers
  AlignedVector<float> rope_cs_swa_;  // [B, n_rot] the same for sliding-window layers
  AlignedVector<float> logit_rows_;   // [B, n_embd] final-normed rows that want logits
  AttentionWorkspace attn_workspace_;
};

}  // namespace capibara
