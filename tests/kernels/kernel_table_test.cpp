// Every ISA's kernels against the scalar reference, on random data at odd sizes.
#include <cmath>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "kernels/kernel_table.hpp"

namespace capibara::kernels {
namespace {

std::vector<float> random_vector(std::mt19937& rng, int64_t n) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n) + 1);  // +1: tests an offset (misaligned) start
  for (auto& x : v) x = dist(rng);
  return v;
}

TEST(KernelTable, ScalarIsAlwaysAvailableAndActiveIsOneOfThem) {
  const auto tables = available_kernel_tables();
  ASSERT_FALSE(tables.empty());
  EXPECT_EQ(tables.front()->isa, Isa::kScalar);
  bool found = false;
  for (const auto* t : tables) found = found || t == &active_kernels();
  EXPECT_TRUE(found);
}

// Scripts that run these tests on a given CPU (scripts/test_arm.sh under qemu) say which table
// the dispatcher must pick there, so that a CPU check gone wrong cannot leave an ISA untested
// while every comparison still passes.
TEST(KernelTable, ActiveIsTheExpectedIsa) {
  const char* expected = std::getenv("CAPIBARA_EXPECT_ISA");
  if (expected == nullptr || *expected == '\0') {
    GTEST_SKIP() << "CAPIBARA_EXPECT_ISA not set";
  }
  EXPECT_EQ(std::string(isa_name(active_kernels().isa)), expected);
  bool available = false;
  for (const auto* t : available_kernel_tables()) {
    available = available || isa_name(t->isa) == expected;
  }
  EXPECT_TRUE(available) << expected << " is not among the available tables";
}

bool is_x86(Isa isa) { return isa == Isa::kAvx2 || isa == Isa::kAvxVnni || isa == Isa::kAvx512; }

// Restores an environment variable when the test ends.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(KernelTable, PrefetchVariantFollowsTheEnvironment) {
  for (const auto prefetch : {StreamPrefetch::kSoftware, StreamPrefetch::kHardware}) {
    const std::string name(stream_prefetch_name(prefetch));
    const ScopedEnv env("CAPIBARA_PREFETCH", name.c_str());
    EXPECT_EQ(stream_prefetch_for_this_cpu(), prefetch);
    for (const auto* t : available_kernel_tables()) {
      if (is_x86(t->isa)) {
        EXPECT_EQ(t->stream_prefetch, prefetch) << isa_name(t->isa);
      }
    }
  }
  const ScopedEnv env("CAPIBARA_PREFETCH", "sometimes");
  EXPECT_THROW(stream_prefetch_for_this_cpu(), InvalidArgumentError);
  EXPECT_THROW(available_kernel_tables(), InvalidArgumentError);
}

// Each x86 table comes in both variants, which differ in the Q4_0 and Q8_0 kernels only.
TEST(KernelTable, VariantsHoldBothPrefetchesOfEachX86Table) {
  const auto tables = available_kernel_tables();
  const auto variants = available_kernel_table_variants();
  for (const auto* t : tables) {
    const bool x86 = is_x86(t->isa);
    int same_isa = 0;
    for (const auto* v : variants) {
      if (v->isa != t->isa) continue;
      ++same_isa;
      if (v == t) continue;
      EXPECT_NE(v->stream_prefetch, t->stream_prefetch);
      // Every packed kernel streams its own way per variant; the rest of the table is shared.
      for (const GgmlType type :
           {GgmlType::kQ4_0, GgmlType::kQ8_0, GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
        EXPECT_NE(v->packed_gemm[static_cast<int>(type)], t->packed_gemm[static_cast<int>(type)])
            << ggml_type_name(type);
      }
      EXPECT_EQ(v->rms_norm, t->rms_norm);
    }
    EXPECT_EQ(same_isa, x86 ? 2 : 1) << isa_name(t->isa);
  }
}

TEST(KernelTable, DotMatchesScalarAtOddSizes) {
  std::mt19937 rng(7);
  const auto& ref = scalar_kernel_table();
  for (const auto* table : available_kernel_tables()) {
    for (int64_t n : {1, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 257, 1000}) {
      const auto a = random_vector(rng, n);
      const auto b = random_vector(rng, n);
      double exact = 0.0;
      for (int64_t i = 0; i < n; ++i) exact += static_cast<double>(a[i + 1]) * b[i + 1];
      const float got = table->dot_f32(a.data() + 1, b.data() + 1, n);
      const float want = ref.dot_f32(a.data() + 1, b.data() + 1, n);
      const double tol = 1e-5 * static_cast<double>(n);
      EXPECT_NEAR(got, exact, tol) << isa_name(table->isa) << " n=" << n;
      EXPECT_NEAR(got, want, tol) << isa_name(table->isa) << " n=" << n;
    }
  }
}

TEST(KernelTable, AxpyMatchesScalarAtOddSizes) {
  std::mt19937 rng(11);
  for (const auto* table : available_kernel_tables()) {
    for (int64_t n : {1, 5, 8, 9, 23, 64, 129}) {
      const auto x = random_vector(rng, n);
      auto y = random_vector(rng, n);
      auto want = y;
      table->axpy_f32(0.37f, x.data() + 1, y.data() + 1, n);
      for (int64_t i = 1; i <= n; ++i) want[i] += 0.37f * x[i];
      for (int64_t i = 0; i <= n; ++i) {
        EXPECT_NEAR(y[i], want[i], 1e-6) << isa_name(table->isa) << " n=" << n << " i=" << i;
      }
    }
  }
}

}  // namespace
}  // namespace capibara::kernels
