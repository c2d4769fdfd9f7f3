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
    const auto ns = line_round_trip_ns(pool);
    // Where the machine has fewer free cores than threads, the partner may not join in time:
    // then there is no value, never a made-up one.
    if (!ns) continue;
    EXPECT_TRUE(std::isfinite(*ns)) << n;
    EXPECT_GT(*ns, 0.0) << n;
    // The pool runs the next operation on every item.
    std::atomic<int> items{0};
    pool.parallel_for(
        100, [&](int64_t begin, int64_t end, int) { items += static_cast<int>(end - begin); });
    EXPECT_EQ(items.load(), 100) << n;
  }
}

TEST(LineRoundTrip, MostOftenMeasuredWithTwoThreads) {
  // On any machine with two cores, a worker joins within the 50 ms the caller waits.
  ThreadPool pool(2);
  int measured = 0;
  for (int i = 0; i < 5; ++i) measured += line_round_trip_ns(pool).has_value() ? 1 : 0;
  EXPECT_GE(measured, 1);
}

}  // namespace
}  // namespace capibara::tools
