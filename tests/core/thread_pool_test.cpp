// The thread pool covers every item exactly once, with each slice on one thread; balanced
// operations cover it in pieces and move the work of a slow thread to the others; an operation
// ends without a worker that does not run.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "core/error.hpp"
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

TEST(ThreadPool, RefusesMoreThreadsThanItsOperationWordCounts) {
  EXPECT_THROW(ThreadPool(40'000), InvalidArgumentError);
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

// A signal handler can reach only globals: these hold a worker parked outside any operation.
std::atomic<bool> g_worker_parked{false};
std::atomic<bool> g_release_worker{false};

void park_worker(int) {
  g_worker_parked.store(true);
  const timespec ms = {0, 1'000'000};
  while (!g_release_worker.load()) nanosleep(&ms, nullptr);
}

TEST(ThreadPool, OperationsEndWithoutAWorkerThatDoesNotRun) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer runs a signal handler only at its own interceptors, and a "
                  "worker asleep on its futex reaches none: the worker could not be parked";
#endif
  ThreadPool pool(2);
  // The worker's thread, from the slice only it can run: the caller's slice waits for it.
  pthread_t worker{};
  std::atomic<bool> worker_known{false};
  pool.parallel_for(2, [&](int64_t begin, int64_t, int) {
    if (begin == 1) {
      worker = pthread_self();
      worker_known = true;
    }
    while (!worker_known.load()) std::this_thread::yield();
  });

  // Park the worker between operations, as a descheduled thread would be. A watchdog lets it go
  // after 60 s, so that a pool which waits for it fails this test instead of hanging.
  g_worker_parked = false;
  g_release_worker = false;
  struct sigaction parking {
  }, previous{};
  parking.sa_handler = park_worker;
  sigemptyset(&parking.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &parking, &previous), 0);
  ASSERT_EQ(pthread_kill(worker, SIGUSR1), 0);
  while (!g_worker_parked.load()) std::this_thread::yield();
  std::atomic<bool> operations_done{false};
  std::atomic<bool> watchdog_fired{false};
  std::thread watchdog([&] {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!operations_done.load() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    watchdog_fired = !operations_done.load();
    g_release_worker = true;
  });

  pool.set_timing(true);
  constexpr int kOperations = 1000;
  std::atomic<int64_t> sum{0};
  std::atomic<int> other_thread_calls{0};
  for (int round = 0; round < kOperations; ++round) {
    auto add = [&](int64_t begin, int64_t end, int thread) {
      for (int64_t i = begin; i < end; ++i) sum += i;
      if (thread != 0) ++other_thread_calls;
    };
    if (round % 2 == 0) {
      pool.parallel_for(100, add);
    } else {
      pool.parallel_for_balanced(100, 7, add);
    }
  }
  operations_done = true;
  watchdog.join();
  const ThreadPool::Times times = pool.times();
  pool.set_timing(false);
  EXPECT_FALSE(watchdog_fired) << "the operations waited for the parked worker";
  EXPECT_EQ(sum.load(), int64_t{kOperations} * 4950);
  EXPECT_EQ(other_thread_calls.load(), 0);
  EXPECT_EQ(times.operations, kOperations);
  EXPECT_EQ(times.short_handed, kOperations);

  // Released, the worker takes part again (its slice is the one the caller's waits for).
  std::atomic<bool> worker_ran{false};
  pool.parallel_for(2, [&](int64_t begin, int64_t, int thread) {
    if (begin == 1) worker_ran = thread == 1;
    while (begin == 0 && !worker_ran.load()) std::this_thread::yield();
  });
  EXPECT_TRUE(worker_ran.load());
  sigaction(SIGUSR1, &previous, nullptr);
}

TEST(ThreadPool, LateWorkersNeverRunAnOperationThatEnded) {
  // Eight threads on a machine of fewer cores: workers often come late, to an operation that
  // ended (and whose callback and items are gone) or to one that is half done. Each operation's
  // items live on the stack of its round, so that a worker running a stale one shows up as a
  // wrong count here or as a use after scope under the sanitizers.
  ThreadPool pool(8);
  int64_t total = 0;
  for (int round = 0; round < 3000; ++round) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(1 + round % 37));
    const auto n = static_cast<int64_t>(hits.size());
    auto mark = [&hits, round](int64_t begin, int64_t end, int thread) {
      for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)] += 1 + round % 2;
      EXPECT_LT(thread, 8);
    };
    if (round % 2 == 0) {
      pool.parallel_for(n, mark);
    } else {
      pool.parallel_for_balanced(n, 1 + round % 5, mark);
    }
    for (const auto& h : hits) total += h.load() == 1 + round % 2 ? 0 : 1;
  }
  EXPECT_EQ(total, 0);
}

TEST(ThreadPool, AnExceptionOnTheCallerStopsTheOperationAndLeavesThePoolUsable) {
  ThreadPool pool(2);
  for (int round = 0; round < 5; ++round) {
    // The worker's pieces take 1 ms each; the caller throws once the worker is at work.
    std::vector<std::atomic<int>> hits(10'000);
    std::atomic<bool> worker_started{false};
    std::atomic<int> worker_pieces{0};
    EXPECT_THROW(
        pool.parallel_for_balanced(10'000, 1,
                                   [&](int64_t begin, int64_t, int thread) {
                                     ++hits[static_cast<size_t>(begin)];
                                     if (thread == 0) {
                                       while (!worker_started.load()) {
                                         std::this_thread::yield();
                                       }
                                       throw std::runtime_error("bad item");
                                     }
                                     worker_started = true;
                                     ++worker_pieces;
                                     std::this_thread::sleep_for(std::chrono::milliseconds(1));
                                   }),
        std::runtime_error);
    // Once the exception is out, no worker runs the callback any more (the rest of the range is
    // abandoned): the count stays where it was.
    const int pieces = worker_pieces.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(worker_pieces.load(), pieces);
    EXPECT_LT(pieces, 5'000);
    for (const auto& h : hits) ASSERT_LE(h.load(), 1);
  }
  std::atomic<int64_t> sum{0};
  pool.parallel_for(100, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) sum += i;
  });
  EXPECT_EQ(sum.load(), 4950);
}

// A static operation on a pool of two whose slices each thread runs itself: the caller's waits
// until the worker has started its own (else the caller, done first, could run both).
void run_both_slices(ThreadPool& pool, std::chrono::milliseconds caller,
                     std::chrono::milliseconds worker) {
  std::atomic<bool> worker_started{false};
  pool.parallel_for(2, [&](int64_t begin, int64_t, int) {
    if (begin == 0) {
      while (!worker_started.load()) std::this_thread::yield();
      std::this_thread::sleep_for(caller);
    } else {
      worker_started = true;
      std::this_thread::sleep_for(worker);
    }
  });
}

TEST(ThreadPool, TimingIsOffByDefaultAndZeroedWhenSwitched) {
  using std::chrono::milliseconds;
  ThreadPool pool(2);
  run_both_slices(pool, milliseconds(2), milliseconds(2));
  ThreadPool::Times off = pool.times();
  ASSERT_EQ(off.work_ns.size(), 2u);
  EXPECT_EQ(off.work_ns[0] + off.work_ns[1] + off.end_wait_ns + off.operations, 0);

  pool.set_timing(true);
  run_both_slices(pool, milliseconds(2), milliseconds(2));
  EXPECT_GE(pool.times().work_ns[1], 2'000'000);
  pool.set_timing(true);  // zeroes what was counted
  const ThreadPool::Times zeroed = pool.times();
  EXPECT_EQ(zeroed.work_ns[0] + zeroed.work_ns[1] + zeroed.end_wait_ns + zeroed.operations, 0);
}

TEST(ThreadPool, TimingSplitsWorkFromTheCallersWaitAtTheEnd) {
  constexpr int64_t kMs = 1'000'000;
  ThreadPool pool(2);
  pool.set_timing(true);
  // The worker's slice takes 30 ms, the caller's 1 ms once the worker has started: the caller
  // waits for the rest.
  run_both_slices(pool, std::chrono::milliseconds(1), std::chrono::milliseconds(30));
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
