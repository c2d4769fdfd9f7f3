// Token sampling and parameter validation (see sampler.hpp and sampling_params.hpp).
#include "engine/sampler.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "core/error.hpp"

namespace capibara {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

bool in_range(float value, float lo, float hi) { return value >= lo && value <= hi; }  // no NaN

}  // namespace

void SamplingParams::validate(int32_t n_vocab) const {
  if (!std::isfinite(temperature) || temperature < 0.0f) {
    throw InvalidArgumentError(
        fmt::format("temperature must be a finite number >= 0 (got {})", temperature));
  }
  if (!in_range(top_p, 0.0f, 1.0f)) {
    throw InvalidArgumentError(fmt::format("top_p must be between 0 and 1 (got {})", top_p));
  }
  if (!in_range(min_p, 0.0f, 1.0f)) {
    throw InvalidArgumentError(fmt::format("min_p must be between 0 and 1 (got {})", min_p));
  }
  if (!std::isfinite(repetition_penalty) || repetition_penalty <= 0.0f) {
    throw InvalidArgumentError(
        fmt::format("repetition_penalty must be a finite number > 0 (got {})", repetition_penalty));
  }
  if (penalty_last_n < -1) {
    throw InvalidArgumentError(
        fmt::format("penalty_last_n must be -1 (all) or >= 0 (got {})", penalty_last_n));
  }
  if (!in_range(presence_penalty, -2.0f, 2.0f)) {
    throw InvalidArgumentError(
        fmt::format("presence_penalty must be between -2 and 2 (got {})", presence_penalty));
  }
  if (!in_range(frequency_penalty, -2.0f, 2.0f)) {
    throw InvalidArgumentError(
        fmt::format("frequency_penalty must be between -2 and 2 (got {})", frequency_penalty));
  }
  for (const auto& [token, bias] : logit_bias) {
    if (token < 0 || token >= n_vocab) {
      throw InvalidArgumentError(fmt::format(
          "logit_bias names token {}, outside the vocabulary (0..{})", token, n_vocab - 1));
    }
    if (std::isnan(bias) || bias == std::numeric_limits<float>::infinity()) {
      throw InvalidArgumentError(fmt::format(
          "logit_bias for token {} must be a finite number or -inf (got {})", token, bias));
    }
  }
  if (n_top_logprobs < 0 || n_top_logprobs > kMaxTopLogprobs) {
    throw InvalidArgumentError(fmt::format("n_top_logprobs must be between 0 and {} (got {})",
                                           kMaxTopLogprobs, n_top_logprobs));
  }
}

Sampler::Sampler(SamplingParams params, int32_t n_vocab)
    : params_(std::move(params)), n_vocab_(n_vocab), rng_(params_.seed) {
  if (n_vocab <= 0) throw InvalidArgumentError(fmt::format("n_vocab must be > 0 ({})", n_vocab));
  params_.validate(n_vocab);
  const auto n = static_cast<size_t>(n_vocab);
  biased_.resize(n);
  candidates_.resize(n);
  counts_.assign(n, 0);
  seen_.reserve(n);
}

SampledToken Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
  assert(logits.size() == static_cast<size_t>(n_vocab_));
  const size_t n_vocab = biased_.size();

  // Logit bias, then the reported distribution: log-softmax of the biased model logits.
  float max_logit = kNegInf;
  for (size_t i = 0; i < n_vocab; ++i) {
    biased_[i] = std::isnan(logits[i]) ? kNegInf : logits[i];
  }
  for (const auto& [token, bias] : params_.logit_bias) biased_[static_cast<size_t>(token)] += bias;
  for (const float x : biased_) max_logit = std::max(max_logit, x);
  float log_normalizer = 0.0f;  // all tokens banned: every logprob is -inf
  if (max_logit > kNegInf) {
    double sum = 0.0;
    for (const float x : biased_) sum += std::exp(static_cast<double>(x - max_logit));
    log_normalizer = max_logit + static_cast<float>(std::log(sum));
  }

  for (size_t i = 0; i < n_vocab; ++i) candidates_[i] = {static_cast<int32_t>(i), biased_[i]};
  apply_penalties(history);

  // Best first: higher logit, then lower id (so that ties are deterministic).
  const auto better = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  size_t n_candidates = n_vocab;
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < n_candidates) {
    n_candidates = static_cast<size_t>(params_.top_k);
    std::nth_element(candidates_.begin(),
                     candidates_.begin() + static_cast<ptrdiff_t>(n_candidates), candidates_.end(),
                     better);
  }
  const std::span<Candidate> active(candidates_.data(), n_candidates);

  int32_t token;
  if (params_.temperature <= 0.0f) {
    token = std::min_element(active.begin(), active.end(), better)->id;
  } else {
    token = draw(active);
  }

  SampledToken result{token, biased_[static_cast<size_t>(token)] - log_normalizer, {}};
  fill_top(result.top, log_normalizer);
  return result;
}

void Sampler::apply_penalties(std::span<const int32_t> history) {
  const float repeat = params_.repetition_penalty;
  const float presence = params_.presence_penalty;
  const float frequency = params_.frequency_penalty;
  if (repeat == 1.0f && presence == 0.0f && frequency == 0.0f) return;
  const size_t window = params_.penalty_last_n < 0
                            ? history.size()
                            : std::min(history.size(), static_cast<size_t>(params_.penalty_last_n));
  for (const int32_t token : history.last(window)) {
    if (token < 0 || token >= n_vocab_) continue;
    if (counts_[static_cast<size_t>(token)]++ == 0) seen_.push_back(token);
  }
  // `candidates_` is still in id order here.
  for (const int32_t token : seen_) {
    const auto index = static_cast<size_t>(token);
    float& logit = candidates_[index].logit;
    if (logit <= 0.0f) {
      logit *= repeat;
    } else {
      logit /= repeat;
    }
    logit -= static_cast<float>(counts_[index]) * frequency + presence;
    counts_[index] = 0;
  }
  seen_.clear();
}

int32_t Sampler::draw(std::span<Candidate> candidates) {
  const auto better = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  float max_logit = kNegInf;
  for (const Candidate& c : candidates) max_logit = std::max(max_logit, c.logit);
  if (max_logit == kNegInf) {
    // Everything is banned: there is no distribution to draw from; stay deterministic.
    return std::min_element(candidates.begin(), candidates.end(), better)->id;
  }

  size_t n_kept = candidates.size();
  // Top-p normalizes over the whole top-k set; min-p keeps a prefix of the same sorted order.
  // Their intersection is the shorter prefix, so min-p can cut first and top-p then only sorts
  // the survivors (the same result as llama.cpp's top-p -> min-p, with less sorting).
  double normalizer = 0.0;
  if (params_.top_p < 1.0f) {
    for (const Candidate& c : candidates)
      normalizer += std::exp(static_cast<double>(c.logit - max_logit));
  }
  if (params_.min_p > 0.0f) {
    const float threshold = max_logit + std::log(params_.min_p);
    const auto end = std::partition(candidates.begin(), candidates.end(),
                                    [&](const Candidate& c) { return c.logit >= threshold; });
    n_kept = static_cast<size_t>(end - candidates.begin());
  }
  if (params_.top_p < 1.0f) {
    // The nucleus is usually a small prefix: sort in growing chunks (each `partial_sort` brings
    // the next best to the front) rather than sorting the whole vocabulary.
    const auto at = [&](size_t i) { return candidates.begin() + static_cast<ptrdiff_t>(i); };
    double cumulative = 0.0;
    size_t n_sorted = 0;
    size_t chunk = 64;
    bool cut = false;
    while (!cut && n_sorted < n_kept) {
      const size_t end = std::min(n_kept, n_sorted + chunk);
      std::partial_sort(at(n_sorted), at(end), at(n_kept), better);
      for (size_t i = n_sorted; i < end; ++i) {
        cumulative += std::exp(static_cast<double>(candidates[i].logit - max_logit)) / normalizer;
        if (cumulative >= static_cast<double>(params_.top_p)) {
          n_kept = i + 1;
          cut = true;
          break;
        }
      }
      n_sorted = end;
      chunk *= 4;
    }
  }

  // Temperature and softmax over what is left, then one draw.
  const double inv_temperature = 1.0 / static_cast<double>(params_.temperature);
  double total = 0.0;
  for (size_t i = 0; i < n_kept; ++i) {
    total += std::exp(static_cast<double>(candidates[i].logit - max_logit) * inv_temperature);
  }
  // 53 random bits -> [0, 1); done by hand so the stream is the same on every standard library.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  const double target = u * total;
  double cumulative = 0.0;
  int32_t last_possible = candidates[0].id;
  for (size_t i = 0; i < n_kept; ++i) {
    const double weight =
        std::exp(static_cast<double>(candidates[i].logit - max_logit) * inv_temperature);
    if (weight <= 0.0) continue;
    cumulative += weight;
    last_possible = candidates[i].id;
    if (target < cumulative) return candidates[i].id;
  }
  return last_possible;  // rounding left `target` at the very end
}

void Sampler::fill_top(std::vector<TokenLogprob>& top, float log_normalizer) const {
  const auto n = static_cast<size_t>(params_.n_top_logprobs);
  if (n == 0) return;
  top.reserve(n);
  // Keep the n best biased logits in `top`, best first; ids ascend, so ties keep the lower id.
  for (size_t i = 0; i < biased_.size(); ++i) {
    const float x = biased_[i];
    if (top.size() == n && !(x > top.back().logprob)) continue;
    if (top.size() < n) top.push_back({});
    size_t pos = top.size() - 1;
    while (pos > 0 && x > top[pos - 1].logprob) {
      top[pos] = top[pos - 1];
      --pos;
    }
    top[pos] = {static_cast<int32_t>(i), x};
  }
  for (TokenLogprob& entry : top) entry.logprob -= log_normalizer;
}

}  // namespace capibara
