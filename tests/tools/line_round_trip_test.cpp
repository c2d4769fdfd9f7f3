// The line round trip of `bench --roofline`: a value with two threads or more, none with one, and
// the pool still works afterwards. The time itself is never checked (it depends on the machine).
#include "tools/line_round_trip.hpp"

#include <atomic>
#include <cmath>

#include <gtest/gtest.h>

#include "core/thread_pool.hpp"

namespace capibara::tools {
namespace {

TEST(LineRoundTrip, NoneWithOneThread) {
  ThreadPool pool(1);
  EXPECT_FALSE(line_round_trip_ns(pool).has_value());
}

TEST(LineRoundTrip, MeasuredBetweenTwoThreadsOrMore) {
  for (const int n : {2, 3, 4}) {
    ThreadPool pool(n);
    // Where the machine has fewer free cores than threads, a partner may not join within the
    // 50 ms the caller waits: then that try has no value, never a made-up one. Some of five tries
    // must have one on any machine with two cores.
    int measured = 0;
    for (int attempt = 0; attempt < 5; ++attempt) {
      const auto ns = line_round_trip_ns(pool);
      if (!ns) continue;
      ++measured;
      EXPECT_TRUE(std::isfinite(*ns)) << n;
      EXPECT_GT(*ns, 0.0) << n;
    }
    EXPECT_GE(measured, 1) << n;
    // The pool runs the next operation on every item.
    std::atomic<int> items{0};
    pool.parallel_for(
        100, [&](int64_t begin, int64_t end, int) { items += static_cast<int>(end - begin); });
    EXPECT_EQ(items.load(), 100) << n;
  }
}

}  // namespace
}  // namespace capibara::tools
