// Runs one validated completion request against a served model: builds the prompt (chat
// template + tokenizer), submits one engine sequence per choice, turns the engine's tokens
// into text (streaming detokenizer, stop strings, log-probabilities: the output processor, on
// the HTTP thread, so the engine loop only computes) and produces OpenAI's JSON, either whole
// or as Server-Sent Events written as each token arrives.
//
// Thread safety: called on an HTTP worker thread; touches only its own request's state.
#pragma once

#include <functional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "registry/served_model.hpp"
#include "server/completion_request.hpp"

namespace capibara::server {

// Writes bytes to the client; returns false once the client has gone away.
using ChunkWriter = std::function<bool(std::string_view)>;

// Identifies this build in `system_fingerprint`.
std::string system_fingerprint();

// One request in flight. The constructor builds the prompts and submits the sequences, so
// every error (ApiError: prompt too long, template refusing the conversation) is known before
// any byte is written and still gets its status code. Then either `collect` waits for the whole
// response, or `stream` writes `data: {...}` events and `data: [DONE]` as tokens arrive.
class CompletionJob {
 public:
  // What the access log reports of a finished job.
  struct Summary {
    std::string model;
    int64_t prompt_tokens = 0;
    int64_t completion_tokens = 0;
    double time_to_first_token_s = -1.0;  // < 0: no token was produced
  };

  // `timeout_s` > 0 bounds the whole request: past it, its sequences are cancelled and the
  // client gets a 504 (or, once streaming, an error event).
  CompletionJob(std::shared_ptr<ServedModel> model, CompletionRequest request,
                double timeout_s = 0.0);
  ~CompletionJob();  // cancels whatever is still running
  CompletionJob(const CompletionJob&) = delete;
  CompletionJob& operator=(const CompletionJob&) = delete;

  nlohmann::json collect();
  // Runs to the end, or until `write` returns false (the client left: sequences are cancelled).
  void stream(const ChunkWriter& write);
  Summary summary() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace capibara::server
