// The thread pool covers every item exactly once, with each slice on one thread.
#include <atomic>
#include <vector>

#include <gtest/gtest.h>

#include "core/thread_pool.hpp"

namespace capibara {
namespace {

TEST(ThreadPool, CoversEveryItemOnceForManySizes) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t n : {0, 1, 2, 3, 7, 100, 1001}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      std::atomic<int> max_thread{0};
      pool.parallel_for(n, [&](int64_t begin, int64_t end, int thread) {
        for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)]++;
        int prev = max_thread.load();
        while (thread > prev && !max_thread.compare_exchange_weak(prev, thread)) {
        }
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1);
      EXPECT_LT(max_thread.load(), threads);
    }
  }
}

TEST(ThreadPool, ManyConsecutiveOperations) {
  ThreadPool pool(3);
  std::atomic<int64_t> sum{0};
  for (int round = 0; round < 2000; ++round) {
    pool.parallel_for(10, [&](int64_t begin, int64_t end, int) {
      for (int64_t i = begin; i < end; ++i) sum += i;
    });
  }
  EXPECT_EQ(sum.load(), 2000 * 45);
}

}  // namespace
}  // namespace capibara
