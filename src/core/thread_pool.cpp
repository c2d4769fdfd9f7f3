// Persistent worker threads: wait for a generation counter to move (spinning briefly, then
// sleeping on it), work a static slice, count down.
#include "core/thread_pool.hpp"

#include <algorithm>
#include <chrono>

namespace capibara {
namespace {

// Tells the core that this is a spin-wait (it frees execution resources for the sibling
// hyper-thread and saves power) without giving up the time slice.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// How long a worker keeps spinning for the next operation before it sleeps. A decode step
// issues ~150 operations with a few microseconds of serial work between them; waking a sleeping
// thread costs ~10 us each time (measured: bench/thread_pool_bench.cpp), so workers spin through
// the gaps of a forward pass and only sleep once the model is idle.
constexpr auto kSpinFor = std::chrono::microseconds(200);

}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0)
    n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n_threads_ = n_threads;
  workers_.reserve(static_cast<size_t>(n_threads_ - 1));
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  stopping_.store(true, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::run_slice(int thread_index) {
  const int64_t begin = n_items_ * thread_index / n_threads_;
  const int64_t end = n_items_ * (thread_index + 1) / n_threads_;
  if (begin < end) trampoline_(ctx_, begin, end, thread_index);
}

void ThreadPool::run(int64_t n_items, void* ctx, Trampoline trampoline) {
  if (n_items <= 0) return;
  if (n_threads_ == 1 || n_items == 1) {
    trampoline(ctx, 0, n_items, 0);
    return;
  }
  // The operation is published by the increment the workers acquire; seq_cst pairs it with the
  // sleepers_ read below against a worker's sleepers_ increment and generation re-check.
  n_items_ = n_items;
  ctx_ = ctx;
  trampoline_ = trampoline;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) generation_.notify_all();
  run_slice(0);
  // The workers' slices are about as long as ours: spin, and yield only if one was descheduled.
  int spins = 0;
  while (pending_.load(std::memory_order_acquire) != 0) {
    cpu_relax();
    if (++spins > 256) std::this_thread::yield();
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
    seen = now;
    run_slice(thread_index);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace capibara
