// Generation for one sequence on a model of its own: prefill the prompt in chunks, then decode
// token by token with a sampler, stop strings, a token limit and end-of-generation tokens,
// handing complete UTF-8 text to a callback as it is produced. Used by `capibara run`; the
// serving engine schedules many sequences instead.
//
// Thread safety: one generation at a time per Generator (it drives the model's forward pass).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/sampling_params.hpp"
#include "model/kv_cache.hpp"

namespace capibara {

class Model;
class Tokenizer;

enum class FinishReason { kStop, kLength, kCancelled };
std::string_view finish_reason_name(FinishReason reason);

struct GenerationRequest {
  std::vector<int32_t> prompt;  // token ids, BOS included when wanted
  int32_t max_tokens = 128;     // generated tokens at most
  SamplingParams sampling;
  std::vector<std::string> stop;  // stop strings, matched across token boundaries
  bool ignore_eos = false;
};

struct GenerationResult {
  FinishReason finish_reason = FinishReason::kStop;
  std::string text;             // everything emitted
  std::vector<int32_t> tokens;  // generated tokens (stop-string tokens included)
  int64_t n_prompt_tokens = 0;
  double prompt_seconds = 0.0;
  double generation_seconds = 0.0;
};

class Generator {
 public:
  Generator(Model& model, const Tokenizer& tokenizer, KvType kv_type);

  // Calls `on_text` with each complete piece of text as soon as it is known not to be part of a
  // stop string. `cancel`, when set by another thread (or a signal handler), ends generation
  // at the next token with FinishReason::kCancelled.
  GenerationResult generate(const GenerationRequest& request,
                            const std::function<void(std::string_view)>& on_text,
                            const std::atomic<bool>* cancel = nullptr);

 private:
  Model& model_;
  const Tokenizer& tokenizer_;
  SequenceKvCache cache_;
  std::vector<float> logits_;  // [n_vocab]
};

}  // namespace capibara
