// The estimate mirrors what loading allocates: Model::allocate_buffers and MatmulScratch for
// the scratch, the engine's KV block pool for the KV cache. It errs on the high side (a
// refused load is cheap, an OOM kill is not).
#include "registry/memory_estimate.hpp"

#include <algorithm>
#include <thread>

#include <fmt/core.h>

#include "core/huge_page_buffer.hpp"
#include "gguf/gguf_file.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/packed_weights.hpp"
#include "model/attention.hpp"
#include "model/kv_cache.hpp"
#include "model/model_config.hpp"

namespace capibara {
namespace {

// Same cap as the model's default context (model.cpp): a file trained for 128k positions does
// not get a 128k KV cache unless the config asks for it.
constexpr int64_t kDefaultMaxCtx = 4096;

// fp8 also keeps one f32 scale per block, layer, K/V and KV head: under 1 % of its blocks.
double kv_element_bytes(KvType type) {
  switch (type) {
    case KvType::kF32:
      return 4.0;
    case KvType::kFp8:
      return 1.01;
    default:
      return 2.0;
  }
}

// What repacking at load (model/weight_packing.cpp) adds to the file's bytes with the kernel
// table in use: the packed layouts of the K-quants are a little larger than the tensors they
// replace (the mapped pages of which are dropped), and a tied output matrix is packed beside the
// embedding the lookups keep reading.
int64_t packing_overhead_bytes(const gguf::GgufFile& file) {
  const kernels::KernelTable& table = kernels::active_kernels();
  const bool tied = file.find_tensor("output.weight") == nullptr;
  int64_t extra = 0;
  bool any = false;
  for (const auto& t : file.tensors()) {
    if (t.shape.size() != 2 || kernels::packed_gemm_kernel(table, t.type) == nullptr ||
        !kernels::can_pack(t.type, t.shape[1], t.shape[0])) {
      continue;
    }
    any = true;
    const auto packed =
        static_cast<int64_t>(kernels::packed_matrix_bytes(t.type, t.shape[1], t.shape[0]));
    if (t.name == "token_embd.weight") {
      if (tied) extra += packed;  // packed for the logits, kept for the lookups
    } else {
      extra += std::max<int64_t>(0, packed - static_cast<int64_t>(t.n_bytes));
    }
  }
  // The packed matrices share one arena rounded up to whole huge pages.
  if (any) extra += static_cast<int64_t>(HugePageBuffer::kHugePage);
  return extra;
}

}  // namespace

std::string format_bytes(int64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (bytes >= (int64_t{1} << 30)) return fmt::format("{:.1f} GiB", b / (1 << 30));
  if (bytes >= (int64_t{1} << 20)) return fmt::format("{:.0f} MiB", b / (1 << 20));
  if (bytes >= (int64_t{1} << 10)) return fmt::format("{:.0f} KiB", b / (1 << 10));
  return fmt::format("{} B", bytes);
}

std::string MemoryEstimate::describe() const {
  return fmt::format("{} (weights {}, KV cache {}, buffers {})", format_bytes(total()),
                     format_bytes(weights_bytes), format_bytes(kv_cache_bytes),
                     format_bytes(scratch_bytes));
}

MemoryEstimate estimate_expert_memory(const ExpertConfig& config) {
  const gguf::GgufFile file = gguf::GgufFile::open(config.model_path);
  const ModelConfig mc = read_model_config(file);
  MemoryEstimate e;
  for (const auto& t : file.tensors()) e.weights_bytes += static_cast<int64_t>(t.n_bytes);
  e.weights_bytes += packing_overhead_bytes(file);

  int64_t n_ctx =
      config.model.n_ctx > 0 ? config.model.n_ctx : std::min(mc.n_ctx_train, kDefaultMaxCtx);
  if (config.engine.max_model_len > 0) n_ctx = std::min(n_ctx, config.engine.max_model_len);
  const int64_t slots = config.engine.scheduler.max_num_seqs;
  // The engine's block pool: `kv_cache_tokens`, or every slot at the full context.
  int64_t kv_tokens =
      config.engine.kv_cache_tokens > 0 ? config.engine.kv_cache_tokens : slots * n_ctx;
  kv_tokens = (kv_tokens + kKvBlockTokens - 1) / kKvBlockTokens * kKvBlockTokens;
  // The pool lives on huge pages (kv_cache.hpp): its last one may be touched whole.
  e.kv_cache_bytes =
      static_cast<int64_t>(static_cast<double>(2 * mc.n_layer * kv_tokens * mc.kv_dim()) *
                           kv_element_bytes(config.engine.kv_type)) +
      static_cast<int64_t>(HugePageBuffer::kHugePage);

  const int64_t batch =
      std::max(config.model.max_batch_tokens, config.engine.scheduler.max_num_batched_tokens);
  const int64_t threads =
      config.model.n_threads > 0
          ? config.model.n_threads
          : static_cast<int64_t>(std::max(1u, std::thread::hardware_concurrency()));
  const int64_t widest = std::max({mc.n_embd, mc.n_ff, mc.q_dim()});
  const int64_t activations =
      batch * (4 * mc.n_embd + 2 * mc.q_dim() + 2 * mc.kv_dim() + 2 * mc.n_ff + mc.head_dim) * 4;
  const int64_t attention = AttentionWorkspace::bytes_for(
      AttentionShape{mc.n_head, mc.n_head_kv, mc.head_dim}, static_cast<int>(threads));
  const int64_t matmul = batch * widest * 2 + threads * widest * 4;
  const int64_t logits = slots * mc.n_vocab * 4;
  e.scratch_bytes = activations + attention + matmul + logits;
  return e;
}

}  // namespace capibara
