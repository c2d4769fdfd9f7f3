// The golden cases run the way the serving engine runs sequences: every case of a file is its
// own sequence, they arrive staggered, prompts are prefilled in small chunks beside the other
// sequences' decode steps, and each batch mixes them all. Teacher-forced log-probabilities must
// meet the same tolerances as the one-sequence evaluation (golden_test.cpp).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/golden_eval.hpp"
#include "model/model.hpp"
#include "support/shared_data.hpp"

namespace capibara {
namespace {

constexpr int64_t kChunkTokens = 7;  // small prefill chunks, as chunked prefill schedules them

struct SequenceState {
  const GoldenCase* golden = nullptr;
  std::vector<int32_t> tokens;  // prompt, then the reference tokens fed back
  int64_t n_computed = 0;
  size_t step = 0;  // next reference step to compare
  int64_t start_step = 0;
  double max_diff = 0.0;
  int64_t required = 0;
  int64_t required_agree = 0;
};

class BatchedGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BatchedGoldenTest, StaggeredChunkedBatchesMatchTheReference) {
  CAPIBARA_REQUIRE_SHARED(shared);
  const std::string name = GetParam();
  auto model = Model::load(shared / "models" / (name + ".gguf"), {2, 256, 64});
  const GoldenFile golden = read_golden_file(shared / "golden" / (name + ".json"));
  const GoldenTolerance tol = golden_tolerance(*model, KvType::kF32);
  const auto n_vocab = static_cast<size_t>(model->config().n_vocab);

  std::vector<SequenceState> seqs(golden.cases.size());
  std::vector<SequenceKvCache> caches;
  for (size_t s = 0; s < seqs.size(); ++s) {
    const GoldenCase& c = golden.cases[s];
    seqs[s].golden = &c;
    seqs[s].tokens = c.prompt_tokens;
    for (size_t i = 0; i + 1 < c.steps.size(); ++i) seqs[s].tokens.push_back(c.greedy_tokens[i]);
    seqs[s].start_step = static_cast<int64_t>(2 * s);  // staggered arrivals
    caches.push_back(model->make_kv_cache(KvType::kF32));
  }
  std::vector<SequenceKvCache*> cache_ptrs;
  for (auto& c : caches) cache_ptrs.push_back(&c);

  std::vector<float> logits(seqs.size() * n_vocab);
  for (int64_t step = 0;; ++step) {
    std::vector<BatchToken> batch;
    std::vector<size_t> logit_owner;
    std::vector<int64_t> advanced(seqs.size(), 0);
    for (size_t s = 0; s < seqs.size(); ++s) {
      SequenceState& q = seqs[s];
      if (step < q.start_step || q.step >= q.golden->steps.size()) continue;
      const auto n_prompt = static_cast<int64_t>(q.golden->prompt_tokens.size());
      const int64_t n =
          q.n_computed < n_prompt ? std::min(kChunkTokens, n_prompt - q.n_computed) : 1;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t pos = q.n_computed + i;
        const bool last = i + 1 == n && pos + 1 >= n_prompt;
        batch.push_back({q.tokens[static_cast<size_t>(pos)], pos, static_cast<int32_t>(s), last});
        if (last) logit_owner.push_back(s);
      }
      advanced[s] = n;
    }
    if (batch.empty()) break;
    model->forward(batch, cache_ptrs, logits.data());
    for (size_t s = 0; s < seqs.size(); ++s) seqs[s].n_computed += advanced[s];

    for (size_t r = 0; r < logit_owner.size(); ++r) {
      SequenceState& q = seqs[logit_owner[r]];
      const float* row = logits.data() + r * n_vocab;
      const float mx = *std::max_element(row, row + n_vocab);
      double sum = 0.0;
      for (size_t i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(row[i] - mx));
      const double log_z = static_cast<double>(mx) + std::log(sum);
      const auto& ref = q.golden->steps[q.step];
      for (const auto& cand : ref) {
        const double ours = static_cast<double>(row[cand.token]) - log_z;
        q.max_diff = std::max(q.max_diff, std::abs(ours - cand.logprob));
      }
      if (ref.size() < 2 || ref[0].logprob - ref[1].logprob > tol.clear_gap) {
        const auto argmax = static_cast<int32_t>(std::max_element(row, row + n_vocab) - row);
        ++q.required;
        q.required_agree += argmax == ref[0].token ? 1 : 0;
      }
      ++q.step;
    }
  }
  for (const SequenceState& q : seqs) {
    EXPECT_EQ(q.step, q.golden->steps.size()) << q.golden->prompt;
    EXPECT_LE(q.max_diff, tol.max_abs_logprob_diff) << q.golden->prompt;
    EXPECT_EQ(q.required_agree, q.required) << q.golden->prompt;
  }
}

std::string param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (char& c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return s;
}

INSTANTIATE_TEST_SUITE_P(Architectures, BatchedGoldenTest,
                         ::testing::Values("synth-llama-f32", "synth-qwen2-f32", "synth-phi3-f32",
                                           "synth-gemma3-f32", "synth-command-r-f32"),
                         param_name);

}  // namespace
}  // namespace capibara
