// The one table from error kind to HTTP status and OpenAI error type.
#include "server/api_error.hpp"

namespace capibara::server {

ApiError::ApiError(ApiErrorKind kind, std::string message, std::string param, std::string code)
    : Error(std::move(message)), kind_(kind), param_(std::move(param)), code_(std::move(code)) {}

int ApiError::http_status() const {
  switch (kind_) {
    case ApiErrorKind::kInvalidRequest:
    case ApiErrorKind::kUnsupported:
    case ApiErrorKind::kContextLength:
      return 400;
    case ApiErrorKind::kAuthentication:
      return 401;
    case ApiErrorKind::kNotFound:
      return 404;
    case ApiErrorKind::kMethodNotAllowed:
      return 405;
    case ApiErrorKind::kConflict:
      return 409;
    case ApiErrorKind::kPayloadTooLarge:
      return 413;
    case ApiErrorKind::kQueueFull:
      return 429;
    case ApiErrorKind::kTimeout:
      return 504;
    case ApiErrorKind::kOverloaded:
      return 503;
    case ApiErrorKind::kInternal:
      return 500;
  }
  return 500;
}

std::string_view ApiError::type() const {
  switch (kind_) {
    case ApiErrorKind::kInvalidRequest:
    case ApiErrorKind::kUnsupported:
    case ApiErrorKind::kContextLength:
    case ApiErrorKind::kNotFound:
    case ApiErrorKind::kMethodNotAllowed:
    case ApiErrorKind::kPayloadTooLarge:
    case ApiErrorKind::kConflict:
      return "invalid_request_error";
    case ApiErrorKind::kQueueFull:
      return "rate_limit_error";
    case ApiErrorKind::kTimeout:
      return "timeout_error";
    case ApiErrorKind::kAuthentication:
      return "authentication_error";
    case ApiErrorKind::kOverloaded:
      return "service_unavailable_error";
    case ApiErrorKind::kInternal:
      return "server_error";
  }
  return "server_error";
}

nlohmann::json ApiError::to_json() const {
  nlohmann::json e = {{"message", what()}, {"type", type()}};
  e["param"] = param_.empty() ? nlohmann::json(nullptr) : nlohmann::json(param_);
  e["code"] = code_.empty() ? nlohmann::json(nullptr) : nlohmann::json(code_);
  return {{"error", e}};
}

}  // namespace capibara::server
