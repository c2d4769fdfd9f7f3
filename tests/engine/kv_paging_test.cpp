// The engine over its paged KV pool on a real model: sequences preempted because the pool is too
// small for all of them at once, and sequences whose prompt prefix is found in the prefix cache,
// must produce exactly what each produces alone.
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
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

struct Output {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  std::string error;
  int64_t cached_tokens = 0;
};

Output drain(RequestStream& stream) {
  Output o;
  while (true) {
    auto e = stream.next(std::chrono::seconds(60));
    if (!e) {
      o.error = "timed out";
      return o;
    }
    if (e->kind == StreamEvent::Kind::kToken) {
      o.tokens.push_back(e->token.token);
      o.logprobs.push_back(e->token.logprob);
    } else {
      if (e->kind == StreamEvent::Kind::kError) o.error = e->error;
      o.cached_tokens = stream.cached_tokens();
      return o;
    }
  }
}

class KvPagingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto dir = testing::shared_dir();
    if (!dir) GTEST_SKIP() << "shared test data not found: set CAPIBARA_SHARED";
    path_ = *dir / "models" / "stories260K.gguf";
    tokenizer_ =
        std::make_shared<const Tokenizer>(Tokenizer::from_gguf(gguf::GgufFile::open(path_)));
  }
  GenerationResult alone(const std::vector<int32_t>& prompt, int32_t n,
                         SamplingParams sampling = {}) {
    auto model = Model::load(path_, {2, 256, 64});
    Generator g(*model, *tokenizer_, KvType::kF32);
    GenerationRequest r;
    r.prompt = prompt;
    r.max_tokens = n;
    r.ignore_eos = true;
    r.sampling = sampling;
    return g.generate(r, nullptr);
  }
  // The same request on a fresh engine without prefix caching.
  Output uncached(const std::vector<int32_t>& prompt, int32_t n) {
    EngineConfig cfg;
    cfg.scheduler = {1, 64, true, false};
    cfg.kv_type = KvType::kF32;
    Engine engine(Model::load(path_, {2, 256, 64}), tokenizer_, cfg);
    EngineRequest r;
    r.prompt = prompt;
    r.max_tokens = n;
    r.ignore_eos = true;
    return drain(*engine.submit(std::move(r)));
  }
  std::filesystem::path path_;
  std::shared_ptr<const Tokenizer> tokenizer_;
};

TEST_F(KvPagingTest, PreemptedSequencesMatchEachRunAlone) {
  const std::vector<std::string> prompts = {"Once upon a time", "Lily and Tom were best friends.",
                                            "The little dog", "One day, a girl named Sue went"};
  EngineConfig cfg;
  cfg.scheduler = {4, 24, true};
  cfg.kv_type = KvType::kF32;
  cfg.max_model_len = 64;
  cfg.kv_cache_tokens = 128;  // 8 blocks: room for two of the four sequences at full length
  Engine engine(Model::load(path_, {2, 64, 64}), tokenizer_, cfg);
  std::vector<std::shared_ptr<RequestStream>> streams;
  std::vector<std::vector<int32_t>> encoded;
  std::vector<SamplingParams> sampling;
  for (size_t i = 0; i < prompts.size(); ++i) {
    EngineRequest r;
    r.prompt = tokenizer_->encode(prompts[i], true, false);
    r.max_tokens = 48;
    r.ignore_eos = true;
    // Half greedy, half sampled: a resumed sequence continues its sampler's random stream.
    r.sampling.temperature = i % 2 == 0 ? 0.0f : 0.9f;
    r.sampling.seed = 7 + i;
    encoded.push_back(r.prompt);
    sampling.push_back(r.sampling);
    streams.push_back(engine.submit(std::move(r)));
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    const Output o = drain(*streams[i]);
    ASSERT_TRUE(o.error.empty()) << o.error;
    const auto ref = alone(encoded[i], static_cast<int32_t>(o.tokens.size()), sampling[i]);
    EXPECT_EQ(o.tokens.size(), std::min<size_t>(48, 64 - encoded[i].size()));
    EXPECT_EQ(o.tokens, ref.tokens) << prompts[i];
  }
  const auto stats = engine.stats();
  EXPECT_GT(stats.preemptions_total, 0u) << "the pool was meant to run dry";
  EXPECT_EQ(stats.kv_cache_used_tokens, 0);
  EXPECT_EQ(stats.kv_cache_capacity_tokens, 128);
  EXPECT_EQ(stats.requests_running, 0);
  EXPECT_EQ(stats.requests_waiting, 0);
  std::cout << "[ paging   ] " << stats.preemptions_total << " preemptions\n";
}

TEST_F(KvPagingTest, PoolMustHoldOneFullSequence) {
  EngineConfig cfg;
  cfg.max_model_len = 64;
  cfg.kv_cache_tokens = 32;
  cfg.scheduler.max_num_batched_tokens = 64;
  EXPECT_THROW(Engine(Model::load(path_, {1, 64, 64}), tokenizer_, cfg), InvalidArgumentError);
}

TEST_F(KvPagingTest, ASecondRequestWithTheSamePrefixComputesOnlyTheNewTokens) {
  EngineConfig cfg;
  cfg.scheduler = {2, 64, true, true};
  cfg.kv_type = KvType::kF32;
  Engine engine(Model::load(path_, {2, 256, 64}), tokenizer_, cfg);
  const std::string prefix =
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
      "park with her friends. One day,";
  const auto prefix_ids = tokenizer_->encode(prefix, true, false);
  ASSERT_GE(prefix_ids.size(), 33u);
  auto run = [&](const std::vector<int32_t>& prompt) {
    EngineRequest r;
    r.prompt = prompt;
    r.max_tokens = 12;
    r.ignore_eos = true;
    return drain(*engine.submit(std::move(r)));
  };
  const Output first = run(prefix_ids);
  ASSERT_TRUE(first.error.empty()) << first.error;
  EXPECT_EQ(first.cached_tokens, 0);
  const auto computed_before = engine.stats().prefix_cache_hit_tokens;
  EXPECT_EQ(computed_before, 0u);

  // The same prompt again: every full block before the last token comes from the cache, and
  // the tokens and their log-probabilities are those of the first run (and of a run alone).
  const Output again = run(prefix_ids);
  ASSERT_TRUE(again.error.empty()) << again.error;
  const auto full = static_cast<int64_t>((prefix_ids.size() - 1) / 16 * 16);
  EXPECT_EQ(again.cached_tokens, full);
  EXPECT_EQ(again.tokens, first.tokens);
  EXPECT_EQ(again.logprobs, first.logprobs);
  EXPECT_EQ(again.tokens, alone(prefix_ids, 12).tokens);
  const Output plain = uncached(prefix_ids, 12);
  ASSERT_EQ(again.logprobs.size(), plain.logprobs.size());
  for (size_t i = 0; i < plain.logprobs.size(); ++i) {
    EXPECT_NEAR(again.logprobs[i], plain.logprobs[i], 1e-5) << i;
  }

  // A different continuation of the same prefix shares the prefix's full blocks only.
  auto other = prefix_ids;
  for (int32_t t : tokenizer_->encode(" she saw a big red ball", false, false)) other.push_back(t);
  const Output third = run(other);
  ASSERT_TRUE(third.error.empty()) << third.error;
  EXPECT_EQ(third.cached_tokens, static_cast<int64_t>(prefix_ids.size() / 16 * 16));
  const Output ref = uncached(other, 12);
  EXPECT_EQ(third.tokens, ref.tokens);
  EXPECT_EQ(third.tokens, alone(other, 12).tokens);
  ASSERT_EQ(third.logprobs.size(), ref.logprobs.size());
  for (size_t i = 0; i < ref.logprobs.size(); ++i) {
    EXPECT_NEAR(third.logprobs[i], ref.logprobs[i], 1e-5) << i;
  }

  const auto stats = engine.stats();
  EXPECT_EQ(stats.prefix_cache_hit_tokens,
            static_cast<uint64_t>(again.cached_tokens + third.cached_tokens));
  EXPECT_EQ(stats.prefix_cache_queried_tokens, prefix_ids.size() * 2 + other.size());
  EXPECT_GT(stats.prefix_cache_hit_rate, 0.3);
  EXPECT_EQ(stats.kv_cache_used_tokens, 0) << "cached blocks are free for reuse";
}

TEST_F(KvPagingTest, WithoutPrefixCachingNothingIsShared) {
  EngineConfig cfg;
  cfg.scheduler = {2, 64, true, false};
  Engine engine(Model::load(path_, {2, 256, 64}), tokenizer_, cfg);
  EngineRequest r;
  r.prompt = tokenizer_->encode(
      "Once upon a time, there was a little girl named Lily. She loved to play outside.", true,
      false);
  r.max_tokens = 2;
  drain(*engine.submit(r));
  const Output again = drain(*engine.submit(r));
  EXPECT_EQ(again.cached_tokens, 0);
  EXPECT_EQ(engine.stats().prefix_cache_hit_tokens, 0u);
}

TEST_F(KvPagingTest, Fp8KvCacheServesRequests) {
  EngineConfig cfg;
  cfg.scheduler = {2, 64, true, true};
  cfg.kv_type = KvType::kFp8;
  Engine engine(Model::load(path_, {2, 256, 64}), tokenizer_, cfg);
  EngineRequest r;
  r.prompt = tokenizer_->encode("Once upon a time", true, false);
  r.max_tokens = 16;
  r.ignore_eos = true;
  const Output o = drain(*engine.submit(r));
  EXPECT_TRUE(o.error.empty()) << o.error;
  EXPECT_EQ(o.tokens.size(), 16u);
  // Greedy text still reads like the f32 one at the start (fp8 is lossy, not broken).
  const auto ref = alone(r.prompt, 16);
  EXPECT_EQ(std::vector<int32_t>(o.tokens.begin(), o.tokens.begin() + 4),
            std::vector<int32_t>(ref.tokens.begin(), ref.tokens.begin() + 4));
}

}  // namespace
}  // namespace capibara
