// Single-sequence generation: chunked prefill, then sample / stop / emit per token.
#include "engine/generator.hpp"

#include <chrono>

#include <fmt/core.h>

#include "core/error.hpp"
#include "engine/sampler.hpp"
#include "engine/stop_matcher.hpp"
#include "model/model.hpp"
#include "tokenizer/tokenizer.hpp"

namespace capibara {

std::string_view finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
  }
  return "?";
}

Generator::Generator(Model& model, const Tokenizer& tokenizer, KvType kv_type)
    : model_(model),
      tokenizer_(tokenizer),
      cache_(model.make_kv_cache(kv_type)),
      logits_(static_cast<size_t>(model.config().n_vocab)) {}

GenerationResult Generator::generate(const GenerationRequest& request,
                                     const std::function<void(std::string_view)>& on_text,
                                     const std::atomic<bool>* cancel) {
  using Clock = std::chrono::steady_clock;
  const int64_t n_prompt = static_cast<int64_t>(request.prompt.size());
  if (n_prompt == 0) throw InvalidArgumentError("the prompt is empty");
  if (request.max_tokens < 0) throw InvalidArgumentError("max_tokens must be >= 0");
  if (n_prompt >= model_.n_ctx()) {
    throw InvalidArgumentError(
        fmt::format("the prompt has {} tokens; the context holds {}", n_prompt, model_.n_ctx()));
  }
  request.sampling.validate(static_cast<int32_t>(model_.config().n_vocab));

  GenerationResult result;
  result.n_prompt_tokens = n_prompt;
  cache_.set_n_tokens(0);
  SequenceKvCache* caches[] = {&cache_};
  auto cancelled = [&] { return cancel != nullptr && cancel->load(std::memory_order_relaxed); };

  const auto t0 = Clock::now();
  std::vector<BatchToken> batch;
  batch.reserve(static_cast<size_t>(model_.max_batch_tokens()));
  for (int64_t i = 0; i < n_prompt; ++i) {
    batch.push_back({request.prompt[static_cast<size_t>(i)], i, 0, i + 1 == n_prompt});
    if (static_cast<int64_t>(batch.size()) == model_.max_batch_tokens() || i + 1 == n_prompt) {
      model_.forward(batch, caches, logits_.data());
      batch.clear();
      if (cancelled()) {
        result.finish_reason = FinishReason::kCancelled;
        return result;
      }
    }
  }
  const auto t1 = Clock::now();
  result.prompt_seconds = std::chrono::duration<double>(t1 - t0).count();

  Sampler sampler(request.sampling, static_cast<int32_t>(model_.config().n_vocab));
  StopMatcher stops(request.stop);
  StreamingDecoder decoder(tokenizer_);
  std::vector<int32_t> history = request.prompt;
  auto emit = [&](const std::string& text) {
    if (text.empty()) return;
    result.text += text;
    if (on_text) on_text(text);
  };

  result.finish_reason = FinishReason::kLength;
  int64_t pos = n_prompt;
  for (int32_t n = 0; n < request.max_tokens; ++n) {
    if (cancelled()) {
      result.finish_reason = FinishReason::kCancelled;
      break;
    }
    const SampledToken s = sampler.sample(logits_, history);
    if (!request.ignore_eos && tokenizer_.is_eog(s.token)) {
      result.finish_reason = FinishReason::kStop;
      break;
    }
    result.tokens.push_back(s.token);
    history.push_back(s.token);
    const StopMatcher::Output out = stops.push(decoder.push(s.token));
    emit(out.emit);
    if (out.stopped) {
      result.finish_reason = FinishReason::kStop;
      break;
    }
    if (n + 1 == request.max_tokens) break;
    if (pos >= model_.n_ctx()) break;  // context full: finish with "length"
    const BatchToken next{s.token, pos++, 0, true};
    model_.forward(std::span(&next, 1), caches, logits_.data());
  }
  if (result.finish_reason != FinishReason::kStop || !stops.stopped()) {
    emit(stops.push(decoder.flush()).emit);
    emit(stops.flush());
  }
  result.generation_seconds = std::chrono::duration<double>(Clock::now() - t1).count();
  return result;
}

}  // namespace capibara
