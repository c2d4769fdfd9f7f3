// The fp8 (E4M3, scale per block and KV head) KV cache against the f32 one on the stories260K
// goldens: lossy by design, so the measure is the mean KL divergence of the next-token
// distributions, reported and held under 1e-2.
#include <iostream>

#include <gtest/gtest.h>

#include "engine/golden_eval.hpp"
#include "model/model.hpp"
#include "support/shared_data.hpp"

namespace capibara {
namespace {

TEST(KvFp8, MeanKlDivergenceAgainstF32KvOnTheStoriesGoldens) {
  CAPIBARA_REQUIRE_SHARED(shared);
  auto model = Model::load(shared / "models" / "stories260K.gguf", {2, 256, 64});
  const GoldenFile golden = read_golden_file(shared / "golden" / "stories260K.json");
  const double kl_fp8 = mean_kv_kl_divergence(*model, golden, KvType::kF32, KvType::kFp8);
  const double kl_f16 = mean_kv_kl_divergence(*model, golden, KvType::kF32, KvType::kF16);
  const double kl_f32 = mean_kv_kl_divergence(*model, golden, KvType::kF32, KvType::kF32);
  std::cout << "[ kv fp8   ] stories260K mean KL(f32 KV || fp8 KV) = " << kl_fp8
            << " nats (f16 KV: " << kl_f16 << ")\n";
  EXPECT_LE(kl_fp8, 1e-2);
  EXPECT_GT(kl_fp8, kl_f16) << "fp8 must lose more than f16: is fp8 really stored?";
  EXPECT_EQ(kl_f32, 0.0);
}

}  // namespace
}  // namespace capibara
