// Teacher forcing against llama.cpp's reference distributions.
#include "engine/golden_eval.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <utility>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "model/model.hpp"
#include "tokenizer/utf8.hpp"

namespace capibara {

GoldenFile read_golden_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SystemError(fmt::format("cannot open golden file '{}'", path.string()));
  const std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Reference texts may end inside a multi-byte character (llama.cpp writes the raw bytes of
  // the tokens); JSON parsers reject that, so such bytes become U+FFFD first. Only the texts
  // change, never the token ids or numbers.
  std::string repaired;
  utf8::append_repaired(repaired, raw);
  GoldenFile g;
  try {
    const auto j = nlohmann::json::parse(repaired);
    g.model = j.value("model", "");
    g.n_vocab = j.at("n_vocab").get<int64_t>();
    for (const auto& jc : j.at("cases")) {
      GoldenCase c;
      c.prompt = jc.at("prompt").get<std::string>();
      c.add_bos = jc.value("add_bos", true);
      c.prompt_tokens = jc.at("prompt_tokens").get<std::vector<int32_t>>();
      c.greedy_tokens = jc.at("greedy_tokens").get<std::vector<int32_t>>();
      c.greedy_text = jc.value("greedy_text", "");
      for (const auto& js : jc.at("steps")) {
        auto& step = c.steps.emplace_back();
        for (const auto& entry : js.at("top")) {
          step.push_back({entry.at(0).get<int32_t>(), entry.at(2).get<double>()});
        }
        if (step.empty()) throw FormatError("a step has an empty 'top' list");
      }
      if (c.prompt_tokens.empty()) throw FormatError("a case has no prompt tokens");
      if (c.steps.size() > c.greedy_tokens.size() + 1) {
        throw FormatError("a case has more steps than greedy tokens to feed");
      }
      g.cases.push_back(std::move(c));
    }
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(fmt::format("golden file '{}': {}", path.string(), e.what()));
  } catch (const FormatError& e) {
    throw FormatError(fmt::format("golden file '{}': {}", path.string(), e.what()));
  }
  return g;
}

GoldenTolerance golden_tolerance(const Model& model, KvType kv_type) {
  // The weight class is decided by the matrices (2-D tensors); norms are f32 in every file.
  bool quantized = false;
  bool half = false;
  for (const auto& t : model.file().tensors()) {
    if (t.shape.size() < 2) continue;
    if (t.type == GgmlType::kF16 || t.type == GgmlType::kBF16) {
      half = true;
    } else if (t.type != GgmlType::kF32) {
      quantized = true;
    }
  }
  if (quantized) {
    return {0.15, 0.90, false, 0.0, "quantized weights: 0.15, top-1 >= 90% of the file's steps",
            true};
  }
  if (half || kv_type != KvType::kF32) {
    return {3e-2, 31.0 / 32.0, false, 0.0, "16-bit weights or KV: 3e-2, top-1 >= 31/32 of steps"};
  }
  return {2e-3, 1.0, true, 2e-3, "f32 weights and KV: 2e-3, top-1 on every clear step"};
}

namespace {

// Feeds case `c` by teacher forcing (the prompt in batches, then each reference token) and calls
// `on_step(step, logits, log_z)` with every step's logits and their log-sum-exp, computed in
// double for a precise normaliser.
template <typename OnStep>
void teacher_force(Model& model, const GoldenCase& c, KvType kv_type, OnStep&& on_step) {
  std::vector<float> logits(static_cast<size_t>(model.config().n_vocab));
  SequenceKvCache cache = model.make_kv_cache(kv_type);
  SequenceKvCache* caches[] = {&cache};
  std::vector<BatchToken> batch;
  int64_t pos = 0;
  for (size_t i = 0; i < c.prompt_tokens.size(); ++i) {
    batch.push_back({c.prompt_tokens[i], pos++, 0, i + 1 == c.prompt_tokens.size()});
    if (static_cast<int64_t>(batch.size()) == model.max_batch_tokens() ||
        i + 1 == c.prompt_tokens.size()) {
      model.forward(batch, caches, logits.data());
      batch.clear();
    }
  }
  for (size_t s = 0; s < c.steps.size(); ++s) {
    if (s > 0) {
      const BatchToken next{c.greedy_tokens[s - 1], pos++, 0, true};
      model.forward(std::span(&next, 1), caches, logits.data());
    }
    const float max = *std::max_element(logits.begin(), logits.end());
    double sum = 0.0;
    for (float l : logits) sum += std::exp(static_cast<double>(l - max));
    on_step(s, std::as_const(logits), static_cast<double>(max) + std::log(sum));
  }
}

}  // namespace

std::vector<GoldenCaseResult> evaluate_golden(Model& model, const GoldenFile& golden,
                                              KvType kv_type, const GoldenTolerance& tolerance) {
  const int64_t n_vocab = model.config().n_vocab;
  if (golden.n_vocab != n_vocab) {
    throw InvalidArgumentError(fmt::format(
        "golden file has a vocabulary of {} tokens, the model {}", golden.n_vocab, n_vocab));
  }
  std::vector<GoldenCaseResult> results;
  for (const GoldenCase& c : golden.cases) {
    GoldenCaseResult r;
    r.prompt = c.prompt;
    r.steps = static_cast<int64_t>(c.steps.size());
    teacher_force(model, c, kv_type, [&](size_t s, const std::vector<float>& logits, double log_z) {
      const auto& ref = c.steps[s];
      for (const auto& cand : ref) {
        if (cand.token < 0 || cand.token >= n_vocab) {
          throw FormatError(
              fmt::format("golden token id {} is outside the vocabulary", cand.token));
        }
        const double ours = static_cast<double>(logits[static_cast<size_t>(cand.token)]) - log_z;
        r.max_abs_logprob_diff = std::max(r.max_abs_logprob_diff, std::abs(ours - cand.logprob));
      }
      const auto argmax =
          static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      const bool agree = argmax == ref[0].token;
      r.top1_agree += agree ? 1 : 0;
      const bool clear = ref.size() < 2 || ref[0].logprob - ref[1].logprob > tolerance.clear_gap;
      if (!tolerance.only_clear_steps || clear) {
        ++r.top1_required;
        r.top1_required_agree += agree ? 1 : 0;
      }
    });
    const bool top1_ok =
        tolerance.only_clear_steps
            ? r.top1_required_agree == r.top1_required
            : static_cast<double>(r.top1_agree) >=
                  tolerance.min_top1_fraction * static_cast<double>(r.steps) - 1e-9;
    r.pass = top1_ok && r.max_abs_logprob_diff <= tolerance.max_abs_logprob_diff;
    results.push_back(std::move(r));
  }
  if (tolerance.top1_over_file && !tolerance.only_clear_steps) {
    int64_t agree = 0;
    int64_t steps = 0;
    for (const auto& r : results) {
      agree += r.top1_agree;
      steps += r.steps;
    }
    const bool top1_ok = static_cast<double>(agree) >=
                         tolerance.min_top1_fraction * static_cast<double>(steps) - 1e-9;
    for (auto& r : results) {
      r.pass = top1_ok && r.max_abs_logprob_diff <= tolerance.max_abs_logprob_diff;
    }
  }
  return results;
}

namespace {

// Log-softmax of every teacher-forced step of case `c`: [n_steps, n_vocab].
std::vector<double> teacher_forced_logprobs(Model& model, const GoldenCase& c, KvType kv_type) {
  std::vector<double> out;
  teacher_force(model, c, kv_type, [&](size_t, const std::vector<float>& logits, double log_z) {
    for (float l : logits) out.push_back(static_cast<double>(l) - log_z);
  });
  return out;
}

}  // namespace

double mean_kv_kl_divergence(Model& model, const GoldenFile& golden, KvType reference,
                             KvType test) {
  const auto n_vocab = static_cast<size_t>(model.config().n_vocab);
  double total = 0.0;
  int64_t n_steps = 0;
  for (const GoldenCase& c : golden.cases) {
    const auto p = teacher_forced_logprobs(model, c, reference);
    const auto q = teacher_forced_logprobs(model, c, test);
    for (size_t s = 0; s < c.steps.size(); ++s) {
      double kl = 0.0;
      for (size_t v = 0; v < n_vocab; ++v) {
        const double lp = p[s * n_vocab + v];
        kl += std::exp(lp) * (lp - q[s * n_vocab + v]);
      }
      total += kl;
      ++n_steps;
    }
  }
  return n_steps > 0 ? total / static_cast<double>(n_steps) : 0.0;
}

}  // namespace capibara
