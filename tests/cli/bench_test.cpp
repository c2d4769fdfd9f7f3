// `capibara synth` and `capibara bench` as a user runs them: a tiny synthetic model, benchmarked
// with its JSON report checked against the llama-bench-like schema.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/shared_data.hpp"
#include "support/subprocess.hpp"

namespace capibara::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kTinyDims =
    "n_embd=128,n_layer=2,n_head=4,n_head_kv=2,n_ff=256,n_vocab=800,n_ctx=128";

class BenchCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("bench_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  std::string tiny_model(const std::string& bin, const std::string& arch = "llama") {
    const auto path = (dir_ / (arch + ".gguf")).string();
    const auto r = run_command(bin + " synth --arch " + arch + " --dims " + kTinyDims +
                               " --type q4_0 --seed 3 " + shell_quote(path));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, path + "\n");
    return path;
  }

  fs::path dir_;
};

void expect_result(const nlohmann::json& r, const std::string& test) {
  ASSERT_TRUE(r.is_object()) << r;
  EXPECT_EQ(r.at("test"), test);
  ASSERT_TRUE(r.at("tokens_per_s").is_number()) << r;
  EXPECT_GT(r.at("tokens_per_s").get<double>(), 0.0);
  ASSERT_TRUE(r.at("stddev").is_number()) << r;
  EXPECT_GE(r.at("stddev").get<double>(), 0.0);
}

TEST_F(BenchCli, JsonHasTheLlamaBenchSchema) {
  CAPIBARA_REQUIRE_BINARY(bin);
  const std::string model = tiny_model(bin);
  const auto r =
      run_command(bin + " bench -m " + shell_quote(model) + " -p 16 -n 4 -r 1 -t 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("model"), model);
  ASSERT_TRUE(j.at("isa").is_string());
  EXPECT_FALSE(j.at("isa").get<std::string>().empty());
  EXPECT_EQ(j.at("threads"), 2);
  ASSERT_TRUE(j.at("results").is_array());
  ASSERT_EQ(j.at("results").size(), 2u) << j;
  expect_result(j["results"][0], "pp16");
  expect_result(j["results"][1], "tg4");
  EXPECT_EQ(j["results"][0].at("stddev").get<double>(), 0.0);  // one repetition
}

TEST_F(BenchCli, DepthStartsEveryTestAfterThatManyTokens) {
  CAPIBARA_REQUIRE_BINARY(bin);
  const std::string model = tiny_model(bin);
  const auto r =
      run_command(bin + " bench -m " + shell_quote(model) + " -p 16 -n 4 -d 100 -r 1 -t 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.at("results").size(), 2u) << j;
  expect_result(j["results"][0], "pp16 @ d100");
  expect_result(j["results"][1], "tg4 @ d100");
  EXPECT_EQ(j["results"][0].at("n_depth"), 100);
  EXPECT_EQ(j["results"][1].at("n_depth"), 100);

  const auto text = run_command(bin + " bench -m " + shell_quote(model) + " -p 0 -n 2 -d 8 -r 1");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("| tg2 @ d8 |"), std::string::npos) << text.out;

  const auto negative = run_command(bin + " bench -m " + shell_quote(model) + " -d -1");
  EXPECT_NE(negative.exit_code, 0);
}

TEST_F(BenchCli, RepetitionsGiveSamplesAndATextTable) {
  CAPIBARA_REQUIRE_BINARY(bin);
  const std::string model = tiny_model(bin, "gemma3");
  const auto j = run_command(bin + " bench -m " + shell_quote(model) + " -p 8 -n 3 -r 3 --json");
  ASSERT_EQ(j.exit_code, 0) << j.err;
  const auto parsed = nlohmann::json::parse(j.out);
  EXPECT_EQ(parsed["results"][1].at("samples_ts").size(), 3u);

  const auto text = run_command(bin + " bench -m " + shell_quote(model) + " -p 8 -n 0 -r 1");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("| pp8 "), std::string::npos) << text.out;
  EXPECT_EQ(text.out.find("tg"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("t/s"), std::string::npos) << text.out;
}

TEST_F(BenchCli, RooflineGivesABoundPerResult) {
  CAPIBARA_REQUIRE_BINARY(bin);
  const std::string model = tiny_model(bin);
  const auto r = run_command(bin + " bench -m " + shell_quote(model) +
                             " -p 16 -n 4 -r 2 --roofline --roofline-mib 64 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const auto& roof = j.at("roofline");
  EXPECT_GT(roof.at("read_bytes_per_s").get<double>(), 1e8);
  EXPECT_GT(roof.at("read_bytes_per_s_small_pages").get<double>(), 1e8);
  // Five passes before the tests, then one before each measured run of each (two tests, -r 2)
  // and one after the last; the bound is the best of them all.
  EXPECT_EQ(roof.at("read_passes").get<int>(), 5 + 2 * 2 + 1);
  EXPECT_GT(roof.at("read_bytes_per_s_worst").get<double>(), 0.0);
  EXPECT_LE(roof.at("read_bytes_per_s_worst").get<double>(),
            roof.at("read_bytes_per_s").get<double>());
  EXPECT_GT(roof.at("int8_ops_per_s").get<double>(), 1e8);
  EXPECT_GT(roof.at("fp32_flops_per_s").get<double>(), 1e8);
  // BF16 weights' peak: bf16 dot products where the CPU has them, the fp32 peak otherwise.
  EXPECT_GT(roof.at("bf16_flops_per_s").get<double>(), 1e8);
  const double best = roof.at("read_bytes_per_s").get<double>();
  const double worst = roof.at("read_bytes_per_s_worst").get<double>();
  const auto passes = roof.at("read_bytes_per_s_each_pass").get<std::vector<double>>();
  ASSERT_EQ(passes.size(), 10u);
  EXPECT_EQ(*std::max_element(passes.begin(), passes.end()), best);
  EXPECT_EQ(*std::min_element(passes.begin(), passes.end()), worst);
  // Each pass streams with every read loop of the ISA and counts the fastest, so the bound is
  // the best loop's best pass.
  const auto& by_loop = roof.at("read_bytes_per_s_by_loop");
  ASSERT_FALSE(by_loop.empty()) << roof;
  EXPECT_TRUE(by_loop.contains("plain")) << roof;
  double best_loop = 0.0;
  for (const auto& [loop, rate] : by_loop.items()) {
    EXPECT_GT(rate.get<double>(), 0.0) << loop;
    best_loop = std::max(best_loop, rate.get<double>());
  }
  EXPECT_EQ(best_loop, best);
  // With two threads or more, a cache line's round trip between two of them after each pass
  // (null where no other thread joined in time); with one, none.
  const bool several = j.at("threads").get<int>() > 1;
  const auto& trips = roof.at("line_round_trip_ns_each_pass");
  ASSERT_EQ(trips.size(), several ? 10u : 0u) << roof;
  for (const auto& ns : trips) {
    if (!ns.is_null()) {
      EXPECT_GT(ns.get<double>(), 0.0) << roof;
    }
  }
  size_t trip_run = 0;
  for (const auto& res : j.at("results")) {
    const size_t n = res.at("samples_ts").size();
    if (!several) {
      EXPECT_FALSE(res.contains("line_round_trip_ns_beside_runs")) << res;
      continue;
    }
    const auto& beside = res.at("line_round_trip_ns_beside_runs");
    ASSERT_EQ(beside.size(), n) << res;
    for (size_t i = 0; i < n; ++i, ++trip_run) {
      const auto& before = trips.at(5 + trip_run);
      const auto& after = trips.at(6 + trip_run);
      if (before.is_null() || after.is_null()) continue;
      EXPECT_DOUBLE_EQ(beside.at(i).get<double>(),
                       0.5 * (before.get<double>() + after.get<double>()))
          << res;
    }
  }
  size_t run = 0;  // measured runs of the whole benchmark, in order; pass 5 + run came before
  for (const auto& res : j.at("results")) {
    const double bound = res.at("bound_tokens_per_s").get<double>();
    EXPECT_GT(bound, 0.0) << res;
    EXPECT_GT(res.at("fraction_of_bound").get<double>(), 0.0) << res;
    // Each run's read rate is the mean of two of the passes, and when memory limits the test
    // its bound scales with that rate: the fraction beside the runs follows from the samples.
    const auto samples = res.at("samples_ts").get<std::vector<double>>();
    const auto beside = res.at("read_bytes_per_s_beside_runs").get<std::vector<double>>();
    ASSERT_EQ(beside.size(), samples.size()) << res;
    double sum = 0.0;
    for (size_t i = 0; i < beside.size(); ++i, ++run) {
      EXPECT_DOUBLE_EQ(beside[i], 0.5 * (passes[5 + run] + passes[6 + run])) << res;
      sum += samples[i] / (bound * beside[i] / best);
    }
    const double fraction = res.at("fraction_of_bound_beside_runs").get<double>();
    if (res.at("bound_limit").get<std::string>() == "memory") {
      EXPECT_NEAR(fraction, sum / static_cast<double>(samples.size()), 1e-9 * fraction) << res;
    } else {  // compute-bound: a slower read rate may leave the bound as it is
      EXPECT_GE(fraction, res.at("fraction_of_bound").get<double>() * (1.0 - 1e-12)) << res;
    }
  }
}

TEST_F(BenchCli, PoolStatsSplitTheCallersTime) {
  CAPIBARA_REQUIRE_BINARY(bin);
  const std::string model = tiny_model(bin);
  const auto r = run_command(bin + " bench -m " + shell_quote(model) +
                             " -p 16 -n 4 -r 2 -t 2 --pool-stats --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.at("results").size(), 2u) << j;
  for (const auto& res : j.at("results")) {
    const auto& p = res.at("pool_times");
    const double work = p.at("caller_work").get<double>();
    const double wait = p.at("caller_end_wait").get<double>();
    const double outside = p.at("caller_outside").get<double>();
    EXPECT_GT(work, 0.0) << p;
    EXPECT_GE(outside, 0.0) << p;
    // Work and waits are measured inside the runs, so they cannot exceed them (the rest is
    // reported as outside, which is then never negative).
    EXPECT_LE(work + wait, 1.0) << p;
    // A busy machine may not run the worker while the caller works through a tiny model's
    // operations (they then end short-handed, without it), so its work may be 0.
    EXPECT_LE(p.at("workers_work").get<double>(), 1.0) << p;
    EXPECT_LE(p.at("short_handed").get<double>(), 1.0) << p;
    // A worker that worked had joined an operation.
    if (p.at("workers_work").get<double>() > 0.0) {
      EXPECT_LT(p.at("short_handed").get<double>(), 1.0) << p;
    }
    // A forward pass runs several operations per layer, for one token (tg) or for a whole
    // batch (pp).
    const double per_token = p.at("operations_per_token").get<double>();
    EXPECT_GT(per_token, res.at("n_gen").get<int>() > 0 ? 2.0 : 0.0) << p;
  }

  const auto text =
      run_command(bin + " bench -m " + shell_quote(model) + " -p 0 -n 4 -r 1 -t 2 --pool-stats");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("caller waiting at ends"), std::string::npos) << text.out;

  const auto plain =
      run_command(bin + " bench -m " + shell_quote(model) + " -p 0 -n 2 -r 1 --json");
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_FALSE(nlohmann::json::parse(plain.out).at("results")[0].contains("pool_times"));

  const auto serving =
      run_command(bin + " bench -m " + shell_quote(model) + " --parallel 1 -n 2 -r 1 --pool-stats");
  EXPECT_NE(serving.exit_code, 0);
  EXPECT_NE(serving.err.find("--pool-stats"), std::string::npos) << serving.err;
}

TEST_F(BenchCli, ParallelGivesOneResultPerLevelThroughTheEngine) {
  CAPIBARA_REQUIRE_BINARY(bin);
  const std::string model = tiny_model(bin);
  const auto r = run_command(bin + " bench -m " + shell_quote(model) +
                             " --parallel 1,2 -n 4 -r 1 -t 2 -b 64 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("threads"), 2);
  ASSERT_EQ(j.at("results").size(), 2u) << j;
  for (int level = 1; level <= 2; ++level) {
    const auto& res = j["results"][static_cast<size_t>(level - 1)];
    EXPECT_EQ(res.at("test"), "tg4");
    EXPECT_EQ(res.at("parallel"), level);
    EXPECT_GT(res.at("tokens_per_s").get<double>(), 0.0) << res;
    EXPECT_GT(res.at("per_sequence_tokens_per_s").get<double>(), 0.0) << res;
  }
}

TEST_F(BenchCli, ErrorsAreOneLineAndNonZero) {
  CAPIBARA_REQUIRE_BINARY(bin);
  const auto no_model = run_command(bin + " bench -p 4");
  EXPECT_NE(no_model.exit_code, 0);
  EXPECT_NE(no_model.err.find("-m MODEL"), std::string::npos) << no_model.err;
  EXPECT_EQ(std::count(no_model.err.begin(), no_model.err.end(), '\n'), 1) << no_model.err;

  const auto bad_preset =
      run_command(bin + " synth --shape gpt-5 " + shell_quote((dir_ / "x.gguf").string()));
  EXPECT_EQ(bad_preset.exit_code, 1);
  EXPECT_NE(bad_preset.err.find("unknown shape preset 'gpt-5'"), std::string::npos)
      << bad_preset.err;
  EXPECT_EQ(std::count(bad_preset.err.begin(), bad_preset.err.end(), '\n'), 1);
  EXPECT_FALSE(fs::exists(dir_ / "x.gguf"));

  const auto bad_type = run_command(bin + " synth --shape tinyllama-1.1b --type q3_k " +
                                    shell_quote((dir_ / "x.gguf").string()));
  EXPECT_EQ(bad_type.exit_code, 1);
  EXPECT_NE(bad_type.err.find("unknown --type 'q3_k'"), std::string::npos) << bad_type.err;

  const auto list = run_command(bin + " synth --list");
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_NE(list.out.find("aya-expanse-8b"), std::string::npos) << list.out;
}

}  // namespace
}  // namespace capibara::testing
