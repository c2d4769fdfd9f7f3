// Teacher-forced agreement with llama.cpp's reference log-probabilities (../shared/golden),
// within the tolerances of ../shared/README.md, for every Llama-family file and KV type.
#include <string>

#include <gtest/gtest.h>

#include "engine/golden_eval.hpp"
#include "model/model.hpp"
#include "support/shared_data.hpp"

namespace capibara {
namespace {

struct GoldenParam {
  std::string model;
  KvType kv;
};

std::string param_name(const ::testing::TestParamInfo<GoldenParam>& info) {
  std::string s = info.param.model + "_kv_" + std::string(kv_type_name(info.param.kv));
  for (char& c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return s;
}

class GoldenTest : public ::testing::TestWithParam<GoldenParam> {};

TEST_P(GoldenTest, WithinTolerance) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const auto& p = GetParam();
  auto model = Model::load(shared / "models" / (p.model + ".gguf"), {2, 512, 128});
  const GoldenFile golden = read_golden_file(shared / "golden" / (p.model + ".json"));
  ASSERT_FALSE(golden.cases.empty());
  const GoldenTolerance tol = golden_tolerance(*model, p.kv);
  for (const auto& r : evaluate_golden(*model, golden, p.kv, tol)) {
    EXPECT_TRUE(r.pass) << "'" << r.prompt << "': max |dlogp| " << r.max_abs_logprob_diff
                        << " (tolerance " << tol.max_abs_logprob_diff << "), top-1 " << r.top1_agree
                        << "/" << r.steps << ", required steps agreeing " << r.top1_required_agree
                        << "/" << r.top1_required;
    RecordProperty("max_abs_logprob_diff_" + std::to_string(r.steps),
                   std::to_string(r.max_abs_logprob_diff));
  }
}

INSTANTIATE_TEST_SUITE_P(Llama, GoldenTest,
                         ::testing::Values(GoldenParam{"stories260K", KvType::kF32},
                                           GoldenParam{"stories260K", KvType::kF16},
                                           GoldenParam{"stories260K", KvType::kBF16},
                                           GoldenParam{"synth-llama-f32", KvType::kF32},
                                           GoldenParam{"synth-llama-f32", KvType::kF16},
                                           GoldenParam{"synth-llama-f32", KvType::kBF16},
                                           GoldenParam{"synth-llama-f16", KvType::kF16},
                                           GoldenParam{"synth-llama-bf16", KvType::kF16},
                                           GoldenParam{"synth-llama-q8_0", KvType::kF16},
                                           GoldenParam{"synth-llama-q4_0", KvType::kF16},
                                           GoldenParam{"synth-llama-q4_k_m", KvType::kF16},
                                           GoldenParam{"synth-llama-q6_k", KvType::kF16}),
                         param_name);

// The tolerance classes themselves: an f32 model with an f32 cache gets the strictest one.
TEST(GoldenTolerance, ClassesFollowTheSharedReadme) {
  CAPIBARA_REQUIRE_SHARED(shared);
  auto f32 = Model::load(shared / "models" / "synth-llama-f32.gguf", {1, 64, 16});
  EXPECT_DOUBLE_EQ(golden_tolerance(*f32, KvType::kF32).max_abs_logprob_diff, 2e-3);
  EXPECT_DOUBLE_EQ(golden_tolerance(*f32, KvType::kF16).max_abs_logprob_diff, 3e-2);
  auto q4 = Model::load(shared / "models" / "synth-llama-q4_0.gguf", {1, 64, 16});
  EXPECT_DOUBLE_EQ(golden_tolerance(*q4, KvType::kF16).max_abs_logprob_diff, 0.15);
}

}  // namespace
}  // namespace capibara
