// Validation of OpenAI request bodies: every bad field is named.
#include <gtest/gtest.h>

#include "server/api_error.hpp"
#include "server/completion_request.hpp"

namespace capibara::server {
namespace {

using Json = nlohmann::json;

Json chat(Json extra = Json::object()) {
  Json b = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  for (auto& [k, v] : extra.items()) b[k] = v;
  return b;
}

std::string rejected_param(const Json& body, bool is_chat = true) {
  try {
    is_chat ? parse_chat_request(body) : parse_completion_request(body);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.http_status(), 400) << e.what();
    return e.param();
  }
  return "<accepted>";
}

TEST(CompletionRequest, ParsesAChatRequestWithOpenAIDefaults) {
  const auto r = parse_chat_request(chat({{"max_completion_tokens", 7}, {"stop", "x"}}));
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(r.max_tokens, 7);
  EXPECT_EQ(r.stop, std::vector<std::string>{"x"});
  EXPECT_FLOAT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 1.0f);
  EXPECT_EQ(r.sampling.top_k, 0);
  EXPECT_EQ(r.messages[0]["content"], "hi");
}

TEST(CompletionRequest, FlattensTextPartsAndMapsDeveloperToSystem) {
  Json b = chat();
  b["messages"] = {
      {{"role", "developer"}, {"content", "be brief"}},
      {{"role", "user"},
       {"content", {{{"type", "text"}, {"text", "a"}}, {{"type", "text"}, {"text", "b"}}}}}};
  const auto r = parse_chat_request(b);
  EXPECT_EQ(r.messages[0]["role"], "system");
  EXPECT_EQ(r.messages[1]["content"], "a\nb");
}

TEST(CompletionRequest, NamesEachBadField) {
  EXPECT_EQ(rejected_param(chat({{"temperature", 3}})), "temperature");
  EXPECT_EQ(rejected_param(chat({{"temperature", "hot"}})), "temperature");
  EXPECT_EQ(rejected_param(chat({{"top_p", -0.5}})), "top_p");
  EXPECT_EQ(rejected_param(chat({{"n", 0}})), "n");
  EXPECT_EQ(rejected_param(chat({{"max_tokens", -1}})), "max_tokens");
  EXPECT_EQ(rejected_param(chat({{"stop", 5}})), "stop");
  EXPECT_EQ(rejected_param(chat({{"logit_bias", {{"abc", 1}}}})), "logit_bias");
  EXPECT_EQ(rejected_param(chat({{"top_logprobs", 3}})), "top_logprobs");
  EXPECT_EQ(rejected_param(chat({{"presence_penalty", 2.5}})), "presence_penalty");
  EXPECT_EQ(rejected_param(chat({{"stream_options", {{"include_usage", true}}}})),
            "stream_options");
  EXPECT_EQ(rejected_param(chat({{"response_format", {{"type", "json_schema"}}}})),
            "response_format");
  Json no_model = chat();
  no_model.erase("model");
  EXPECT_EQ(rejected_param(no_model), "model");
  EXPECT_EQ(rejected_param(chat({{"messages", Json::array()}})), "messages");
  EXPECT_EQ(rejected_param(chat({{"messages", {{{"role", "wizard"}, {"content", "x"}}}}})),
            "messages[0].role");
  EXPECT_EQ(rejected_param(
                chat({{"messages", {{{"role", "user"}, {"content", {{{"type", "image_url"}}}}}}}})),
            "messages[0].content");
  EXPECT_EQ(rejected_param(Json::array()), "");
}

TEST(CompletionRequest, TextPromptsInEveryForm) {
  Json b = {{"model", "m"}, {"prompt", "hello"}};
  EXPECT_EQ(parse_completion_request(b).prompts.size(), 1u);
  EXPECT_EQ(parse_completion_request(b).max_tokens, 16);  // the legacy default
  b["prompt"] = {"a", "b"};
  EXPECT_EQ(parse_completion_request(b).prompts.size(), 2u);
  b["prompt"] = {1, 2, 3};
  const auto r = parse_completion_request(b);
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(std::get<std::vector<int32_t>>(r.prompts[0]), (std::vector<int32_t>{1, 2, 3}));
  b["prompt"] = {{1, 2}, {3}};
  EXPECT_EQ(parse_completion_request(b).prompts.size(), 2u);
  b["prompt"] = 5;
  EXPECT_EQ(rejected_param(b, false), "prompt");
  b["prompt"] = "x";
  b["suffix"] = "y";
  EXPECT_EQ(rejected_param(b, false), "suffix");
  b.erase("suffix");
  b["logprobs"] = 9;
  EXPECT_EQ(rejected_param(b, false), "logprobs");
}

TEST(ApiError, MapsKindsToStatusAndType) {
  EXPECT_EQ(ApiError(ApiErrorKind::kAuthentication, "x").http_status(), 401);
  EXPECT_EQ(ApiError(ApiErrorKind::kNotFound, "x").http_status(), 404);
  EXPECT_EQ(ApiError(ApiErrorKind::kOverloaded, "x").http_status(), 503);
  const auto j = ApiError(ApiErrorKind::kInvalidRequest, "bad", "temperature").to_json();
  EXPECT_EQ(j["error"]["message"], "bad");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "temperature");
  EXPECT_TRUE(j["error"]["code"].is_null());
}

}  // namespace
}  // namespace capibara::server
