// A cache line passed between two pool threads, timed on the calling thread.
#include "tools/line_round_trip.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "core/cpu_relax.hpp"

namespace capibara::tools {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kWarmupRounds = 100;
constexpr int kBatches = 9;
constexpr int kRoundsPerBatch = 100;
constexpr auto kJoinTimeout = std::chrono::milliseconds(50);

enum PartnerState : int { kWaiting = 0, kJoined = 1, kAbandoned = 2 };

struct PingPong {
  alignas(64) std::atomic<int64_t> counter{0};  // the line passed back and forth
  alignas(64) std::atomic<int> partner{kWaiting};
  std::vector<double> batch_ns;  // written by the pinging thread only

  PingPong() { batch_ns.reserve(kBatches); }  // no allocation inside the operation

  // Waits until the counter reaches `value`, yielding now and then: with more threads than free
  // cores the other thread may need this one's core to answer.
  void await(int64_t value) const {
    for (int spins = 1; counter.load(std::memory_order_acquire) != value; ++spins) {
      cpu_relax();
      if (spins % 4096 == 0) std::this_thread::yield();
    }
  }

  // Item 0 of the pool's operation (the calling thread's own): pings once a partner has joined.
  void ping() {
    const auto give_up_at = Clock::now() + kJoinTimeout;
    while (partner.load(std::memory_order_acquire) != kJoined) {
      if (Clock::now() > give_up_at) {
        int expected = kWaiting;
        if (partner.compare_exchange_strong(expected, kAbandoned)) return;
      }
      std::this_thread::yield();
    }
    int64_t next = 0;
    const auto rounds = [&](int n) {
      for (int i = 0; i < n; ++i) {
        counter.store(next + 1, std::memory_order_release);
        next += 2;
        await(next);
      }
    };
    rounds(kWarmupRounds);
    for (int b = 0; b < kBatches; ++b) {
      const auto start = Clock::now();
      rounds(kRoundsPerBatch);
      batch_ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - start).count() /
                         kRoundsPerBatch);
    }
  }

  // Item 1, run by whichever other thread takes it first (or by the caller once it gave up).
  void pong() {
    int expected = kWaiting;
    if (!partner.compare_exchange_strong(expected, kJoined)) return;  // the ping gave up
    const int64_t total = 2 * (kWarmupRounds + int64_t{kBatches} * kRoundsPerBatch);
    for (int64_t value = 1; value < total; value += 2) {
      await(value);
      counter.store(value + 1, std::memory_order_release);
    }
  }
};

}  // namespace

std::optional<double> line_round_trip_ns(ThreadPool& pool) {
  if (pool.size() < 2) return std::nullopt;
  PingPong p;
  // One item per thread, so that item 0 is the calling thread's own slice and runs first there.
  pool.parallel_for(pool.size(), [&](int64_t begin, int64_t end, int) {
    for (int64_t item = begin; item < end; ++item) {
      if (item == 0) p.ping();
      if (item == 1) p.pong();
    }
  });
  if (p.batch_ns.empty()) return std::nullopt;
  std::sort(p.batch_ns.begin(), p.batch_ns.end());
  return p.batch_ns[p.batch_ns.size() / 2];
}

}  // namespace capibara::tools
