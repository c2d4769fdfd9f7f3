// Validation of OpenAI request bodies (plus the extensions llama.cpp and vLLM accept).
#include "server/completion_request.hpp"

#include <cmath>
#include <limits>

#include <fmt/core.h>

#include "server/api_error.hpp"

namespace capibara::server {
namespace {

using Json = nlohmann::ordered_json;

[[noreturn]] void invalid(const std::string& param, const std::string& message) {
  throw ApiError(ApiErrorKind::kInvalidRequest, message, param);
}

const Json* field(const Json& body, const char* name) {
  const auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<double> number(const Json& body, const char* name, double lo, double hi) {
  const Json* v = field(body, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number()) invalid(name, fmt::format("'{}' must be a number", name));
  const double d = v->get<double>();
  if (!std::isfinite(d) || d < lo || d > hi) {
    invalid(name, fmt::format("'{}' must be between {} and {}, got {}", name, lo, hi, d));
  }
  return d;
}

std::optional<int64_t> integer(const Json& body, const char* name, int64_t lo, int64_t hi) {
  const Json* v = field(body, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number_integer()) invalid(name, fmt::format("'{}' must be an integer", name));
  const int64_t i = v->get<int64_t>();
  if (i < lo || i > hi) {
    invalid(name, fmt::format("'{}' must be between {} and {}, got {}", name, lo, hi, i));
  }
  return i;
}

std::optional<bool> boolean(const Json& body, const char* name) {
  const Json* v = field(body, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_boolean()) invalid(name, fmt::format("'{}' must be a boolean", name));
  return v->get<bool>();
}

std::optional<std::string> string(const Json& body, const char* name) {
  const Json* v = field(body, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) invalid(name, fmt::format("'{}' must be a string", name));
  return v->get<std::string>();
}

// Fields shared by both endpoints.
void parse_common(const Json& body, CompletionRequest& r) {
  if (!body.is_object()) invalid("", "the request body must be a JSON object");
  const auto model = string(body, "model");
  if (!model || model->empty()) invalid("model", "'model' is required");
  r.model = *model;
  constexpr int64_t kMaxTokens = std::numeric_limits<int32_t>::max();
  if (auto v = integer(body, "max_tokens", 0, kMaxTokens)) r.max_tokens = static_cast<int32_t>(*v);
  r.n = static_cast<int32_t>(integer(body, "n", 1, 16).value_or(1));
  r.stream = boolean(body, "stream").value_or(false);
  if (const Json* so = field(body, "stream_options")) {
    if (!so->is_object()) invalid("stream_options", "'stream_options' must be an object");
    r.include_usage = boolean(*so, "include_usage").value_or(false);
    if (!r.stream) invalid("stream_options", "'stream_options' is only allowed with stream: true");
  }
  if (const Json* stop = field(body, "stop")) {
    if (stop->is_string()) {
      r.stop.push_back(stop->get<std::string>());
    } else if (stop->is_array()) {
      if (stop->size() > 4) invalid("stop", "'stop' accepts at most 4 sequences");
      for (const auto& s : *stop) {
        if (!s.is_string()) invalid("stop", "'stop' must be a string or an array of strings");
        r.stop.push_back(s.get<std::string>());
      }
    } else {
      invalid("stop", "'stop' must be a string or an array of strings");
    }
    std::erase_if(r.stop, [](const std::string& s) { return s.empty(); });
  }

  SamplingParams& s = r.sampling;
  // OpenAI defaults: plain sampling at temperature 1, no top-k / min-p truncation.
  s.temperature = static_cast<float>(number(body, "temperature", 0.0, 2.0).value_or(1.0));
  s.top_p = static_cast<float>(number(body, "top_p", 0.0, 1.0).value_or(1.0));
  s.top_k = static_cast<int32_t>(integer(body, "top_k", -1, 1 << 20).value_or(0));
  s.min_p = static_cast<float>(number(body, "min_p", 0.0, 1.0).value_or(0.0));
  s.presence_penalty = static_cast<float>(number(body, "presence_penalty", -2.0, 2.0).value_or(0));
  s.frequency_penalty =
      static_cast<float>(number(body, "frequency_penalty", -2.0, 2.0).value_or(0));
  s.repetition_penalty =
      static_cast<float>(number(body, "repetition_penalty", 0.01, 10.0).value_or(1.0));
  s.penalty_last_n = -1;  // OpenAI penalties look at the whole generated text
  if (auto seed = integer(body, "seed", std::numeric_limits<int64_t>::min(),
                          std::numeric_limits<int64_t>::max())) {
    s.seed = static_cast<uint64_t>(*seed);
    r.seed_given = true;
  }
  if (const Json* bias = field(body, "logit_bias")) {
    if (!bias->is_object()) invalid("logit_bias", "'logit_bias' must map token ids to numbers");
    for (const auto& [key, value] : bias->items()) {
      int64_t id = 0;
      try {
        size_t used = 0;
        id = std::stoll(key, &used);
        if (used != key.size()) throw std::invalid_argument(key);
      } catch (const std::exception&) {
        invalid("logit_bias", fmt::format("logit_bias key '{}' is not a token id", key));
      }
      if (!value.is_number() || value.get<double>() < -100 || value.get<double>() > 100) {
        invalid("logit_bias", "logit_bias values must be numbers between -100 and 100");
      }
      s.logit_bias.emplace_back(static_cast<int32_t>(id), value.get<float>());
    }
  }
  r.user = string(body, "user").value_or("");
}

std::string flatten_content(const Json& content, size_t index) {
  const std::string param = fmt::format("messages[{}].content", index);
  if (content.is_string()) return content.get<std::string>();
  if (content.is_null()) return "";
  if (!content.is_array()) invalid(param, "'content' must be a string or an array of parts");
  std::string text;
  for (const auto& part : content) {
    if (!part.is_object() || !part.contains("type")) {
      invalid(param, "each content part must be an object with a 'type'");
    }
    const auto type = part["type"];
    if (type != "text") {
      throw ApiError(
          ApiErrorKind::kUnsupported,
          fmt::format("content parts of type {} are not supported (only 'text')", type.dump()),
          param);
    }
    if (!part.contains("text") || !part["text"].is_string()) {
      invalid(param, "a text part needs a string 'text'");
    }
    if (!text.empty()) text += "\n";
    text += part["text"].get<std::string>();
  }
  return text;
}

}  // namespace

CompletionRequest parse_chat_request(const Json& body) {
  CompletionRequest r;
  r.kind = CompletionRequest::Kind::kChat;
  parse_common(body, r);
  if (auto v = integer(body, "max_completion_tokens", 0, std::numeric_limits<int32_t>::max())) {
    r.max_tokens = static_cast<int32_t>(*v);
  }
  const Json* messages = field(body, "messages");
  if (messages == nullptr || !messages->is_array() || messages->empty()) {
    invalid("messages", "'messages' must be a non-empty array");
  }
  for (size_t i = 0; i < messages->size(); ++i) {
    const Json& m = (*messages)[i];
    const std::string param = fmt::format("messages[{}]", i);
    if (!m.is_object()) invalid(param, "each message must be an object");
    const auto role = string(m, "role");
    if (!role) invalid(param + ".role", "each message needs a 'role'");
    if (*role != "system" && *role != "user" && *role != "assistant" && *role != "tool" &&
        *role != "developer") {
      invalid(param + ".role", fmt::format("unknown role '{}' (expected system, user, "
                                           "assistant, tool or developer)",
                                           *role));
    }
    Json out = m;  // keeps tool_calls, tool_call_id, name for templates that use them
    out["role"] = *role == "developer" ? "system" : *role;
    if (!m.contains("content") && *role != "assistant") {
      invalid(param + ".content", "'content' is required");
    }
    out["content"] = flatten_content(m.value("content", Json()), i);
    r.messages.push_back(std::move(out));
  }
  r.logprobs = boolean(body, "logprobs").value_or(false);
  r.top_logprobs = static_cast<int32_t>(integer(body, "top_logprobs", 0, 20).value_or(0));
  if (r.top_logprobs > 0 && !r.logprobs) {
    invalid("top_logprobs", "'top_logprobs' requires 'logprobs': true");
  }
  if (const Json* rf = field(body, "response_format")) {
    const std::string type = rf->is_object() ? rf->value("type", "") : "";
    if (type == "json_object" || type == "json_schema") {
      throw ApiError(ApiErrorKind::kUnsupported,
                     fmt::format("response_format '{}' is not supported yet", type),
                     "response_format");
    }
    if (type != "text") invalid("response_format", "'response_format.type' must be 'text'");
  }
  if (const Json* tools = field(body, "tools")) r.template_extras["tools"] = *tools;
  if (const Json* kw = field(body, "chat_template_kwargs")) {
    if (!kw->is_object())
      invalid("chat_template_kwargs", "'chat_template_kwargs' must be an object");
    for (const auto& [k, v] : kw->items()) r.template_extras[k] = v;
  }
  return r;
}

CompletionRequest parse_completion_request(const Json& body) {
  CompletionRequest r;
  r.kind = CompletionRequest::Kind::kText;
  parse_common(body, r);
  if (!r.max_tokens) r.max_tokens = 16;  // the legacy API's default
  const Json* prompt = field(body, "prompt");
  if (prompt == nullptr) invalid("prompt", "'prompt' is required");
  auto token_list = [&](const Json& arr) {
    std::vector<int32_t> ids;
    for (const auto& t : arr) {
      if (!t.is_number_integer()) invalid("prompt", "token id prompts must hold integers");
      ids.push_back(t.get<int32_t>());
    }
    return ids;
  };
  if (prompt->is_string()) {
    r.prompts.emplace_back(prompt->get<std::string>());
  } else if (prompt->is_array() && !prompt->empty()) {
    if ((*prompt)[0].is_number_integer()) {
      r.prompts.emplace_back(token_list(*prompt));
    } else {
      for (const auto& p : *prompt) {
        if (p.is_string()) {
          r.prompts.emplace_back(p.get<std::string>());
        } else if (p.is_array()) {
          r.prompts.emplace_back(token_list(p));
        } else {
          invalid("prompt", "'prompt' must be a string, an array of strings, or token ids");
        }
      }
    }
  } else {
    invalid("prompt", "'prompt' must be a string, an array of strings, or token ids");
  }
  if (r.prompts.size() * static_cast<size_t>(r.n) > 64) {
    invalid("prompt", "at most 64 completions (prompts x n) per request");
  }
  r.echo = boolean(body, "echo").value_or(false);
  if (auto lp = integer(body, "logprobs", 0, 5)) {
    r.logprobs = true;
    r.top_logprobs = static_cast<int32_t>(*lp);
  }
  if (const auto suffix = string(body, "suffix"); suffix && !suffix->empty()) {
    throw ApiError(ApiErrorKind::kUnsupported, "'suffix' (fill-in-the-middle) is not supported",
                   "suffix");
  }
  if (field(body, "best_of") != nullptr && integer(body, "best_of", 1, 16).value_or(1) != r.n) {
    throw ApiError(ApiErrorKind::kUnsupported, "'best_of' different from 'n' is not supported",
                   "best_of");
  }
  return r;
}

}  // namespace capibara::server
