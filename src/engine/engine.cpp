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

namespace {

int64_t effective_max_model_len(const Model& model, const EngineConfig& config) {
  return config.max_model_len > 0 ? std::min(config.max_model_len, model.n_ctx()) : model.n_ctx();
}

// Blocks of the engine's pool. InvalidArgumentError for limits that cannot work.
int32_t pool_blocks(const Model& model, const EngineConfig& config) {
  const auto& sc = config.scheduler;
  if (sc.max_num_seqs <= 0 || sc.max_num_batched_tokens <= 0) {
    throw InvalidArgumentError("max_num_seqs and max_num_batched_tokens must be positive");
  }
  const int64_t per_seq = kv_blocks_for(effective_max_model_len(model, config));
  if (config.kv_cache_tokens == 0) return static_cast<int32_t>(sc.max_num_seqs * per_seq);
  if (config.kv_cache_tokens < 0 || kv_blocks_for(config.kv_cache_tokens) < per_seq) {
    throw InvalidArgumentError(fmt::format(
        "the KV cache of {} tokens cannot hold one sequence of max_model_len ({} tokens)",
        config.kv_cache_tokens, effective_max_model_len(model, config)));
  }
  return static_cast<int32_t>(kv_blocks_for(config.kv_cache_tokens));
}

}  // namespace

// The scheduler's view of a sequence is its base, so a scheduled chunk leads back to it.
struct Engine::Sequence : ScheduledSequence {
  EngineRequest request;
  std::shared_ptr<RequestStream> stream;
  Sampler sampler;
  int32_t n_generated = 0;
  Clock::time_point arrival;
  Clock::time_point last_token;

  // Sized for the whole sequence here, on the submitting thread, so that the engine thread
  // never grows them.
  Sequence(EngineRequest r, std::shared_ptr<RequestStream> s, int32_t n_vocab)
      : request(std::move(r)),
        stream(std::move(s)),
        sampler(request.sampling, n_vocab),
        arrival(Clock::now()) {
    const auto max_len = request.prompt.size() + static_cast<size_t>(request.max_tokens);
    tokens.reserve(max_len);
    tokens = request.prompt;
    n_tokens = static_cast<int64_t>(tokens.size());
    blocks.reserve(static_cast<size_t>(kv_blocks_for(static_cast<int64_t>(max_len))));
    block_hashes.reserve(blocks.capacity());
  }
};

Engine::Engine(std::unique_ptr<Model> model, std::shared_ptr<const Tokenizer> tokenizer,
               EngineConfig config)
    : model_(std::move(model)),
      tokenizer_(std::move(tokenizer)),
      config_(config),
      block_pool_(pool_blocks(*model_, config_)),
      scheduler_(config.scheduler, &block_pool_) {
  const auto& sc = config_.scheduler;
  if (sc.max_num_batched_tokens > model_->max_batch_tokens()) {
    throw InvalidArgumentError(
        fmt::format("max_num_batched_tokens ({}) exceeds the batch the model was loaded for ({})",
                    sc.max_num_batched_tokens, model_->max_batch_tokens()));
  }
  max_model_len_ = effective_max_model_len(*model_, config_);
  const ModelConfig& mc = model_->config();
  kv_pool_ = std::make_unique<KvBlockPool>(mc.n_layer, mc.n_head_kv, mc.head_dim,
                                           block_pool_.n_blocks(), config_.kv_type);
  slot_caches_.reserve(static_cast<size_t>(sc.max_num_seqs));
  for (int32_t s = 0; s < sc.max_num_seqs; ++s) {
    slot_caches_.emplace_back(*kv_pool_, model_->n_ctx());
    slot_cache_ptrs_.push_back(&slot_caches_.back());
  }
  batch_.reserve(static_cast<size_t>(sc.max_num_batched_tokens));
  done_.reserve(static_cast<size_t>(sc.max_num_seqs));
  logits_.resize(static_cast<size_t>(sc.max_num_seqs) *
                 static_cast<size_t>(model_->config().n_vocab));
  stats_.kv_cache_capacity_tokens = int64_t{block_pool_.n_blocks()} * kKvBlockTokens;
  stats_.kv_cache_bytes = static_cast<int64_t>(kv_pool_->size_bytes());
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

void Engine::update_kv_stats() {
  stats_.kv_cache_used_tokens = int64_t{block_pool_.n_held()} * kKvBlockTokens;
  stats_.preemptions_total = scheduler_.n_preemptions();
  stats_.prefix_cache_queried_tokens = scheduler_.prefix_queried_tokens();
  stats_.prefix_cache_hit_tokens = scheduler_.prefix_hit_tokens();
}

void Engine::finish(Sequence& seq, FinishReason reason) {
  // Every gauge is settled (blocks released, counts moved) before the consumer can observe the
  // end, through the final event or the cancelled count, so stats read then are consistent.
  seq.stream->set_cached_tokens(std::max<int64_t>(0, seq.n_cached_tokens));
  if (seq.slot >= 0) {
    stats_.requests_running--;
  } else {
    stats_.requests_waiting--;
  }
  scheduler_.remove(&seq);
  update_kv_stats();
  stats_.request_latency.observe(std::chrono::duration<double>(Clock::now() - seq.arrival).count());
  stats_.requests_finished++;
  if (reason == FinishReason::kCancelled) {
    stats_.requests_cancelled++;
  } else {
    StreamEvent e;
    e.kind = StreamEvent::Kind::kFinished;
    e.finish = reason;
    seq.stream->push(std::move(e));
  }
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
          e.retryable = true;
          s->stream->push(std::move(e));
          finish(*s, FinishReason::kCancelled);
        }
        sequences.clear();
        cancel_all_reason_.clear();
        update_kv_stats();
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
    e.retryable = true;
    s->stream->push(std::move(e));
  }
  std::lock_guard lock(mutex_);
  for (auto& s : incoming_) {
    StreamEvent e;
    e.kind = StreamEvent::Kind::kError;
    e.error = "the model was unloaded before the request started";
    e.retryable = true;
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
  const auto n_running_before = static_cast<int64_t>(scheduler_.n_running());
  const auto& plan = scheduler_.schedule();
  const auto admitted = static_cast<int64_t>(scheduler_.n_running()) - n_running_before;
  stats_.requests_running += admitted;  // net of preemptions, which go back to waiting
  stats_.requests_waiting -= admitted;
  if (plan.empty()) {
    update_kv_stats();
    return;
  }

  std::vector<BatchToken>& batch = batch_;
  batch.clear();
  for (const ScheduledChunk& c : plan) {
    auto* seq = static_cast<Sequence*>(c.seq);
    SequenceKvCache& cache = slot_caches_[static_cast<size_t>(c.seq->slot)];
    cache.set_blocks(c.seq->blocks);
    cache.set_n_tokens(c.seq->n_computed);
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
    update_kv_stats();
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
    scheduler_.computed(c);
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
      seq->stream->set_cached_tokens(std::max<int64_t>(0, seq->n_cached_tokens));
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
  update_kv_stats();
}

}  // namespace capibara
