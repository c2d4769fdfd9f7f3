// The memory estimate of an expert: the file's tensors, plus what repacking adds with the kernel
// table in use (K-quant layouts a little larger than the file's, nothing for Q4_0 / Q8_0 / F16).
#include "registry/memory_estimate.hpp"

#include <gtest/gtest.h>

#include "core/huge_page_buffer.hpp"
#include "gguf/gguf_file.hpp"
#include "kernels/kernel_table.hpp"
#include "model/kv_cache.hpp"
#include "support/shared_data.hpp"

namespace capibara {
namespace {

TEST(MemoryEstimate, WeightsAreTheTensorsPlusThePackingOverhead) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const bool packs =
      kernels::packed_gemm_kernel(kernels::active_kernels(), GgmlType::kQ4_K) != nullptr;
  for (const char* name :
       {"synth-llama-q4_0", "synth-llama-q8_0", "synth-llama-q4_k_m", "synth-llama-f16"}) {
    ExpertConfig config;
    config.id = name;
    config.model_path = shared / "models" / (std::string(name) + ".gguf");
    const auto file = gguf::GgufFile::open(config.model_path);
    int64_t file_bytes = 0;
    for (const auto& t : file.tensors()) file_bytes += static_cast<int64_t>(t.n_bytes);
    const MemoryEstimate e = estimate_expert_memory(config);
    if (!packs) {
      EXPECT_EQ(e.weights_bytes, file_bytes) << name;  // nothing packed
    } else {
      // Q6_K packs 212 bytes per 210 of a row's super-block (the Q4_K_M file's output and
      // some v and down matrices), Q4_0, Q8_0, Q4_K and F16 exactly their bytes: 1 % at most,
      // plus the rounding of the packed arena to whole huge pages.
      const auto huge_page = static_cast<int64_t>(HugePageBuffer::kHugePage);
      EXPECT_GE(e.weights_bytes, file_bytes + huge_page) << name;
      EXPECT_LT(e.weights_bytes, file_bytes + file_bytes / 100 + huge_page) << name;
      if (std::string(name) == "synth-llama-q4_k_m") {
        EXPECT_GT(e.weights_bytes, file_bytes + huge_page);
      }
    }
  }
}

// The engine's block pool for `kv_cache_tokens` positions (rounded to whole blocks), K and V of
// every layer, plus the last huge page of its mapping, which a write may touch whole.
TEST(MemoryEstimate, KvCacheIsTheEnginePoolPlusItsHugePageRounding) {
  CAPIBARA_REQUIRE_SHARED(shared);
  ExpertConfig config;
  config.id = "synth-llama-q4_0";
  config.model_path = shared / "models" / "synth-llama-q4_0.gguf";
  config.engine.kv_cache_tokens = 1000;  // 63 blocks of 16
  config.engine.kv_type = KvType::kF16;
  const MemoryEstimate e = estimate_expert_memory(config);
  const auto file = gguf::GgufFile::open(config.model_path);
  const int64_t n_layer = file.get_int(file.architecture() + ".block_count").value();
  const int64_t n_head = file.get_int(file.architecture() + ".attention.head_count").value();
  const int64_t n_head_kv =
      file.get_int(file.architecture() + ".attention.head_count_kv").value_or(n_head);
  const int64_t n_embd = file.get_int(file.architecture() + ".embedding_length").value();
  const KvBlockPool pool(n_layer, n_head_kv, n_embd / n_head, kv_blocks_for(1000), KvType::kF16);
  EXPECT_EQ(e.kv_cache_bytes, static_cast<int64_t>(pool.size_bytes() + HugePageBuffer::kHugePage));
}

}  // namespace
}  // namespace capibara
