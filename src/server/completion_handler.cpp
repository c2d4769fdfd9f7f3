// Prompt building, the per-choice output processor, and OpenAI response shapes.
#include "server/completion_handler.hpp"

#include <chrono>
#include <random>

#include <fmt/core.h>

#include "engine/chat_prompt.hpp"
#include "engine/stop_matcher.hpp"
#include "kernels/kernel_table.hpp"
#include "model/model.hpp"
#include "server/api_error.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/utf8.hpp"

namespace capibara::server {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string random_id(std::string_view prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{}{:016x}{:08x}", prefix, rng(), static_cast<uint32_t>(rng()));
}

Json bytes_of(std::string_view s) {
  Json a = Json::array();
  for (unsigned char c : s) a.push_back(c);
  return a;
}

// Text that is always valid UTF-8 for JSON (a token may be a lone byte of a character).
std::string json_safe(std::string_view piece) {
  std::string out;
  utf8::append_repaired(out, piece);
  return out;
}

// One completion choice: engine stream in, text and log-probabilities out.
struct Choice {
  int index = 0;
  size_t prompt = 0;  // which prompt (text completions may have several)
  std::shared_ptr<RequestStream> stream;
  StreamingDecoder decoder;
  StopMatcher stops;
  std::string text;
  int64_t n_tokens = 0;
  std::optional<FinishReason> finish;
  Json logprobs = Json::array();  // chat entries, or (token, logprob, top) for text completions

  Choice(const Tokenizer& tok, const std::vector<std::string>& stop_strings)
      : decoder(tok), stops(stop_strings) {}
};

}  // namespace

std::string system_fingerprint() {
  return fmt::format("capibara-{}-{}", CAPIBARA_VERSION,
                     kernels::isa_name(kernels::active_kernels().isa));
}

struct CompletionJob::State {
  std::shared_ptr<ServedModel> model;
  CompletionRequest request;
  std::string id;
  int64_t created = 0;
  std::vector<std::vector<int32_t>> prompts;  // token ids per prompt
  std::vector<std::string> prompt_texts;      // for echo
  std::vector<Choice> choices;
  Clock::time_point start = Clock::now();
  std::optional<Clock::time_point> deadline;
  std::optional<Clock::time_point> first_token;

  bool timed_out() const { return deadline && Clock::now() > *deadline; }
  void cancel_unfinished() {
    for (auto& c : choices) {
      if (c.stream && !c.finish) c.stream->cancel();
    }
  }
  ApiError timeout_error() const {
    return ApiError(ApiErrorKind::kTimeout, "the request ran past the server's time limit");
  }

  const Tokenizer& tokenizer() const { return model->engine->tokenizer(); }
  bool chat() const { return request.kind == CompletionRequest::Kind::kChat; }

  void build_prompts();
  void submit();
  // Applies one engine event to `c`; returns the text to emit now (may be empty).
  std::string apply(Choice& c, const StreamEvent& e, Json* logprob_delta);
  Json usage() const;
  Json chunk(const Choice& c, const std::string& delta, const Json& logprob_delta,
             bool first) const;
  Json final_chunk(const Choice& c) const;
  Json whole_response() const;
};

void CompletionJob::State::build_prompts() {
  const Tokenizer& tok = tokenizer();
  if (chat()) {
    if (!model->chat_template) {
      throw ApiError(ApiErrorKind::kInvalidRequest, "this model has no chat template");
    }
    chat::ChatTemplateOptions opts;
    opts.add_generation_prompt = true;
    opts.bos_token = model->bos_text;
    opts.eos_token = model->eos_text;
    opts.extra_context = request.template_extras;
    ChatPrompt prompt;
    try {
      prompt = build_chat_prompt(*model->chat_template, tok, request.messages, opts);
    } catch (const Error& e) {
      throw ApiError(
          ApiErrorKind::kInvalidRequest,
          fmt::format("the model's chat template rejected the conversation: {}", e.what()),
          "messages");
    }
    prompts.push_back(std::move(prompt.tokens));
    prompt_texts.push_back(std::move(prompt.text));
    return;
  }
  for (const auto& p : request.prompts) {
    if (const auto* text = std::get_if<std::string>(&p)) {
      prompts.push_back(tok.encode(*text, true, false));
      prompt_texts.push_back(*text);
    } else {
      const auto& ids = std::get<std::vector<int32_t>>(p);
      prompts.push_back(ids);
      prompt_texts.push_back(tok.decode(ids));
    }
  }
}

void CompletionJob::State::submit() {
  std::random_device rd;
  choices.reserve(prompts.size() * static_cast<size_t>(request.n));
  for (size_t p = 0; p < prompts.size(); ++p) {
    for (int32_t i = 0; i < request.n; ++i) {
      EngineRequest er;
      er.prompt = prompts[p];
      er.max_tokens = request.max_tokens.value_or(std::numeric_limits<int32_t>::max());
      er.sampling = request.sampling;
      er.sampling.n_top_logprobs = request.logprobs ? request.top_logprobs : 0;
      er.sampling.seed = request.seed_given ? request.sampling.seed + static_cast<uint64_t>(i)
                                            : (static_cast<uint64_t>(rd()) << 32) ^ rd();
      Choice& c = choices.emplace_back(tokenizer(), request.stop);
      c.index = static_cast<int>(choices.size() - 1);
      c.prompt = p;
      try {
        c.stream = model->engine->submit(std::move(er));
      } catch (const InvalidArgumentError& e) {
        for (auto& other : choices) {
          if (other.stream) other.stream->cancel();
        }
        throw ApiError(ApiErrorKind::kContextLength, e.what(), chat() ? "messages" : "prompt",
                       "context_length_exceeded");
      } catch (const OverloadedError& e) {
        for (auto& other : choices) {
          if (other.stream) other.stream->cancel();
        }
        throw ApiError(ApiErrorKind::kQueueFull, e.what(), "", "queue_full");
      }
    }
  }
}

std::string CompletionJob::State::apply(Choice& c, const StreamEvent& e, Json* logprob_delta) {
  switch (e.kind) {
    case StreamEvent::Kind::kToken: {
      ++c.n_tokens;
      if (!first_token) first_token = Clock::now();
      const auto out = c.stops.push(c.decoder.push(e.token.token));
      c.text += out.emit;
      if (request.logprobs) {
        const Tokenizer& tok = tokenizer();
        const std::string piece = tok.token_to_piece(e.token.token);
        Json entry;
        if (chat()) {
          Json top = Json::array();
          for (const auto& t : e.token.top) {
            const std::string tp = tok.token_to_piece(t.token);
            top.push_back(
                {{"token", json_safe(tp)}, {"logprob", t.logprob}, {"bytes", bytes_of(tp)}});
          }
          entry = {{"token", json_safe(piece)},
                   {"logprob", e.token.logprob},
                   {"bytes", bytes_of(piece)},
                   {"top_logprobs", std::move(top)}};
        } else {
          Json top = Json::object();
          for (const auto& t : e.token.top) top[json_safe(tok.token_to_piece(t.token))] = t.logprob;
          entry = {
              {"token", json_safe(piece)}, {"logprob", e.token.logprob}, {"top", std::move(top)}};
        }
        c.logprobs.push_back(entry);
        if (logprob_delta != nullptr) logprob_delta->push_back(entry);
      }
      if (out.stopped) {
        c.finish = FinishReason::kStop;
        c.stream->cancel();  // the engine frees the sequence at its next step
      }
      return out.emit;
    }
    case StreamEvent::Kind::kFinished: {
      std::string rest = c.stops.push(c.decoder.flush()).emit;
      rest += c.stops.flush();
      c.text += rest;
      c.finish = c.stops.stopped() ? FinishReason::kStop : e.finish;
      return rest;
    }
    case StreamEvent::Kind::kError:
      if (e.retryable) throw ApiError(ApiErrorKind::kOverloaded, e.error);
      throw ApiError(ApiErrorKind::kInternal, "generation failed: " + e.error);
  }
  return {};
}

Json CompletionJob::State::usage() const {
  int64_t prompt_tokens = 0;
  for (const auto& p : prompts) prompt_tokens += static_cast<int64_t>(p.size());
  int64_t completion_tokens = 0;
  for (const auto& c : choices) completion_tokens += c.n_tokens;
  // Prompt tokens served from the engine's prefix cache: per prompt, the most any of its
  // choices found (prompt tokens are counted once per prompt too).
  std::vector<int64_t> cached(prompts.size(), 0);
  for (const auto& c : choices) {
    if (c.stream && c.prompt < cached.size()) {
      cached[c.prompt] = std::max(cached[c.prompt], c.stream->cached_tokens());
    }
  }
  int64_t cached_tokens = 0;
  for (int64_t n : cached) cached_tokens += n;
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}}};
}

namespace {

Json text_logprobs(const Json& entries, size_t text_offset_start) {
  Json tokens = Json::array(), token_logprobs = Json::array(), top = Json::array(),
       offsets = Json::array();
  size_t offset = text_offset_start;
  for (const auto& e : entries) {
    tokens.push_back(e["token"]);
    token_logprobs.push_back(e["logprob"]);
    top.push_back(e["top"]);
    offsets.push_back(offset);
    offset += e["token"].get<std::string>().size();
  }
  return {{"tokens", tokens},
          {"token_logprobs", token_logprobs},
          {"top_logprobs", top},
          {"text_offset", offsets}};
}

}  // namespace

Json CompletionJob::State::chunk(const Choice& c, const std::string& delta,
                                 const Json& logprob_delta, bool first) const {
  Json choice;
  if (chat()) {
    Json d = Json::object();
    if (first) d["role"] = "assistant";
    d["content"] = delta;
    choice = {{"index", c.index}, {"delta", d}, {"finish_reason", nullptr}};
    choice["logprobs"] =
        request.logprobs && !logprob_delta.empty() ? Json{{"content", logprob_delta}} : Json();
  } else {
    choice = {{"index", c.index}, {"text", delta}, {"finish_reason", nullptr}};
    choice["logprobs"] = request.logprobs && !logprob_delta.empty()
                             ? text_logprobs(logprob_delta, c.text.size() - delta.size())
                             : Json();
  }
  Json j = {{"id", id},
            {"object", chat() ? "chat.completion.chunk" : "text_completion"},
            {"created", created},
            {"model", model->id},
            {"system_fingerprint", system_fingerprint()},
            {"choices", Json::array({choice})}};
  if (request.include_usage) j["usage"] = nullptr;
  return j;
}

Json CompletionJob::State::final_chunk(const Choice& c) const {
  Json j = chunk(c, "", Json::array(), false);
  auto& choice = j["choices"][0];
  if (chat()) choice["delta"] = Json::object();
  choice["finish_reason"] = finish_reason_name(c.finish.value_or(FinishReason::kStop));
  return j;
}

Json CompletionJob::State::whole_response() const {
  Json out_choices = Json::array();
  for (const auto& c : choices) {
    const std::string reason(finish_reason_name(c.finish.value_or(FinishReason::kStop)));
    if (chat()) {
      Json choice = {{"index", c.index},
                     {"message", {{"role", "assistant"}, {"content", c.text}}},
                     {"finish_reason", reason}};
      choice["logprobs"] = request.logprobs ? Json{{"content", c.logprobs}} : Json();
      out_choices.push_back(std::move(choice));
    } else {
      const std::string prefix = request.echo ? prompt_texts[c.prompt] : "";
      Json choice = {{"index", c.index}, {"text", prefix + c.text}, {"finish_reason", reason}};
      choice["logprobs"] = request.logprobs ? text_logprobs(c.logprobs, prefix.size()) : Json();
      out_choices.push_back(std::move(choice));
    }
  }
  return {{"id", id},
          {"object", chat() ? "chat.completion" : "text_completion"},
          {"created", created},
          {"model", model->id},
          {"system_fingerprint", system_fingerprint()},
          {"choices", std::move(out_choices)},
          {"usage", usage()}};
}

CompletionJob::CompletionJob(std::shared_ptr<ServedModel> model, CompletionRequest request,
                             double timeout_s)
    : state_(std::make_unique<State>()) {
  if (timeout_s > 0) {
    state_->deadline = state_->start + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(timeout_s));
  }
  state_->model = std::move(model);
  state_->request = std::move(request);
  state_->id = random_id(state_->chat() ? "chatcmpl-" : "cmpl-");
  state_->created = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  state_->build_prompts();
  state_->submit();
}

CompletionJob::~CompletionJob() {
  state_->cancel_unfinished();  // whatever is still running belongs to nobody now
}

CompletionJob::Summary CompletionJob::summary() const {
  const State& s = *state_;
  Summary out;
  out.model = s.model->id;
  for (const auto& p : s.prompts) out.prompt_tokens += static_cast<int64_t>(p.size());
  for (const auto& c : s.choices) out.completion_tokens += c.n_tokens;
  if (s.first_token) {
    out.time_to_first_token_s = std::chrono::duration<double>(*s.first_token - s.start).count();
  }
  return out;
}

void CompletionJob::stream(const ChunkWriter& write) {
  State& s = *state_;
  auto send = [&](const Json& j) { return write("data: " + j.dump() + "\n\n"); };
  std::vector<bool> started(s.choices.size(), false);
  if (s.chat()) {
    // The role arrives first, as OpenAI sends it, before any token is computed.
    for (auto& c : s.choices) {
      if (!send(s.chunk(c, "", Json::array(), true))) return;
    }
    std::fill(started.begin(), started.end(), true);
  }
  size_t unfinished = s.choices.size();
  const auto wait = std::chrono::milliseconds(s.choices.size() == 1 ? 50 : 2);
  while (unfinished > 0) {
    if (s.timed_out()) {
      s.cancel_unfinished();
      send(s.timeout_error().to_json());
      write("data: [DONE]\n\n");
      return;
    }
    for (size_t i = 0; i < s.choices.size(); ++i) {
      Choice& c = s.choices[i];
      if (c.finish) continue;
      auto e = c.stream->next(wait);
      if (!e) continue;
      Json lp = Json::array();
      std::string delta;
      try {
        delta = s.apply(c, *e, &lp);
      } catch (const ApiError& err) {
        s.cancel_unfinished();
        send(err.to_json());
        write("data: [DONE]\n\n");
        return;
      }
      if (!delta.empty() || !lp.empty()) {
        if (!send(s.chunk(c, delta, lp, !started[i]))) return;
        started[i] = true;
      }
      if (c.finish) {
        --unfinished;
        if (!send(s.final_chunk(c))) return;
      }
    }
  }
  if (s.request.include_usage) {
    Json u = {{"id", s.id},
              {"object", s.chat() ? "chat.completion.chunk" : "text_completion"},
              {"created", s.created},
              {"model", s.model->id},
              {"system_fingerprint", system_fingerprint()},
              {"choices", Json::array()},
              {"usage", s.usage()}};
    if (!send(u)) return;
  }
  write("data: [DONE]\n\n");
}

Json CompletionJob::collect() {
  State& s = *state_;
  for (auto& c : s.choices) {
    while (!c.finish) {
      if (s.timed_out()) {
        s.cancel_unfinished();
        throw s.timeout_error();
      }
      if (auto e = c.stream->next(std::chrono::milliseconds(100))) s.apply(c, *e, nullptr);
    }
  }
  return s.whole_response();
}

}  // namespace capibara::server
