// Errors of the HTTP API as types: each kind maps to one HTTP status and one OpenAI
// `error.type`, so handlers never invent statuses inline (the TGI router's habit).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace capibara::server {

enum class ApiErrorKind {
  kInvalidRequest,    // 400: a field is missing, mistyped or out of range
  kUnsupported,       // 400: a valid OpenAI field capibara does not implement yet
  kContextLength,     // 400: prompt (+ max_tokens) does not fit the model's context
  kAuthentication,    // 401: missing or wrong API key
  kNotFound,          // 404: unknown model or route
  kMethodNotAllowed,  // 405
  kConflict,          // 409: the resource's state forbids it now (unloading a busy expert)
  kPayloadTooLarge,   // 413: the body is over the server's limit
  kQueueFull,         // 429: too many requests queued for the model; retry later
  kOverloaded,        // 503: loading, draining, or memory limits reached; retry later
  kTimeout,           // 504: the request ran past the server's per-request time limit
  kInternal,          // 500: a bug or an engine failure
};

class ApiError : public Error {
 public:
  ApiError(ApiErrorKind kind, std::string message, std::string param = {}, std::string code = {});

  ApiErrorKind kind() const { return kind_; }
  int http_status() const;
  std::string_view type() const;  // OpenAI `error.type`
  const std::string& param() const { return param_; }
  const std::string& code() const { return code_; }
  // {"error": {"message", "type", "param", "code"}}
  nlohmann::json to_json() const;

 private:
  ApiErrorKind kind_;
  std::string param_;
  std::string code_;
};

}  // namespace capibara::server
