// The engine loop: admit, schedule, one batched forward, sample, stream.
#include "engine/engine.hpp"

#include <algorithm>
#include <chrono>

#include <fmt/core.h>

#include "core/error.hpp"
#include "engine/sampler.hpp"
#include "model/model.hpp"
#include "tokenizer/tokenizer.hpp"

namespace capibara {

using Clock = std::chrono::steady_clock;

// The scheduler's view of a sequence is its base, so a scheduled chunk leads back to it.
struct Engine::Sequence : ScheduledSequence {
  EngineRequest request;
  std::shared_ptr<RequestStream> stream;
  Sampler sampler;
  std::vector<int32_t> tokens;  // prompt + generated
  int32_t n_generated = 0;
  Clock::time_point arrival;
  Clock::time_point last_token;

  Sequence(EngineRequest r, std::shared_ptr<RequestStream> s, int32_t n_vocab)
      : request(std::move(r)),
        stream(std::move(s)),
        sampler(request.sampling, n_vocab),
        tokens(request.prompt),
        arrival(Clock::now()) {
    n_tokens = static_cast<int64_t>(tokens.size());
  }
};

Engine::Engine(std::unique_ptr<Model> model, std::shared_ptr<const Tokenizer> tokenizer,
               EngineConfig config)
    : model_(std::move(model)),
      tokenizer_(std::move(tokenizer)),
      config_(config),
      scheduler_(config.scheduler) {
  const auto& sc = config_.scheduler;
  if (sc.max_num_seqs <= 0 || sc.max_num_batched_tokens <= 0) {
    throw InvalidArgumentError("max_num_seqs and max_num_batched_tokens must be positive");
  }
  if (sc.max_num_batched_tokens > model_->max_batch_tokens()) {
    throw InvalidArgumentError(
        fmt::format("max_num_batched_tokens ({}) exceeds the batch the model was loaded for ({})",
                    sc.max_num_batched_tokens, model_->max_batch_tokens()));
  }
  max_model_len_ = config_.max_model_len > 0 ? std::min(config_.max_model_len, model_->n_ctx())
                                             : model_->n_ctx();
  slot_caches_.resize(static_cast<size_t>(sc.max_num_seqs));
  slot_cache_ptrs_.assign(static_cast<size_t>(sc.max_num_seqs), nullptr);
  batch_.reserve(static_cast<size_t>(sc.max_num_batched_tokens));
  done_.reserve(static_cast<size_t>(sc.max_num_seqs));
  logits_.resize(static_cast<size_t>(sc.max_num_seqs) *
                 static_cast<size_t>(model_->config().n_vocab));
  stats_.kv_cache_capacity_tokens = static_cast<int64_t>(sc.max_num_seqs) * max_model_len_;
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::shared_ptr<RequestStream> Engine::submit(EngineRequest request) {
  const auto n_prompt = static_cast<int64_t>(request.prompt.size());
  if (n_prompt == 0) throw InvalidArgumentError("the prompt is empty");
  const auto n_vocab = static_cast<int32_t>(model_->config().n_vocab);
  for (int32_t t : request.prompt) {
    if (t < 0 || t >= n_vocab) {
      throw InvalidArgumentError(
          fmt::format("token id {} is outside the vocabulary [0, {})", t, n_vocab));
    }
  }
  if (n_prompt >= max_model_len_) {
    throw InvalidArgumentError(fmt::format(
        "the prompt has {} tokens, but this model's context is {} tokens (prompt and completion "
        "together)",
        n_prompt, max_model_len_));
  }
  if (request.max_tokens < 0) throw InvalidArgumentError("max_tokens must be >= 0");
  request.max_tokens =
      static_cast<int32_t>(std::min<int64_t>(request.max_tokens, max_model_len_ - n_prompt));
  if (stats_.requests_waiting.load() >= config_.max_queued_requests) {
    throw OverloadedError(fmt::format("{} requests are already queued for this model; retry later",
                                      stats_.requests_waiting.load()));
  }
  auto stream = std::make_shared<RequestStream>(n_prompt);
  auto seq = std::make_unique<Sequence>(std::move(request), stream, n_vocab);
  {
    std::lock_guard lock(mutex_);
    seq->id = next_id_++;
    incoming_.push_back(std::move(seq));
  }
  stats_.requests_total++;
  stats_.requests_waiting++;
  stats_.prompt_tokens_total += static_cast<uint64_t>(n_prompt);
  wake_.notify_one();
  return stream;
}

void Engine::cancel_all(const std::string& reason) {
  {
    std::lock_guard lock(mutex_);
    cancel_all_reason_ = reason.empty() ? "cancelled" : reason;
  }
  wake_.notify_one();
}

void Engine::finish(Sequence& seq, FinishReason reason) {
  if (reason == FinishReason::kCancelled) {
    stats_.requests_cancelled++;
  } else {
    StreamEvent e;
    e.kind = StreamEvent::Kind::kFinished;
    e.finish = reason;
    seq.stream->push(std::move(e));
  }
  stats_.requests_finished++;
  stats_.request_latency.observe(std::chrono::duration<double>(Clock::now() - seq.arrival).count());
  if (seq.slot >= 0) {
    stats_.kv_cache_used_tokens -= seq.n_computed;
    stats_.requests_running--;
  } else {
    stats_.requests_waiting--;
  }
  scheduler_.remove(&seq);
}

void Engine::loop() {
  std::vector<std::unique_ptr<Sequence>> sequences;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] {
        return stopping_ || !incoming_.empty() || !sequences.empty() || !cancel_all_reason_.empty();
      });
      if (stopping_) break;
      for (auto& s : incoming_) {
        scheduler_.add(s.get());
        sequences.push_back(std::move(s));
      }
      incoming_.clear();
      if (!cancel_all_reason_.empty()) {
        for (auto& s : sequences) {
          StreamEvent e;
          e.kind = StreamEvent::Kind::kError;
          e.error = cancel_all_reason_;
          s->stream->push(std::move(e));
          finish(*s, FinishReason::kCancelled);
        }
        sequences.clear();
        cancel_all_reason_.clear();
        continue;
      }
    }
    step(sequences);
  }
  // Shutting down: tell every consumer still waiting.
  for (auto& s : sequences) {
    StreamEvent e;
    e.kind = StreamEvent::Kind::kError;
    e.error = "the model was unloaded before the request finished";
    s->stream->push(std::move(e));
  }
  std::lock_guard lock(mutex_);
  for (auto& s : incoming_) {
    StreamEvent e;
    e.kind = StreamEvent::Kind::kError;
    e.error = "the model was unloaded before the request started";
    s->stream->push(std::move(e));
  }
}

void Engine::step(std::vector<std::unique_ptr<Sequence>>& sequences) {
  // Drop what the clients abandoned before spending compute on it.
  std::erase_if(sequences, [&](const std::unique_ptr<Sequence>& s) {
    if (!s->stream->cancelled()) return false;
    finish(*s, FinishReason::kCancelled);
    return true;
  });
  const size_t n_running_before = scheduler_.n_running();
  const auto plan = scheduler_.schedule();
  stats_.requests_running += static_cast<int64_t>(scheduler_.n_running() - n_running_before);
  stats_.requests_waiting -= static_cast<int64_t>(scheduler_.n_running() - n_running_before);
  if (plan.empty()) return;

  std::vector<BatchToken>& batch = batch_;
  batch.clear();
  for (const ScheduledChunk& c : plan) {
    auto* seq = static_cast<Sequence*>(c.seq);
    const auto slot = static_cast<size_t>(c.seq->slot);
    if (!slot_caches_[slot]) {
      slot_caches_[slot] =
          std::make_unique<SequenceKvCache>(model_->make_kv_cache(config_.kv_type));
      slot_cache_ptrs_[slot] = slot_caches_[slot].get();
      stats_.kv_cache_bytes += static_cast<int64_t>(slot_caches_[slot]->size_bytes());
    }
    for (int64_t i = 0; i < c.n_tokens; ++i) {
      const int64_t pos = c.start + i;
      batch.push_back({seq->tokens[static_cast<size_t>(pos)], pos, c.seq->slot,
                       c.want_logits && i + 1 == c.n_tokens});
    }
  }

  const auto t0 = Clock::now();
  try {
    model_->forward(batch, slot_cache_ptrs_, logits_.data());
  } catch (const std::exception& e) {
    // A failed step fails the sequences in it; the engine keeps serving the others.
    for (const ScheduledChunk& c : plan) {
      auto* seq = static_cast<Sequence*>(c.seq);
      StreamEvent ev;
      ev.kind = StreamEvent::Kind::kError;
      ev.error = e.what();
      seq->stream->push(std::move(ev));
      finish(*seq, FinishReason::kCancelled);
      std::erase_if(sequences, [&](const std::unique_ptr<Sequence>& s) { return s.get() == seq; });
    }
    return;
  }
  const auto t1 = Clock::now();
  stats_.steps_total++;
  stats_.busy_nanoseconds +=
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());

  const auto n_vocab = static_cast<size_t>(model_->config().n_vocab);
  size_t logit_row = 0;
  done_.clear();
  for (const ScheduledChunk& c : plan) {
    auto* seq = static_cast<Sequence*>(c.seq);
    c.seq->n_computed += c.n_tokens;
    stats_.kv_cache_used_tokens += c.n_tokens;
    if (!c.want_logits) continue;
    const std::span<const float> logits(logits_.data() + logit_row * n_vocab, n_vocab);
    ++logit_row;
    if (seq->request.max_tokens == 0) {
      done_.emplace_back(seq, FinishReason::kLength);
      continue;
    }
    SampledToken s = seq->sampler.sample(logits, seq->tokens);
    const auto now = Clock::now();
    if (seq->n_generated == 0) {
      stats_.time_to_first_token.observe(std::chrono::duration<double>(now - seq->arrival).count());
    } else {
      stats_.inter_token_latency.observe(
          std::chrono::duration<double>(now - seq->last_token).count());
    }
    seq->last_token = now;
    if (!seq->request.ignore_eos && tokenizer_->is_eog(s.token)) {
      done_.emplace_back(seq, FinishReason::kStop);
      continue;
    }
    seq->n_generated++;
    stats_.generation_tokens_total++;
    seq->tokens.push_back(s.token);
    c.seq->n_tokens++;
    StreamEvent ev;
    ev.kind = StreamEvent::Kind::kToken;
    ev.token = std::move(s);
    seq->stream->push(std::move(ev));
    if (seq->n_generated >= seq->request.max_tokens ||
        static_cast<int64_t>(seq->tokens.size()) >= max_model_len_) {
      done_.emplace_back(seq, FinishReason::kLength);
    }
  }
  for (const auto& [seq, reason] : done_) {
    finish(*seq, reason);
    std::erase_if(sequences, [&](const std::unique_ptr<Sequence>& s) { return s.get() == seq; });
  }
}

}  // namespace capibara
