// The sampler: each stage of the chain against its definition, seeds, log-probabilities and
// parameter validation.
#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "engine/sampler.hpp"

namespace capibara {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Everything off but what a test turns on.
SamplingParams plain(float temperature) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  return p;
}

std::vector<float> random_logits(std::mt19937& rng, size_t n) {
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> logits(n);
  for (float& x : logits) x = normal(rng);
  return logits;
}

int32_t argmax(const std::vector<float>& logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

std::vector<double> softmax(const std::vector<float>& logits, double temperature) {
  double max = -1e300;
  for (const float x : logits) max = std::max(max, static_cast<double>(x));
  std::vector<double> p(logits.size());
  double sum = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    p[i] = std::exp((static_cast<double>(logits[i]) - max) / temperature);
    sum += p[i];
  }
  for (double& x : p) x /= sum;
  return p;
}

// Frequencies of `n_draws` samples.
std::vector<double> frequencies(Sampler& sampler, const std::vector<float>& logits, int n_draws) {
  std::vector<double> f(logits.size(), 0.0);
  for (int i = 0; i < n_draws; ++i) f[static_cast<size_t>(sampler.sample(logits, {}).token)] += 1;
  for (double& x : f) x /= n_draws;
  return f;
}

std::vector<float> logits_of(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (const double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

TEST(SamplerTest, GreedyIsArgmax) {
  std::mt19937 rng(1);
  Sampler sampler(plain(0.0f), 100);
  for (int i = 0; i < 50; ++i) {
    const std::vector<float> logits = random_logits(rng, 100);
    EXPECT_EQ(sampler.sample(logits, {}).token, argmax(logits));
  }
  // Ties go to the lowest id.
  std::vector<float> tied(100, 0.0f);
  tied[70] = 5.0f;
  tied[30] = 5.0f;
  EXPECT_EQ(sampler.sample(tied, {}).token, 30);
  // The default chain with temperature 0 is greedy too.
  SamplingParams defaults;
  defaults.temperature = 0.0f;
  Sampler greedy_defaults(defaults, 100);
  const std::vector<float> logits = random_logits(rng, 100);
  EXPECT_EQ(greedy_defaults.sample(logits, {}).token, argmax(logits));
}

TEST(SamplerTest, TopK1IsGreedyAtAnyTemperature) {
  std::mt19937 rng(2);
  for (const float temperature : {0.1f, 0.8f, 1.0f, 5.0f, 100.0f}) {
    SamplingParams p = plain(temperature);
    p.top_k = 1;
    p.seed = 7;
    Sampler sampler(p, 64);
    for (int i = 0; i < 50; ++i) {
      const std::vector<float> logits = random_logits(rng, 64);
      EXPECT_EQ(sampler.sample(logits, {}).token, argmax(logits)) << "T = " << temperature;
    }
  }
}

TEST(SamplerTest, DrawsFollowTheTemperedSoftmax) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f, 2.5f};
  constexpr int kDraws = 20000;
  for (const float temperature : {0.7f, 1.0f, 2.0f}) {
    SamplingParams p = plain(temperature);
    p.seed = 1234;
    Sampler sampler(p, static_cast<int32_t>(logits.size()));
    const std::vector<double> f = frequencies(sampler, logits, kDraws);
    const std::vector<double> expected = softmax(logits, temperature);
    for (size_t i = 0; i < logits.size(); ++i) {
      const double standard_error = std::sqrt(expected[i] * (1.0 - expected[i]) / kDraws);
      EXPECT_NEAR(f[i], expected[i], 4.0 * standard_error + 1e-4)
          << "token " << i << ", T = " << temperature;
    }
  }
}

TEST(SamplerTest, TopPKeepsTheSmallestNucleus) {
  const std::vector<float> logits = logits_of({0.5, 0.3, 0.15, 0.05});
  struct Case {
    float top_p;
    size_t n_kept;
  };
  for (const Case c : {Case{0.45f, 1}, Case{0.75f, 2}, Case{0.85f, 3}, Case{0.99f, 4}}) {
    SamplingParams p = plain(1.0f);
    p.top_p = c.top_p;
    Sampler sampler(p, 4);
    const std::vector<double> f = frequencies(sampler, logits, 4000);
    for (size_t i = 0; i < 4; ++i) {
      if (i < c.n_kept) {
        EXPECT_GT(f[i], 0.0) << "top_p " << c.top_p << " token " << i;
      } else {
        EXPECT_EQ(f[i], 0.0) << "top_p " << c.top_p << " token " << i;
      }
    }
    if (c.n_kept == 2) {
      EXPECT_NEAR(f[0] / (f[0] + f[1]), 0.5 / 0.8, 0.04);  // renormalized
    }
  }
}

TEST(SamplerTest, TopPWithALargeNucleus) {
  // 1000 equally likely tokens: top_p 0.5 keeps about the 500 lowest ids (ties sort by id), more
  // than one sorting chunk.
  const std::vector<float> logits(1000, 0.25f);
  SamplingParams p = plain(1.0f);
  p.top_p = 0.5f;
  Sampler sampler(p, 1000);
  int32_t max_token = 0;
  for (int i = 0; i < 5000; ++i) max_token = std::max(max_token, sampler.sample(logits, {}).token);
  EXPECT_GE(max_token, 450);
  EXPECT_LE(max_token, 501);
}

TEST(SamplerTest, MinPDropsTokensFarBelowTheBest) {
  const std::vector<float> logits = logits_of({0.5, 0.3, 0.15, 0.05});
  struct Case {
    float min_p;
    size_t n_kept;
  };
  // Kept: p >= min_p * 0.5.
  for (const Case c : {Case{0.05f, 4}, Case{0.2f, 3}, Case{0.5f, 2}, Case{0.9f, 1}}) {
    SamplingParams p = plain(1.0f);
    p.min_p = c.min_p;
    Sampler sampler(p, 4);
    const std::vector<double> f = frequencies(sampler, logits, 4000);
    for (size_t i = 0; i < 4; ++i) {
      if (i < c.n_kept) {
        EXPECT_GT(f[i], 0.0) << "min_p " << c.min_p << " token " << i;
      } else {
        EXPECT_EQ(f[i], 0.0) << "min_p " << c.min_p << " token " << i;
      }
    }
  }
  // Together with top-p the stricter one decides.
  SamplingParams p = plain(1.0f);
  p.min_p = 0.2f;
  p.top_p = 0.75f;
  Sampler sampler(p, 4);
  const std::vector<double> f = frequencies(sampler, logits, 2000);
  EXPECT_EQ(f[2] + f[3], 0.0);
}

TEST(SamplerTest, TopKKeepsTheKBest) {
  const std::vector<float> logits = {0.0f, 3.0f, 1.0f, 2.9f, -2.0f, 2.8f};
  SamplingParams p = plain(5.0f);  // hot: everything would show up without top-k
  p.top_k = 3;
  Sampler sampler(p, 6);
  const std::vector<double> f = frequencies(sampler, logits, 3000);
  EXPECT_GT(f[1], 0.0);
  EXPECT_GT(f[3], 0.0);
  EXPECT_GT(f[5], 0.0);
  EXPECT_EQ(f[0] + f[2] + f[4], 0.0);
}

TEST(SamplerTest, RepetitionPenaltyDividesPositiveAndMultipliesNegative) {
  const std::vector<float> logits = {2.0f, 1.9f, -1.0f, -1.1f};
  const std::vector<int32_t> history = {0};
  SamplingParams p = plain(0.0f);
  EXPECT_EQ(Sampler(p, 4).sample(logits, history).token, 0);
  p.repetition_penalty = 1.2f;  // 2.0 / 1.2 = 1.67 < 1.9
  EXPECT_EQ(Sampler(p, 4).sample(logits, history).token, 1);

  // Negative logits get more negative: -1.0 * 1.2 = -1.2 < -1.1.
  const std::vector<float> negative = {-1.0f, -1.1f};
  const std::vector<int32_t> repeat_first = {0};
  EXPECT_EQ(Sampler(p, 2).sample(negative, repeat_first).token, 1);
  p.repetition_penalty = 1.0f;
  EXPECT_EQ(Sampler(p, 2).sample(negative, repeat_first).token, 0);
}

TEST(SamplerTest, PresenceAndFrequencyPenalties) {
  const std::vector<float> logits = {2.0f, 1.9f, 0.0f};
  SamplingParams p = plain(0.0f);
  p.presence_penalty = 0.5f;  // 2.0 - 0.5 < 1.9, once is enough
  EXPECT_EQ(Sampler(p, 3).sample(logits, std::vector<int32_t>{0}).token, 1);
  EXPECT_EQ(Sampler(p, 3).sample(logits, std::vector<int32_t>{2}).token, 0);

  p.presence_penalty = 0.0f;
  p.frequency_penalty = 0.05f;  // scales with the count: 2.0 - 0.05 n
  EXPECT_EQ(Sampler(p, 3).sample(logits, std::vector<int32_t>{0}).token, 0);
  EXPECT_EQ(Sampler(p, 3).sample(logits, std::vector<int32_t>{0, 0, 0}).token, 1);

  // A negative presence penalty encourages repetition.
  p.frequency_penalty = 0.0f;
  p.presence_penalty = -0.5f;
  EXPECT_EQ(Sampler(p, 3).sample(logits, std::vector<int32_t>{1}).token, 1);
}

TEST(SamplerTest, PenaltiesLookOnlyAtTheLastNTokens) {
  const std::vector<float> logits = {2.0f, 1.9f, 0.0f};
  const std::vector<int32_t> history = {0, 2, 2, 2};
  SamplingParams p = plain(0.0f);
  p.presence_penalty = 0.5f;
  p.penalty_last_n = 3;  // token 0 is out of the window
  EXPECT_EQ(Sampler(p, 3).sample(logits, history).token, 0);
  p.penalty_last_n = 4;
  EXPECT_EQ(Sampler(p, 3).sample(logits, history).token, 1);
  p.penalty_last_n = -1;  // all of it
  EXPECT_EQ(Sampler(p, 3).sample(logits, history).token, 1);
  p.penalty_last_n = 0;  // none of it
  EXPECT_EQ(Sampler(p, 3).sample(logits, history).token, 0);

  // The penalty state does not leak into the next call.
  p.penalty_last_n = -1;
  Sampler sampler(p, 3);
  EXPECT_EQ(sampler.sample(logits, history).token, 1);
  EXPECT_EQ(sampler.sample(logits, {}).token, 0);
}

TEST(SamplerTest, LogitBiasBansAndForces) {
  const std::vector<float> logits = {1.0f, 5.0f, 2.0f, 0.0f};
  SamplingParams p = plain(0.0f);
  p.logit_bias = {{1, -kInf}};
  EXPECT_EQ(Sampler(p, 4).sample(logits, {}).token, 2);

  p = plain(1.0f);
  p.logit_bias = {{3, 100.0f}};
  Sampler forced(p, 4);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(forced.sample(logits, {}).token, 3);

  p.logit_bias = {{1, -kInf}, {2, -kInf}};
  Sampler banned(p, 4);
  for (int i = 0; i < 500; ++i) {
    const int32_t t = banned.sample(logits, {}).token;
    EXPECT_TRUE(t == 0 || t == 3) << t;
  }

  // Everything banned: no crash, a deterministic answer.
  p.logit_bias = {{0, -kInf}, {1, -kInf}, {2, -kInf}, {3, -kInf}};
  Sampler all_banned(p, 4);
  const SampledToken s = all_banned.sample(logits, {});
  EXPECT_EQ(s.token, 0);
  EXPECT_EQ(s.logprob, -kInf);
}

TEST(SamplerTest, SameSeedSameDrawsDifferentSeedDifferentDraws) {
  std::mt19937 rng(3);
  const std::vector<float> logits = random_logits(rng, 50);
  const auto run = [&](uint64_t seed) {
    SamplingParams p;  // the default chain
    p.temperature = 1.5f;
    p.seed = seed;
    Sampler sampler(p, 50);
    std::vector<int32_t> tokens;
    for (int i = 0; i < 200; ++i) tokens.push_back(sampler.sample(logits, tokens).token);
    return tokens;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
  EXPECT_NE(run(0), run(1));
}

TEST(SamplerTest, LogprobsAreLogSoftmaxOfTheBiasedModelLogits) {
  std::mt19937 rng(4);
  const std::vector<float> logits = random_logits(rng, 300);
  SamplingParams p;
  p.temperature = 2.0f;         // neither temperature ...
  p.repetition_penalty = 1.5f;  // ... nor penalties change what is reported
  p.presence_penalty = 1.0f;
  p.logit_bias = {{17, 4.0f}};  // but the bias does
  p.n_top_logprobs = 5;
  p.seed = 9;
  Sampler sampler(p, 300);

  std::vector<float> biased = logits;
  biased[17] += 4.0f;
  const std::vector<double> probs = softmax(biased, 1.0);
  const std::vector<int32_t> history = {3, 17, 42};
  for (int i = 0; i < 20; ++i) {
    const SampledToken s = sampler.sample(logits, history);
    EXPECT_NEAR(s.logprob, std::log(probs[static_cast<size_t>(s.token)]), 1e-4);
    ASSERT_EQ(s.top.size(), 5u);
    std::vector<int32_t> order(300);
    for (int32_t k = 0; k < 300; ++k) order[static_cast<size_t>(k)] = k;
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return probs[static_cast<size_t>(a)] > probs[static_cast<size_t>(b)];
    });
    for (size_t k = 0; k < 5; ++k) {
      EXPECT_EQ(s.top[k].token, order[k]);
      EXPECT_NEAR(s.top[k].logprob, std::log(probs[static_cast<size_t>(order[k])]), 1e-4);
      if (k > 0) {
        EXPECT_GE(s.top[k - 1].logprob, s.top[k].logprob);
      }
    }
  }

  // Ties in the top list keep the lower id first; without n_top_logprobs the list is empty.
  SamplingParams q = plain(0.0f);
  q.n_top_logprobs = 3;
  const std::vector<float> flat = {0.0f, 1.0f, 1.0f, 0.5f, 1.0f};
  const SampledToken t = Sampler(q, 5).sample(flat, {});
  ASSERT_EQ(t.top.size(), 3u);
  EXPECT_EQ(t.top[0].token, 1);
  EXPECT_EQ(t.top[1].token, 2);
  EXPECT_EQ(t.top[2].token, 4);
  EXPECT_TRUE(Sampler(plain(0.0f), 5).sample(flat, {}).top.empty());
}

void expect_invalid(const SamplingParams& p, const std::string& field) {
  try {
    p.validate(100);
    ADD_FAILURE() << "no error for " << field;
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
  }
  EXPECT_THROW(Sampler(p, 100), InvalidArgumentError) << field;
}

TEST(SamplerTest, ValidateNamesTheField) {
  EXPECT_NO_THROW(SamplingParams{}.validate(100));
  SamplingParams p;
  p.temperature = -0.5f;
  expect_invalid(p, "temperature");
  p = {};
  p.temperature = std::nanf("");
  expect_invalid(p, "temperature");
  p = {};
  p.top_p = 1.5f;
  expect_invalid(p, "top_p");
  p = {};
  p.min_p = -0.1f;
  expect_invalid(p, "min_p");
  p = {};
  p.repetition_penalty = 0.0f;
  expect_invalid(p, "repetition_penalty");
  p = {};
  p.penalty_last_n = -2;
  expect_invalid(p, "penalty_last_n");
  p = {};
  p.presence_penalty = 3.0f;
  expect_invalid(p, "presence_penalty");
  p = {};
  p.frequency_penalty = -2.5f;
  expect_invalid(p, "frequency_penalty");
  p = {};
  p.logit_bias = {{100, 1.0f}};
  expect_invalid(p, "logit_bias");
  p = {};
  p.logit_bias = {{5, std::nanf("")}};
  expect_invalid(p, "logit_bias");
  p = {};
  p.n_top_logprobs = 21;
  expect_invalid(p, "n_top_logprobs");
  p = {};
  p.top_k = -1;  // vLLM's "disabled"
  p.logit_bias = {{5, -kInf}};
  EXPECT_NO_THROW(p.validate(100));
}

}  // namespace
}  // namespace capibara
