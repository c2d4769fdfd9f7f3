// `capibara quantize` as a user runs it: the per-tensor report, the result, and one-line errors.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/ggml_type.hpp"
#include "gguf/gguf_writer.hpp"

#include "support/shared_data.hpp"
#include "support/subprocess.hpp"

namespace capibara::testing {
namespace {

namespace fs = std::filesystem;

fs::path temp_path(const std::string& name) {
  return fs::path(::testing::TempDir()) /
         ("quantize_cli_" + std::to_string(::getpid()) + "_" + name);
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(QuantizeCommand, Q4_0ReportsEachTensorAndMatchesLlamaCpp) {
  CAPIBARA_REQUIRE_SHARED(shared);
  CAPIBARA_REQUIRE_BINARY(bin);
  const fs::path out = temp_path("q4_0.gguf");
  const auto r = run_command(bin + " quantize " +
                             shell_quote((shared / "models/synth-llama-f32.gguf").string()) + " " +
                             shell_quote(out.string()) + " q4_0 --threads 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // One line per tensor (30) plus a first line and the total.
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 32) << r.out;
  EXPECT_NE(r.out.find("as Q4_0"), std::string::npos) << r.out;
  const auto line_of = [&](const std::string& name) {
    const size_t at = r.out.find("] " + name + " ");
    return at == std::string::npos ? std::string() : r.out.substr(at, r.out.find('\n', at) - at);
  };
  const std::string output = line_of("output.weight");
  EXPECT_NE(output.find("[256, 512]"), std::string::npos) << output;
  EXPECT_NE(output.find("f32 -> q6_K"), std::string::npos) << output;
  EXPECT_NE(output.find("512.00 KiB -> 105.00 KiB"), std::string::npos) << output;
  EXPECT_NE(line_of("blk.1.ffn_up.weight").find("f32 -> q4_0"), std::string::npos);
  EXPECT_NE(line_of("blk.1.ffn_norm.weight").find("f32 -> f32   1.00 KiB"), std::string::npos)
      << line_of("blk.1.ffn_norm.weight");
  EXPECT_NE(r.out.find("[ 1/30] output.weight"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("total: 30 tensors (23 converted, 0 fallbacks)"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("general.file_type 2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("on 2 threads"), std::string::npos) << r.out;
  EXPECT_TRUE(slurp(out) == slurp(shared / "models/synth-llama-q4_0.gguf"));
  fs::remove(out);
}

TEST(QuantizeCommand, FallbacksAreSaid) {
  CAPIBARA_REQUIRE_SHARED(shared);
  CAPIBARA_REQUIRE_BINARY(bin);
  const fs::path out = temp_path("stories.gguf");
  const auto r =
      run_command(bin + " quantize " + shell_quote((shared / "models/stories260K.gguf").string()) +
                  " " + shell_quote(out.string()) + " Q8_0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("blk.0.ffn_down.weight"), std::string::npos);
  EXPECT_NE(r.out.find("f32 -> f16"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(fallback: row length 172 is not a multiple of 32 (q8_0))"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("5 fallbacks"), std::string::npos) << r.out;
  // The result runs.
  const auto run = run_command(bin + " run -m " + shell_quote(out.string()) +
                               " -p 'Once upon a time' -n 8 --temp 0");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_FALSE(run.out.empty());
  fs::remove(out);
}

// The output is streamed and the input's pages released chunk by chunk: quantizing two 128 MiB
// tensors peaks far below the size of one of them (measured: about 20 MiB).
TEST(QuantizeCommand, MemoryStaysFarBelowATensor) {
  CAPIBARA_REQUIRE_BINARY(bin);
  const auto bin_path = capibara_binary();
  const fs::path in = temp_path("large-f32.gguf");
  const fs::path out = temp_path("large-q8_0.gguf");
  constexpr int64_t kRow = 4096;
  constexpr int64_t kRows = 8192;  // 32 Mi weights, 128 MiB in f32
  {
    gguf::GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_u32("llama.block_count", 1);
    for (const char* name : {"blk.0.ffn_up.weight", "blk.0.ffn_down.weight"}) {
      w.add_tensor_info(name, GgmlType::kF32, {kRow, kRows});
    }
    std::ofstream f(in, std::ios::binary);
    const std::vector<uint8_t> header = w.header_bytes();
    f.write(reinterpret_cast<const char*>(header.data()),
            static_cast<std::streamsize>(header.size()));
    std::vector<float> row(kRow);
    for (int t = 0; t < 2; ++t) {
      for (int64_t r = 0; r < kRows; ++r) {
        for (int64_t i = 0; i < kRow; ++i)
          row[i] = 0.02f * std::sin(0.001f * static_cast<float>(r * kRow + i + t));
        f.write(reinterpret_cast<const char*>(row.data()), kRow * sizeof(float));
      }
    }
    ASSERT_TRUE(f.good());
  }
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, STDOUT_FILENO);
    ::execl(bin_path->c_str(), "capibara", "quantize", in.c_str(), out.c_str(), "Q8_0", "-t", "2",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  struct rusage usage {};
  ASSERT_EQ(::wait4(pid, &status, 0, &usage), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  const double peak_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB
  std::cout << "[ memory   ] quantizing 256 MiB of f32 peaked at " << peak_mib << " MiB\n";
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // The sanitizer's allocator and shadow memory inflate RSS: the bound holds in release builds.
  EXPECT_LT(peak_mib, 200.0);
#else
  EXPECT_LT(peak_mib, 64.0);
#endif
  // Both tensors in Q8_0: 34 bytes per 32 weights, plus the header.
  EXPECT_GT(fs::file_size(out), static_cast<uintmax_t>(2 * kRows * (kRow / 32 * 34)));
  fs::remove(in);
  fs::remove(out);
}

// Each mistake: non-zero exit, one line on stderr that says what is wrong, nothing written.
TEST(QuantizeCommand, ErrorsAreOneClearLine) {
  CAPIBARA_REQUIRE_SHARED(shared);
  CAPIBARA_REQUIRE_BINARY(bin);
  const std::string in = shell_quote((shared / "models/synth-llama-f32.gguf").string());
  const fs::path out = temp_path("err.gguf");
  const auto expect_error = [&](const std::string& args, const std::string& says) {
    const auto r = run_command(bin + " quantize " + args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_NE(r.err.find(says), std::string::npos) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
    EXPECT_FALSE(fs::exists(out)) << args;
  };
  expect_error(in + " " + shell_quote(out.string()) + " Q3_K_M",
               "unknown quantization type 'Q3_K_M' (choose from Q8_0, Q4_0, Q4_K_M, Q5_K_M, "
               "Q6_K, F16, BF16, F32)");
  expect_error(
      shell_quote(temp_path("missing.gguf").string()) + " " + shell_quote(out.string()) + " Q8_0",
      "missing.gguf");
  expect_error(in + " " + in + " Q8_0", "is the input file");
  expect_error(shell_quote((shared / "models/synth-llama-q8_0.gguf").string()) + " " +
                   shell_quote(out.string()) + " Q4_0",
               "--allow-requantize");
  // CLI11's own checks: a missing argument, threads out of range.
  const auto missing = run_command(bin + " quantize " + in);
  EXPECT_NE(missing.exit_code, 0);
  const auto threads =
      run_command(bin + " quantize " + in + " " + shell_quote(out.string()) + " Q8_0 --threads -3");
  EXPECT_NE(threads.exit_code, 0);
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace capibara::testing
