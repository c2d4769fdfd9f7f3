// Persistent worker threads: wait for a generation counter to move (spinning briefly, then
// sleeping on it), join the operation if it is still open, take pieces of it, count themselves
// done.
#include "core/thread_pool.hpp"

#include <algorithm>
#include <chrono>
#include <limits>
#include <stdexcept>
#include <string>

#include "core/cpu_relax.hpp"
#include "core/error.hpp"

namespace capibara {
namespace {

// How long a worker keeps spinning for the next operation before it sleeps. A decode step
// issues ~150 operations with a few microseconds of serial work between them; waking a sleeping
// thread costs ~10 us each time (measured: bench/thread_pool_bench.cpp), so workers spin through
// the gaps of a forward pass and only sleep once the model is idle.
constexpr auto kSpinFor = std::chrono::microseconds(200);

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Where thread `t`'s static slice of [0, n_items) starts (and thread t - 1's ends).
int64_t slice_start(int64_t n_items, int t, int n_threads) { return n_items * t / n_threads; }

uint64_t pack_bounds(int64_t front, int64_t back) {
  return static_cast<uint64_t>(front) | static_cast<uint64_t>(back) << 32;
}
int64_t front_of(uint64_t bounds) { return static_cast<int64_t>(bounds & 0xFFFFFFFFu); }
int64_t back_of(uint64_t bounds) { return static_cast<int64_t>(bounds >> 32); }

// The operation word: its generation, a closed bit, and counts of the workers that joined it and
// that are done with it.
constexpr uint64_t kDoneOne = 1;
constexpr uint64_t kJoinedOne = uint64_t{1} << 16;
constexpr uint64_t kCountMask = 0x7FFF;  // joined and done each fit 15 bits
constexpr uint64_t kClosed = uint64_t{1} << 31;
constexpr int kMaxThreads = static_cast<int>(kCountMask) + 1;

uint64_t open_operation(uint32_t generation) { return static_cast<uint64_t>(generation) << 32; }
uint32_t generation_of(uint64_t op) { return static_cast<uint32_t>(op >> 32); }
int joined_of(uint64_t op) { return static_cast<int>(op / kJoinedOne & kCountMask); }
int done_of(uint64_t op) { return static_cast<int>(op / kDoneOne & kCountMask); }

struct Piece {
  int64_t begin = 0;
  int64_t end = 0;
};

// Claims up to `grain` items from the front (the owner) or the back (a thief) of `bounds`;
// an empty piece when none are left.
Piece take(std::atomic<uint64_t>& bounds, int64_t grain, bool from_front) {
  uint64_t seen = bounds.load(std::memory_order_relaxed);
  for (;;) {
    const int64_t front = front_of(seen);
    const int64_t back = back_of(seen);
    if (front >= back) return {};
    const int64_t n = std::min(grain, back - front);
    const Piece piece = from_front ? Piece{front, front + n} : Piece{back - n, back};
    const uint64_t left = from_front ? pack_bounds(front + n, back) : pack_bounds(front, back - n);
    if (bounds.compare_exchange_weak(seen, left, std::memory_order_relaxed)) return piece;
  }
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0)
    n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (n_threads > kMaxThreads) {
    throw InvalidArgumentError("a thread pool holds at most " + std::to_string(kMaxThreads) +
                               " threads, not " + std::to_string(n_threads));
  }
  n_threads_ = n_threads;
  operation_.store(kClosed, std::memory_order_relaxed);  // none yet
  slices_ = std::make_unique<SharedSlice[]>(static_cast<size_t>(n_threads_));
  work_clocks_ = std::make_unique<WorkClock[]>(static_cast<size_t>(n_threads_));
  workers_.reserve(static_cast<size_t>(n_threads_ - 1));
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  stopping_.store(true, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::set_timing(bool on) {
  for (int t = 0; t < n_threads_; ++t) work_clocks_[t].work_ns.store(0, std::memory_order_relaxed);
  end_wait_ns_ = 0;
  operations_ = 0;
  short_handed_ = 0;
  timing_.store(on, std::memory_order_relaxed);
}

ThreadPool::Times ThreadPool::times() const {
  Times times;
  for (int t = 0; t < n_threads_; ++t) {
    times.work_ns.push_back(work_clocks_[t].work_ns.load(std::memory_order_relaxed));
  }
  times.end_wait_ns = end_wait_ns_;
  times.operations = operations_;
  times.short_handed = short_handed_;
  return times;
}

void ThreadPool::work(Trampoline trampoline, void* ctx, int64_t begin, int64_t end,
                      int thread_index) {
  if (!timing_.load(std::memory_order_relaxed)) {
    trampoline(ctx, begin, end, thread_index);
    return;
  }
  const int64_t start = now_ns();
  trampoline(ctx, begin, end, thread_index);
  auto& clock = work_clocks_[thread_index].work_ns;
  clock.store(clock.load(std::memory_order_relaxed) + (now_ns() - start),
              std::memory_order_relaxed);
}

void ThreadPool::run_pieces(int thread_index) {
  // The slices were set before the operation was opened, and a worker reads them only after
  // joining it; claims need no ordering of their own (the results are published by the done
  // count).
  for (;;) {
    const Piece p = take(slices_[thread_index].bounds, grain_, true);
    if (p.begin == p.end) break;
    work(trampoline_, ctx_, p.begin, p.end, thread_index);
  }
  for (;;) {
    int victim = -1;
    int64_t most_left = 0;
    for (int t = 0; t < n_threads_; ++t) {
      const uint64_t bounds = slices_[t].bounds.load(std::memory_order_relaxed);
      if (back_of(bounds) - front_of(bounds) > most_left) {
        most_left = back_of(bounds) - front_of(bounds);
        victim = t;
      }
    }
    if (victim < 0) return;
    const Piece p = take(slices_[victim].bounds, grain_, false);
    if (p.begin < p.end) work(trampoline_, ctx_, p.begin, p.end, thread_index);
  }
}

bool ThreadPool::join(uint32_t& generation) {
  uint64_t op = operation_.load(std::memory_order_acquire);
  for (;;) {
    generation = generation_of(op);
    if ((op & kClosed) != 0) return false;
    if (operation_.compare_exchange_weak(op, op + kJoinedOne, std::memory_order_acquire)) {
      return true;
    }
  }
}

int ThreadPool::close_and_wait() {
  uint64_t op = operation_.fetch_or(kClosed, std::memory_order_acquire);
  const int joined = joined_of(op);
  // The workers that joined are at most a piece behind: spin, and yield only if one was
  // descheduled.
  int spins = 0;
  while (done_of(op) != joined) {
    cpu_relax();
    if (++spins > 256) std::this_thread::yield();
    op = operation_.load(std::memory_order_acquire);
  }
  return joined;
}

void ThreadPool::run(int64_t n_items, void* ctx, Trampoline trampoline, int64_t grain) {
  if (n_items <= 0) return;
  const bool timing = timing_.load(std::memory_order_relaxed);
  operations_ += timing ? 1 : 0;
  if (n_threads_ == 1 || n_items == 1) {
    work(trampoline, ctx, 0, n_items, 0);
    return;
  }
  // Slice bounds are packed in 32 bits each.
  if (n_items > std::numeric_limits<uint32_t>::max()) {
    throw std::length_error("a thread pool operation covers at most 2^32 - 1 items, not " +
                            std::to_string(n_items));
  }
  // The previous operation ended with every worker that joined it done: no one reads these now.
  // A static operation is one piece per slice, so that a thread done early can still run the
  // slice of one that has not started.
  n_items_ = n_items;
  ctx_ = ctx;
  trampoline_ = trampoline;
  grain_ = grain > 0 ? grain : n_items;
  for (int t = 0; t < n_threads_; ++t) {
    slices_[t].bounds.store(
        pack_bounds(slice_start(n_items, t, n_threads_), slice_start(n_items, t + 1, n_threads_)),
        std::memory_order_relaxed);
  }
  // Opening the operation releases the writes above to the workers that join it; seq_cst on the
  // bump pairs it with the sleepers_ read below against a worker's sleepers_ increment and
  // generation re-check.
  const uint32_t generation = generation_.load(std::memory_order_relaxed) + 1;
  operation_.store(open_operation(generation), std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) generation_.notify_all();
  try {
    run_pieces(0);
  } catch (...) {
    // The rest of the range is abandoned, but workers that joined may hold pieces: the callback
    // they run lives in the caller's frame, so wait for them before it goes.
    for (int t = 0; t < n_threads_; ++t) slices_[t].bounds.store(0, std::memory_order_relaxed);
    close_and_wait();
    throw;
  }
  const int64_t wait_start = timing ? now_ns() : 0;
  const int joined = close_and_wait();
  if (timing) {
    end_wait_ns_ += now_ns() - wait_start;
    short_handed_ += joined < n_threads_ - 1 ? 1 : 0;
  }
}

void ThreadPool::worker_loop(int thread_index) {
  uint32_t seen = 0;
  for (;;) {
    uint32_t now = generation_.load(std::memory_order_acquire);
    if (now == seen) {
      const auto spin_until = std::chrono::steady_clock::now() + kSpinFor;
      int polls = 0;
      while ((now = generation_.load(std::memory_order_acquire)) == seen) {
        cpu_relax();
        if (++polls % 64 != 0) continue;
        // Every 64 polls: give the core away if another thread wants it (with more pool threads
        // than cores, the one still working), and look at the clock (dearer than a poll).
        std::this_thread::yield();
        if (std::chrono::steady_clock::now() > spin_until) {
          // Announce the sleep before re-checking, so that `run` either sees a sleeper and
          // notifies, or this thread sees the new generation (both accesses seq_cst).
          sleepers_.fetch_add(1, std::memory_order_seq_cst);
          generation_.wait(seen, std::memory_order_seq_cst);
          sleepers_.fetch_sub(1, std::memory_order_relaxed);
          polls = 0;
        }
      }
    }
    if (stopping_.load(std::memory_order_relaxed)) return;
    // `seen` becomes the generation of the operation looked at, joined or found closed (it may
    // be newer than `now` if the caller has moved on since).
    if (!join(seen)) continue;
    run_pieces(thread_index);
    operation_.fetch_add(kDoneOne, std::memory_order_release);
  }
}

}  // namespace capibara
