// The body of `/v1/chat/completions` and `/v1/completions`, validated into one typed request.
// Every rejected field produces an ApiError naming it (`param`), as OpenAI does.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/sampling_params.hpp"

namespace capibara::server {

struct CompletionRequest {
  enum class Kind { kChat, kText };
  Kind kind = Kind::kChat;
  std::string model;
  // Chat: messages as the template expects them (`content` flattened to a string).
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  // Text: one prompt per entry, either text or token ids.
  std::vector<std::variant<std::string, std::vector<int32_t>>> prompts;
  std::optional<int32_t> max_tokens;  // nullopt: until the context is full
  int32_t n = 1;
  bool stream = false;
  bool include_usage = false;
  std::vector<std::string> stop;
  SamplingParams sampling;
  bool seed_given = false;
  bool logprobs = false;
  int32_t top_logprobs = 0;
  bool echo = false;  // text completions only
  std::string user;
  // Template extras (tools, chat_template_kwargs) passed through to the chat template.
  nlohmann::ordered_json template_extras = nlohmann::ordered_json::object();
};

// Both throw ApiError (400) for invalid bodies.
CompletionRequest parse_chat_request(const nlohmann::ordered_json& body);
CompletionRequest parse_completion_request(const nlohmann::ordered_json& body);

}  // namespace capibara::server
