// The loops behind `bench --roofline`: every read loop of every set this CPU runs must read
// every byte it is given (a loop that skipped some would make the bandwidth bound too high), so
// each returns the plain 64-bit sum of the buffer. Timing is never checked here.
#include "tools/peak_loops.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "core/aligned_buffer.hpp"
#include "kernels/kernel_table.hpp"

namespace capibara::tools {
namespace {

uint64_t word_sum(const uint8_t* p, size_t n_bytes) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n_bytes; i += 8) {
    uint64_t word;
    std::memcpy(&word, p + i, 8);
    sum += word;
  }
  return sum;
}

TEST(PeakLoops, EveryReadLoopReadsEveryByte) {
  // Sizes that end inside a 4 KiB page, on one, and past several; starts on and off a page.
  constexpr size_t kBuffer = 5 * 4096 + 4096;
  AlignedBuffer buffer(kBuffer);
  std::mt19937_64 rng(7);
  for (size_t i = 0; i < kBuffer; i += 8) {
    const uint64_t word = rng();
    std::memcpy(buffer.data() + i, &word, 8);
  }
  int sets = 0;
  for (const kernels::KernelTable* table : kernels::available_kernel_tables()) {
    const PeakLoops& loops = peak_loops_for(table->isa);
    ASSERT_FALSE(loops.reads.empty()) << loops.name;
    ++sets;
    for (const ReadLoop& loop : loops.reads) {
      for (const size_t start : {size_t{0}, size_t{64}, size_t{4096 - 256}}) {
        for (const size_t n : {size_t{256}, size_t{4096}, size_t{4096 + 768}, size_t{5 * 4096}}) {
          const uint8_t* p = buffer.data() + start;
          EXPECT_EQ(loop.read(p, n), word_sum(p, n))
              << loops.name << " / " << loop.name << ", start " << start << ", " << n << " bytes";
        }
      }
    }
  }
  EXPECT_GE(sets, 1);
}

TEST(PeakLoops, X86SetsHelpThePrefetchersAtPageStarts) {
  // The decoding kernels of the hardware-prefetch variant ask for page starts; a bound read
  // without that help was beaten by them (docs/PERFORMANCE.md, "The bound's read loops").
  for (const PeakLoops* loops : {x86_avx2_peak_loops(), x86_avx512_peak_loops()}) {
    if (loops == nullptr) GTEST_SKIP() << "not an x86-64 build";
    std::vector<std::string_view> names;
    for (const ReadLoop& loop : loops->reads) names.push_back(loop.name);
    EXPECT_NE(std::find(names.begin(), names.end(), "plain"), names.end()) << loops->name;
    EXPECT_NE(std::find(names.begin(), names.end(), "page starts"), names.end()) << loops->name;
  }
}

}  // namespace
}  // namespace capibara::tools
