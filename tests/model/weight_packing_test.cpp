// Repacking at load (weight_packing.cpp): which matrices a table packs, that the embedding
// lookups keep the mapping, and that a packed model computes what the row-major one does.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/thread_pool.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/packed_weights.hpp"
#include "model/model.hpp"
#include "support/shared_data.hpp"
#include "tools/quantize_model.hpp"

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

// The shared data has no Q5_K file: a Q5_K_M model quantized from the f32 one (its matrices
// Q5_K, some Q6_K), removed when the test ends.
class QuantizedModel {
 public:
  QuantizedModel(const std::filesystem::path& f32, tools::QuantTarget target)
      : path_(std::filesystem::temp_directory_path() /
              ("weight_packing_test_" + std::to_string(::getpid()) + ".gguf")) {
    tools::quantize_model(f32, path_, {target, 2, false});
  }
  ~QuantizedModel() { std::filesystem::remove(path_); }
  QuantizedModel(const QuantizedModel&) = delete;
  QuantizedModel& operator=(const QuantizedModel&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(WeightPacking, PacksEveryMultipliedMatrixOfAPackedTypeAndNothingElse) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const auto* table = packing_table();
  if (table == nullptr) GTEST_SKIP() << "no kernel table on this CPU packs weights";
  const QuantizedModel q5_k_m(shared / "models" / "synth-llama-f32.gguf",
                              tools::QuantTarget::kQ5_K_M);
  for (const std::filesystem::path& path :
       {shared / "models" / "synth-llama-q4_0.gguf", shared / "models" / "synth-llama-q8_0.gguf",
        shared / "models" / "synth-llama-q4_k_m.gguf", q5_k_m.path(),
        shared / "models" / "synth-llama-f32.gguf", shared / "models" / "synth-llama-f16.gguf",
        shared / "models" / "synth-llama-bf16.gguf"}) {
    const std::string name = path.filename().string();
    const auto file = gguf::GgufFile::open(path);
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
    if (path == q5_k_m.path() && kernels::packed_gemm_kernel(*table, GgmlType::kQ5_K) != nullptr) {
      EXPECT_EQ(w.layers[0].w_gate.type, GgmlType::kQ5_K);  // what the test is for
      EXPECT_NE(w.layers[0].w_gate.packed, nullptr);
    }
    if (w.output.data != w.token_embd.data) {
      EXPECT_EQ(w.token_embd.packed, nullptr) << name << ": lookups only, never multiplied";
    }
    // Every shared model packs with a table that packs (the float types too).
    EXPECT_GT(w.packed.size(), 0u) << name;
  }
}

// The same prompt through a packed and a row-major model: the logits differ only by float
// summation order (and the activation rounding it can tip), far inside the golden tolerance.
TEST(WeightPacking, PackedModelMatchesRowMajorModel) {
  CAPIBARA_REQUIRE_SHARED(shared);
  if (packing_table() == nullptr) GTEST_SKIP() << "no kernel table on this CPU packs weights";
  const QuantizedModel q5_k_m(shared / "models" / "synth-llama-f32.gguf",
                              tools::QuantTarget::kQ5_K_M);
  for (const std::filesystem::path& path :
       {shared / "models" / "synth-llama-q4_0.gguf", shared / "models" / "synth-llama-q8_0.gguf",
        shared / "models" / "synth-llama-q4_k_m.gguf", q5_k_m.path(),
        shared / "models" / "synth-llama-f32.gguf", shared / "models" / "synth-llama-f16.gguf",
        shared / "models" / "synth-llama-bf16.gguf"}) {
    const std::string name = path.filename().string();
    std::vector<std::vector<float>> logits;
    for (const bool repack : {true, false}) {
      ModelOptions options{2, 64, 16};
      options.repack_weights = repack;
      auto model = Model::load(path, options);
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
