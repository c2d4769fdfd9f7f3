// The thread pool covers every item exactly once, with each slice on one thread; balanced
// operations cover it in pieces and move the work of a slow thread to the others.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
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

TEST(ThreadPool, BalancedCoversEveryItemOnceInPiecesOfAtMostTheGrain) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 2, 3, 7, 100, 1001}) {
      for (int64_t grain : {1, 3, 64, 5000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<int64_t> longest{0};
        std::atomic<int> bad_thread{0};
        pool.parallel_for_balanced(n, grain, [&](int64_t begin, int64_t end, int thread) {
          for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)]++;
          int64_t prev = longest.load();
          while (end - begin > prev && !longest.compare_exchange_weak(prev, end - begin)) {
          }
          if (thread < 0 || thread >= threads) bad_thread++;
        });
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << threads << " " << n << " " << grain;
        }
        // One thread (or one item) runs inline as a single call.
        if (threads > 1 && n > 1) {
          EXPECT_LE(longest.load(), grain);
        }
        EXPECT_EQ(bad_thread.load(), 0);
      }
    }
  }
}

TEST(ThreadPool, BalancedMovesTheSlowThreadsWorkToTheOthers) {
  // The calling thread (0) needs 2 ms per item, the worker none: with static slices the caller
  // would do half the items. Balanced, the worker takes the back of the caller's slice while the
  // caller is still on its first few items. (The caller is the slow one because it surely starts:
  // a worker that wakes late may find every item taken, which is right but tests nothing.)
  ThreadPool pool(2);
  constexpr int64_t kItems = 64;
  std::mutex mutex;
  std::vector<int> owner(kItems, -1);
  pool.parallel_for_balanced(kItems, 1, [&](int64_t begin, int64_t end, int thread) {
    if (thread == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const std::lock_guard lock(mutex);
    for (int64_t i = begin; i < end; ++i) owner[static_cast<size_t>(i)] = thread;
  });
  EXPECT_EQ(std::count(owner.begin(), owner.end(), -1), 0);
  EXPECT_GT(std::count(owner.begin(), owner.end(), 1), kItems * 3 / 4);
  // The caller worked its slice from the front and was taken from the back.
  EXPECT_EQ(owner[0], 0);
  EXPECT_EQ(owner[kItems / 2 - 1], 1);
}

TEST(ThreadPool, StaticAndBalancedOperationsAlternate) {
  ThreadPool pool(3);
  std::atomic<int64_t> sum{0};
  for (int round = 0; round < 1000; ++round) {
    auto add = [&](int64_t begin, int64_t end, int) {
      for (int64_t i = begin; i < end; ++i) sum += i;
    };
    if (round % 2 == 0) {
      pool.parallel_for(100, add);
    } else {
      pool.parallel_for_balanced(100, 7, add);
    }
  }
  EXPECT_EQ(sum.load(), 1000 * 4950);
}

TEST(ThreadPool, TimingIsOffByDefaultAndZeroedWhenSwitched) {
  ThreadPool pool(2);
  pool.parallel_for(
      2, [](int64_t, int64_t, int) { std::this_thread::sleep_for(std::chrono::milliseconds(2)); });
  ThreadPool::Times off = pool.times();
  ASSERT_EQ(off.work_ns.size(), 2u);
  EXPECT_EQ(off.work_ns[0] + off.work_ns[1] + off.end_wait_ns + off.operations, 0);

  pool.set_timing(true);
  pool.parallel_for(
      2, [](int64_t, int64_t, int) { std::this_thread::sleep_for(std::chrono::milliseconds(2)); });
  EXPECT_GE(pool.times().work_ns[1], 2'000'000);
  pool.set_timing(true);  // zeroes what was counted
  const ThreadPool::Times zeroed = pool.times();
  EXPECT_EQ(zeroed.work_ns[0] + zeroed.work_ns[1] + zeroed.end_wait_ns + zeroed.operations, 0);
}

TEST(ThreadPool, TimingSplitsWorkFromTheCallersWaitAtTheEnd) {
  constexpr int64_t kMs = 1'000'000;
  ThreadPool pool(2);
  pool.set_timing(true);
  // The worker's slice takes 30 ms, the caller's 1 ms: the caller waits for the rest.
  pool.parallel_for(2, [](int64_t begin, int64_t, int) {
    std::this_thread::sleep_for(std::chrono::milliseconds(begin == 0 ? 1 : 30));
  });
  // Balanced operations are timed per piece, every piece counted once.
  std::atomic<int64_t> pieces{0};
  pool.parallel_for_balanced(8, 1, [&](int64_t, int64_t, int) {
    ++pieces;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  // A pool of one runs inline, and that counts too.
  ThreadPool single(1);
  single.set_timing(true);
  single.parallel_for(
      1, [](int64_t, int64_t, int) { std::this_thread::sleep_for(std::chrono::milliseconds(3)); });

  const ThreadPool::Times t = pool.times();
  EXPECT_EQ(t.operations, 2);
  EXPECT_EQ(pieces.load(), 8);
  EXPECT_GE(t.work_ns[1], 30 * kMs);
  EXPECT_GE(t.work_ns[0], 1 * kMs);
  // The worker cannot start before the operation does, so the caller's wait is at least the
  // difference of the two slices (less the balanced operation's, at most 8 ms apart).
  EXPECT_GE(t.end_wait_ns, 20 * kMs);
  EXPECT_GE(t.work_ns[0] + t.work_ns[1], (1 + 30 + 8) * kMs);
  const ThreadPool::Times s = single.times();
  EXPECT_EQ(s.operations, 1);
  EXPECT_GE(s.work_ns[0], 3 * kMs);
  EXPECT_EQ(s.end_wait_ns, 0);

  pool.set_timing(false);
  pool.parallel_for(2, [](int64_t, int64_t, int) {});
  EXPECT_EQ(pool.times().operations, 0);
}

}  // namespace
}  // namespace capibara
