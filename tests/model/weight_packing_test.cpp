// Repacking at load (weight_packing.cpp): which matrices a table packs, that the embedding
// lookups keep the mapping, and that a packed model computes what the row-major one does.
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/thread_pool.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/packed_weights.hpp"
#include "model/model.hpp"
#include "support/shared_data.hpp"

namespace capibara {
namespace {

// The table with the most packed kernels on this CPU, or null when none has any.
const kernels::KernelTable* packing_table() {
  const kernels::KernelTable* best = nullptr;
  for (const auto* t : kernels::available_kernel_tables()) {
    if (kernels::packed_gemm_kernel(*t, GgmlType::kQ4_0) != nullptr) best = t;
  }
  return best;
}

TEST(WeightPacking, PacksEveryMultipliedMatrixOfAPackedTypeAndNothingElse) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const auto* table = packing_table();
  if (table == nullptr) GTEST_SKIP() << "no kernel table on this CPU packs weights";
  for (const char* name :
       {"synth-llama-q4_0", "synth-llama-q8_0", "synth-llama-q4_k_m", "synth-llama-f16"}) {
    const auto file = gguf::GgufFile::open(shared / "models" / (std::string(name) + ".gguf"));
    ModelConfig config = read_model_config(file);
    ModelWeights w = bind_model_weights(file, config, 64);
    ThreadPool pool(2);
    pack_model_weights(w, *table, file, pool);
    auto expect_packed = [&](const kernels::WeightMatrix& m, const char* what) {
      const bool packable = kernels::packed_gemm_kernel(*table, m.type) != nullptr &&
                            kernels::can_pack(m.type, m.n_rows, m.row_length);
      EXPECT_EQ(m.packed != nullptr, packable)
          << name << " " << what << " " << ggml_type_name(m.type);
      if (m.packed != nullptr) {
        // Inside the one huge-page arena, whole.
        const uint8_t* arena = w.packed.data();
        const size_t bytes = kernels::packed_matrix_bytes(m.type, m.n_rows, m.row_length);
        EXPECT_GE(m.packed, arena) << name << " " << what;
        EXPECT_LE(m.packed + bytes, arena + w.packed.size()) << name << " " << what;
      }
      // The row-major data stays addressable (other tables, dequantize_row).
      EXPECT_NE(m.data, nullptr) << name << " " << what;
    };
    for (const auto& l : w.layers) {
      for (const auto* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
        expect_packed(*m, "layer matrix");
      }
    }
    expect_packed(w.output, "output");
    if (w.output.data != w.token_embd.data) {
      EXPECT_EQ(w.token_embd.packed, nullptr) << name << ": lookups only, never multiplied";
    }
    if (std::string(name) == "synth-llama-f16") {
      EXPECT_EQ(w.packed.size(), 0u);
    } else {
      EXPECT_GT(w.packed.size(), 0u) << name;
    }
  }
}

// The same prompt through a packed and a row-major model: the logits differ only by float
// summation order (and the activation rounding it can tip), far inside the golden tolerance.
TEST(WeightPacking, PackedModelMatchesRowMajorModel) {
  CAPIBARA_REQUIRE_SHARED(shared);
  if (packing_table() == nullptr) GTEST_SKIP() << "no kernel table on this CPU packs weights";
  for (const char* name : {"synth-llama-q4_0", "synth-llama-q8_0", "synth-llama-q4_k_m"}) {
    std::vector<std::vector<float>> logits;
    for (const bool repack : {true, false}) {
      ModelOptions options{2, 64, 16};
      options.repack_weights = repack;
      auto model = Model::load(shared / "models" / (std::string(name) + ".gguf"), options);
      SequenceKvCache cache = model->make_kv_cache(KvType::kF32);
      SequenceKvCache* caches[] = {&cache};
      std::vector<BatchToken> batch;
      for (int32_t i = 0; i < 8; ++i) batch.push_back({1 + 7 * i, i, 0, i == 7});
      logits.emplace_back(static_cast<size_t>(model->config().n_vocab));
      model->forward(batch, caches, logits.back().data());
    }
    double max_diff = 0.0;
    double max_abs = 0.0;
    for (size_t i = 0; i < logits[0].size(); ++i) {
      max_diff = std::max(max_diff, double{std::abs(logits[0][i] - logits[1][i])});
      max_abs = std::max(max_abs, double{std::abs(logits[1][i])});
    }
    EXPECT_GT(max_abs, 0.1) << name;
    EXPECT_LT(max_diff, 0.02 * max_abs)
        << name << ": packed and row-major logits differ by " << max_diff;
  }
}

}  // namespace
}  // namespace capibara
