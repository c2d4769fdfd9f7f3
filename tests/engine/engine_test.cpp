// The engine against the single-sequence generator on a real model: batching many sequences
// together must not change any sequence's tokens.
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "engine/engine.hpp"
#include "engine/generator.hpp"
#include "model/model.hpp"
#include "support/shared_data.hpp"
#include "tokenizer/tokenizer.hpp"

namespace capibara {
namespace {

struct Collected {
  std::vector<int32_t> tokens;
  FinishReason finish = FinishReason::kCancelled;
  std::string error;
};

Collected drain(RequestStream& stream) {
  Collected c;
  while (true) {
    auto e = stream.next(std::chrono::seconds(30));
    if (!e) {
      c.error = "timed out";
      return c;
    }
    if (e->kind == StreamEvent::Kind::kToken) {
      c.tokens.push_back(e->token.token);
    } else if (e->kind == StreamEvent::Kind::kFinished) {
      c.finish = e->finish;
      return c;
    } else {
      c.error = e->error;
      return c;
    }
  }
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto dir = testing::shared_dir();
    if (!dir) GTEST_SKIP() << "shared test data not found: set CAPIBARA_SHARED";
    path_ = *dir / "models" / "stories260K.gguf";
    tokenizer_ =
        std::make_shared<const Tokenizer>(Tokenizer::from_gguf(gguf::GgufFile::open(path_)));
  }
  std::vector<int32_t> alone(const std::vector<int32_t>& prompt, int32_t n, float temp,
                             uint64_t seed) {
    auto model = Model::load(path_, {2, 256, 64});
    Generator g(*model, *tokenizer_, KvType::kF32);
    GenerationRequest r;
    r.prompt = prompt;
    r.max_tokens = n;
    r.sampling.temperature = temp;
    r.sampling.seed = seed;
    return g.generate(r, nullptr).tokens;
  }
  std::filesystem::path path_;
  std::shared_ptr<const Tokenizer> tokenizer_;
};

TEST_F(EngineTest, ConcurrentSequencesMatchEachRunAlone) {
  const std::vector<std::string> prompts = {"Once upon a time", "Lily and Tom were best friends.",
                                            "The little dog",
                                            "One day, a girl named Sue went to the park"};
  EngineConfig cfg;
  cfg.scheduler = {3, 7, true};  // fewer slots than requests, small chunks: everything mixes
  cfg.kv_type = KvType::kF32;
  Engine engine(Model::load(path_, {2, 256, 64}), tokenizer_, cfg);
  std::vector<std::shared_ptr<RequestStream>> streams;
  std::vector<std::vector<int32_t>> encoded;
  for (size_t i = 0; i < prompts.size(); ++i) {
    EngineRequest r;
    r.prompt = tokenizer_->encode(prompts[i], true, false);
    r.max_tokens = 20;
    r.sampling.temperature = i % 2 == 0 ? 0.0f : 0.9f;
    r.sampling.seed = 100 + i;
    encoded.push_back(r.prompt);
    streams.push_back(engine.submit(std::move(r)));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // staggered arrivals
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    const Collected c = drain(*streams[i]);
    ASSERT_TRUE(c.error.empty()) << c.error;
    const auto ref = alone(encoded[i], 20, i % 2 == 0 ? 0.0f : 0.9f, 100 + i);
    EXPECT_EQ(c.tokens, ref) << prompts[i];
    EXPECT_EQ(c.finish, ref.size() == 20 ? FinishReason::kLength : FinishReason::kStop);
  }
  const auto stats = engine.stats();
  EXPECT_EQ(stats.requests_total, 4u);
  EXPECT_EQ(stats.requests_finished, 4u);
  EXPECT_EQ(stats.requests_running, 0);
  EXPECT_EQ(stats.requests_waiting, 0);
  EXPECT_EQ(stats.kv_cache_used_tokens, 0);
  EXPECT_EQ(stats.time_to_first_token.count, 4u);
}

TEST_F(EngineTest, CancelFreesTheSequence) {
  EngineConfig cfg;
  cfg.scheduler = {1, 64, true};
  Engine engine(Model::load(path_, {2, 256, 64}), tokenizer_, cfg);
  EngineRequest r;
  r.prompt = tokenizer_->encode("Once upon a time", true, false);
  r.max_tokens = 200;
  r.ignore_eos = true;
  auto first = engine.submit(r);
  ASSERT_TRUE(first->next(std::chrono::seconds(30)).has_value());
  first->cancel();
  // The only slot must come free for the next request.
  r.max_tokens = 3;
  auto second = engine.submit(r);
  const Collected c = drain(*second);
  EXPECT_TRUE(c.error.empty()) << c.error;
  EXPECT_EQ(c.tokens.size(), 3u);
  EXPECT_EQ(engine.stats().requests_cancelled, 1u);
}

TEST_F(EngineTest, RefusesPromptsThatDoNotFit) {
  EngineConfig cfg;
  cfg.max_model_len = 8;
  cfg.scheduler.max_num_batched_tokens = 32;
  Engine engine(Model::load(path_, {1, 64, 64}), tokenizer_, cfg);
  EngineRequest r;
  r.prompt = std::vector<int32_t>(8, 1);
  EXPECT_THROW(engine.submit(r), InvalidArgumentError);
  r.prompt = {1, 9999};
  EXPECT_THROW(engine.submit(r), InvalidArgumentError);
  r.prompt = {};
  EXPECT_THROW(engine.submit(r), InvalidArgumentError);
  // max_tokens is clipped to the room left.
  r.prompt = {1, 403, 407};
  r.max_tokens = 100;
  r.ignore_eos = true;
  const Collected c = drain(*engine.submit(r));
  EXPECT_EQ(c.tokens.size(), 5u);
  EXPECT_EQ(c.finish, FinishReason::kLength);
}

TEST_F(EngineTest, AnEndOfGenerationTokenStopsTheSequence) {
  EngineConfig cfg;
  cfg.scheduler = {2, 64, true};
  Engine engine(Model::load(path_, {2, 256, 64}), tokenizer_, cfg);
  const int32_t eos = tokenizer_->eos_id();
  ASSERT_GE(eos, 0);
  ASSERT_TRUE(tokenizer_->is_eog(eos));
  EngineRequest r;
  r.prompt = tokenizer_->encode("Once upon a time", true, false);
  r.max_tokens = 50;
  r.sampling.logit_bias = {{eos, 100.0f}};  // EOS is the first token sampled
  const Collected stopped = drain(*engine.submit(r));
  EXPECT_TRUE(stopped.error.empty()) << stopped.error;
  EXPECT_EQ(stopped.finish, FinishReason::kStop);
  EXPECT_TRUE(stopped.tokens.empty()) << "the end-of-generation token is not part of the output";

  // The same request with ignore_eos runs to max_tokens through the favoured EOS.
  r.ignore_eos = true;
  r.max_tokens = 4;
  const Collected ignored = drain(*engine.submit(r));
  EXPECT_EQ(ignored.finish, FinishReason::kLength);
  EXPECT_EQ(ignored.tokens, std::vector<int32_t>(4, eos));
}

}  // namespace
}  // namespace capibara
