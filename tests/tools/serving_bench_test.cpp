// The serving benchmarks of `capibara bench` on stories260K, at small sizes: the structure and
// sanity of the results (every level present, tokens/s positive, the cached request served
// from the cache, latencies measured), never timing thresholds.
#include "tools/serving_bench.hpp"

#include <string>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "support/shared_data.hpp"

namespace capibara::tools {
namespace {

ServingBenchOptions small(const std::filesystem::path& shared) {
  ServingBenchOptions o;
  o.model_path = (shared / "models/stories260K.gguf").string();
  o.n_threads = 2;
  o.max_num_batched_tokens = 32;
  o.reps = 2;
  o.n_gen = 6;
  return o;
}

TEST(ServingBench, ParallelGivesOneResultPerLevel) {
  CAPIBARA_REQUIRE_SHARED(shared);
  auto o = small(shared);
  o.parallel = {1, 2, 3};
  const auto report = run_serving_bench(o);
  EXPECT_EQ(report.n_threads, 2);
  EXPECT_EQ(report.kv_type, "f16");
  EXPECT_TRUE(report.prefix_cache.empty());
  EXPECT_TRUE(report.interference.empty());
  ASSERT_EQ(report.parallel.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const auto& r = report.parallel[i];
    EXPECT_EQ(r.test, "tg6");
    EXPECT_EQ(r.parallel, static_cast<int32_t>(i + 1));
    EXPECT_EQ(r.n_gen, 6);
    EXPECT_EQ(r.samples_tokens_per_s.size(), 2u);
    EXPECT_GT(r.tokens_per_s, 0.0);
    EXPECT_GE(r.stddev, 0.0);
    EXPECT_GT(r.per_sequence_tokens_per_s, 0.0);
  }

  const auto j = serving_report_json(report);
  ASSERT_EQ(j.at("results").size(), 3u);
  EXPECT_EQ(j["results"][2].at("test"), "tg6");
  EXPECT_EQ(j["results"][2].at("parallel"), 3);
  EXPECT_GT(j["results"][2].at("tokens_per_s").get<double>(), 0.0);
  EXPECT_GT(j["results"][2].at("per_sequence_tokens_per_s").get<double>(), 0.0);
  EXPECT_FALSE(j.contains("prefix_cache"));
  const auto text = serving_report_text(report);
  EXPECT_NE(text.find("| tg6    |        3 |"), std::string::npos) << text;
}

TEST(ServingBench, PrefixCacheServesTheSystemPromptFromTheCache) {
  CAPIBARA_REQUIRE_SHARED(shared);
  auto o = small(shared);
  o.prefix_cache = true;
  o.n_system_prompt = 100;  // 6 full blocks of 16
  o.n_question = 10;
  const auto report = run_serving_bench(o);
  ASSERT_EQ(report.prefix_cache.size(), 1u);
  const auto& p = report.prefix_cache[0];
  EXPECT_EQ(p.n_system_prompt, 100);
  EXPECT_EQ(p.cached_tokens, 96);
  ASSERT_EQ(p.uncached_ttft_samples_s.size(), 2u);
  ASSERT_EQ(p.cached_ttft_samples_s.size(), 2u);
  EXPECT_GT(p.uncached_ttft_s, 0.0);
  EXPECT_GT(p.cached_ttft_s, 0.0);
  EXPECT_DOUBLE_EQ(p.ratio, p.cached_ttft_s / p.uncached_ttft_s);
  const auto j = serving_report_json(report);
  EXPECT_EQ(j.at("prefix_cache").at("cached_tokens"), 96);
  EXPECT_NE(serving_report_text(report).find("96 tokens found cached"), std::string::npos);
}

TEST(ServingBench, InterferenceRunsWithoutThenWithChunkedPrefill) {
  CAPIBARA_REQUIRE_SHARED(shared);
  auto o = small(shared);
  o.interference = true;
  o.n_long_prompt = 200;
  o.n_decoders = 2;
  o.n_tokens_before = 3;
  o.n_tokens_after = 3;
  const auto report = run_serving_bench(o);
  ASSERT_EQ(report.interference.size(), 2u);
  const auto& off = report.interference[0];
  const auto& on = report.interference[1];
  EXPECT_FALSE(off.chunked_prefill);
  EXPECT_TRUE(on.chunked_prefill);
  EXPECT_EQ(off.max_num_batched_tokens, 202);  // the whole prompt next to the decodes
  EXPECT_EQ(on.max_num_batched_tokens, 32);
  for (const auto& r : report.interference) {
    EXPECT_EQ(r.n_long_prompt, 200);
    EXPECT_EQ(r.n_decoders, 2);
    EXPECT_GT(r.n_gaps_during, 0);
    EXPECT_GT(r.itl_p95_during_s, 0.0);
    EXPECT_GE(r.itl_max_during_s, r.itl_p95_during_s);
    EXPECT_GT(r.itl_p95_all_s, 0.0);
    EXPECT_GT(r.long_prompt_ttft_s, 0.0);
  }
  // Chunked: the 200 tokens take several steps, each giving the decoders a token.
  EXPECT_GE(on.n_gaps_during, 2 * 6);
  const auto j = serving_report_json(report);
  ASSERT_EQ(j.at("interference").size(), 2u);
  EXPECT_EQ(j["interference"][1].at("chunked_prefill"), true);
}

TEST(ServingBench, RejectsSizesThatCannotWork) {
  CAPIBARA_REQUIRE_SHARED(shared);
  auto o = small(shared);
  o.parallel = {2};
  o.n_gen = 1;
  EXPECT_THROW(run_serving_bench(o), InvalidArgumentError);
}

TEST(ServingBench, PercentileIsNearestRank) {
  EXPECT_EQ(percentile({}, 95), 0.0);
  EXPECT_EQ(percentile({3.0}, 95), 3.0);
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);
  EXPECT_EQ(percentile(v, 95), 95.0);
  EXPECT_EQ(percentile(v, 50), 50.0);
  EXPECT_EQ(percentile(v, 100), 100.0);
}

}  // namespace
}  // namespace capibara::tools
