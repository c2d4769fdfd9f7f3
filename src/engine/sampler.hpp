// Picks the next token of one sequence from the model's logits, in llama.cpp's default order:
// logit bias -> penalties (repetition, presence, frequency) -> top-k -> then either argmax
// (temperature <= 0) or top-p -> min-p -> temperature -> softmax -> a draw from `std::mt19937_64`
// seeded by `SamplingParams::seed`. Also reports OpenAI-style log-probabilities: log-softmax of
// the model's logits after logit bias, before penalties and temperature.
//
// Thread safety: one `Sampler` per sequence, used by one thread at a time (the engine thread).
// `sample` allocates nothing except the returned `top` vector: its scratch buffers are sized once.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "engine/sampling_params.hpp"

namespace capibara {

struct TokenLogprob {
  int32_t token;
  float logprob;
};

struct SampledToken {
  int32_t token;
  float logprob;                  // of `token`, under the reported distribution
  std::vector<TokenLogprob> top;  // `n_top_logprobs` most likely tokens, best first
};

class Sampler {
 public:
  // Validates `params` (`InvalidArgumentError`) and sizes all buffers once.
  Sampler(SamplingParams params, int32_t n_vocab);

  // `logits`: [n_vocab]; `history`: prompt + generated tokens so far (for penalties). The random
  // stream advances by one draw per non-greedy call, so the same seed and inputs give the same
  // tokens.
  SampledToken sample(std::span<const float> logits, std::span<const int32_t> history);

  const SamplingParams& params() const { return params_; }
  int32_t n_vocab() const { return n_vocab_; }

 private:
  struct Candidate {
    int32_t id;
    float logit;
  };

  void apply_penalties(std::span<const int32_t> history);
  int32_t draw(std::span<Candidate> candidates);
  void fill_top(std::vector<TokenLogprob>& top, float log_normalizer) const;

  SamplingParams params_;
  int32_t n_vocab_;
  std::mt19937_64 rng_;
  std::vector<float> biased_;          // [n_vocab] model logits + logit bias (NaN -> -inf)
  std::vector<Candidate> candidates_;  // [n_vocab] after penalties; filters shrink a prefix
  std::vector<int32_t> counts_;        // [n_vocab] occurrences in the penalty window, else 0
  std::vector<int32_t> seen_;          // ids whose `counts_` is non-zero, to reset them
};

}  // namespace capibara
