// Per-request sampling settings, in the units and semantics of the OpenAI API (and llama.cpp's
// defaults). Plain data: the server fills it from a request, `validate` checks it, a `Sampler`
// consumes it.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace capibara {

struct SamplingParams {
  float temperature = 0.8f;  // <= 0: greedy
  int32_t top_k = 40;        // <= 0: disabled
  float top_p = 0.95f;       // >= 1: disabled
  float min_p = 0.05f;       // <= 0: disabled
  float repetition_penalty =
      1.0f;                     // llama.cpp / CTRL style: divide positive logits, multiply negative
  int32_t penalty_last_n = 64;  // tokens of history the penalties look at (-1: all)
  float presence_penalty = 0.0f;  // OpenAI semantics
  float frequency_penalty = 0.0f;
  std::vector<std::pair<int32_t, float>> logit_bias;  // (token, added to its logit); -inf bans
  uint64_t seed = 0;
  int32_t n_top_logprobs = 0;  // how many alternatives to report per token (0..20)

  static constexpr int32_t kMaxTopLogprobs = 20;

  // `InvalidArgumentError` naming the field: temperature negative or not finite, top_p or min_p
  // outside [0, 1], repetition_penalty not > 0, penalty_last_n < -1, presence / frequency
  // penalty outside [-2, 2], a logit_bias token outside [0, n_vocab) or a NaN / +inf bias,
  // n_top_logprobs outside [0, 20].
  void validate(int32_t n_vocab) const;
};

}  // namespace capibara
