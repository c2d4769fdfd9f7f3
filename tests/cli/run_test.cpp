// `capibara run` and `capibara golden` as a user runs them.
#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/shared_data.hpp"
#include "support/subprocess.hpp"

namespace capibara::testing {
namespace {

TEST(RunCommand, GreedyStoriesMatchesLlamaCpp) {
  CAPIBARA_REQUIRE_SHARED(shared);
  CAPIBARA_REQUIRE_BINARY(bin);
  const auto r =
      run_command(bin + " run -m " + shell_quote((shared / "models/stories260K.gguf").string()) +
                  " -p 'Once upon a time' -n 24 --temp 0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, ", there was a little girl named Lily. She loved to play outside in the p");
  EXPECT_NE(r.err.find("tok/s"), std::string::npos) << r.err;
}

// An fp8 KV cache, as the original deployment's configs ask for, from the command line too: the
// greedy story starts as with f16 (fp8 is lossy, so only the start), and an unknown type is
// refused with the types there are.
TEST(RunCommand, Fp8KvCacheKeepsTheStoryStartAndUnknownTypesAreRefused) {
  CAPIBARA_REQUIRE_SHARED(shared);
  CAPIBARA_REQUIRE_BINARY(bin);
  const std::string cmd = bin + " run -m " +
                          shell_quote((shared / "models/stories260K.gguf").string()) +
                          " -p 'Once upon a time' -n 24 --temp 0 --kv-type ";
  const auto r = run_command(cmd + "fp8");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind(", there was a little girl named Lily.", 0), 0u) << r.out;
  const auto bad = run_command(cmd + "fp9");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("{f32,f16,bf16,fp8}"), std::string::npos) << bad.err;
}

TEST(RunCommand, SameSeedSameText) {
  CAPIBARA_REQUIRE_SHARED(shared);
  CAPIBARA_REQUIRE_BINARY(bin);
  const std::string cmd = bin + " run -m " +
                          shell_quote((shared / "models/stories260K.gguf").string()) +
                          " -p 'Tim had a red ball' -n 40 --temp 1.0 --seed ";
  const auto a = run_command(cmd + "42");
  const auto b = run_command(cmd + "42");
  const auto c = run_command(cmd + "7");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
}

TEST(RunCommand, StopStringEndsGenerationAndIsNotPrinted) {
  CAPIBARA_REQUIRE_SHARED(shared);
  CAPIBARA_REQUIRE_BINARY(bin);
  const auto r =
      run_command(bin + " run -m " + shell_quote((shared / "models/stories260K.gguf").string()) +
                  " -p 'Once upon a time' -n 24 --temp 0 --stop 'Lily'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, ", there was a little girl named ");
}

TEST(RunCommand, CtrlCStopsTheGenerationNotTheProgram) {
  CAPIBARA_REQUIRE_SHARED(shared);
  CAPIBARA_REQUIRE_BINARY(bin);
  // A long generation interrupted once it has printed something: the program reports and exits
  // normally. Waiting for output rather than a fixed time keeps the test independent of speed
  // (32k tokens of this model take many seconds; the first arrive within milliseconds).
  const auto r =
      run_command("bash -c " +
                  shell_quote("out=$(mktemp); " + bin + " run -m " +
                              shell_quote((shared / "models/stories260K.gguf").string()) +
                              " -p Once -n 2000000 -c 32768 --ignore-eos --temp 1 > $out & pid=$!; "
                              "for i in $(seq 200); do [ -s $out ] && break; sleep 0.05; done; "
                              "kill -INT $pid; wait $pid; rc=$?; cat $out; rm -f $out; exit $rc"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("cancelled"), std::string::npos) << r.err;
  EXPECT_FALSE(r.out.empty());
}

TEST(RunCommand, ErrorsAreOneLineAndNonZero) {
  CAPIBARA_REQUIRE_BINARY(bin);
  const auto r = run_command(bin + " run -m /etc/hostname -p hi");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("error"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  const auto missing = run_command(bin + " run -m /nonexistent.gguf -p hi");
  EXPECT_NE(missing.exit_code, 0);
}

TEST(RunCommand, VersionNamesTheKernelsInUse) {
  CAPIBARA_REQUIRE_BINARY(bin);
  const auto r = run_command("CAPIBARA_ISA=scalar " + bin + " --version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("capibara "), std::string::npos) << r.out;
  // The scalar kernels never prefetch in software.
  EXPECT_NE(r.out.find("kernels: scalar, hardware prefetch when decoding (available on this "
                       "CPU: scalar"),
            std::string::npos)
      << r.out;
  const auto bad = run_command("CAPIBARA_PREFETCH=sometimes " + bin + " --version");
  EXPECT_NE(bad.out.find("kernels: none: CAPIBARA_PREFETCH=sometimes is not a prefetch variant"),
            std::string::npos)
      << bad.out;
  const auto avx2 =
      run_command("CAPIBARA_ISA=avx2 CAPIBARA_PREFETCH=software " + bin + " --version");
  if (avx2.out.find("kernels: none") == std::string::npos) {  // a CPU with AVX2
    EXPECT_NE(avx2.out.find("kernels: avx2, software prefetch when decoding"), std::string::npos)
        << avx2.out;
  }
}

// Every command the top-level help lists (so a new command is covered without editing this).
TEST(RunCommand, HelpOnEveryCommand) {
  CAPIBARA_REQUIRE_BINARY(bin);
  const auto top = run_command(bin + " --help");
  ASSERT_EQ(top.exit_code, 0);
  const auto list = top.out.find("Subcommands:");
  ASSERT_NE(list, std::string::npos) << top.out;
  std::vector<std::string> commands;
  std::istringstream lines(top.out.substr(list));
  std::string line;
  std::getline(lines, line);
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string name;
    if (line.rfind("  ", 0) == 0 && words >> name) commands.push_back(name);
  }
  for (const char* expected : {"serve", "run", "inspect", "golden", "tokenize", "template"}) {
    EXPECT_NE(std::find(commands.begin(), commands.end(), expected), commands.end()) << expected;
  }
  for (const auto& sub : commands) {
    const auto r = run_command(bin + " " + sub + " --help");
    EXPECT_EQ(r.exit_code, 0) << sub;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << sub << ": " << r.out;
  }
}

TEST(GoldenCommand, PassesOnStoriesAndPrintsJson) {
  CAPIBARA_REQUIRE_SHARED(shared);
  CAPIBARA_REQUIRE_BINARY(bin);
  const auto r = run_command(
      bin + " golden -m " + shell_quote((shared / "models/stories260K.gguf").string()) +
      " --golden " + shell_quote((shared / "golden/stories260K.json").string()) + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("\"max_abs_logprob_diff\""), std::string::npos);
  EXPECT_NE(r.out.find("\"top1_agree\""), std::string::npos);
}

TEST(GoldenCommand, FailsWhenComparedWithAnotherModelsGolden) {
  CAPIBARA_REQUIRE_SHARED(shared);
  CAPIBARA_REQUIRE_BINARY(bin);
  const auto r =
      run_command(bin + " golden -m " + shell_quote((shared / "models/stories260K.gguf").string()) +
                  " --golden " + shell_quote((shared / "golden/synth-llama-f32.json").string()));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("OUT OF TOLERANCE"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace capibara::testing
