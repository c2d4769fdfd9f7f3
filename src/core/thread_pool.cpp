// Persistent worker threads: wake on a generation counter, work a static slice, count down.
#include "core/thread_pool.hpp"

#include <algorithm>

namespace capibara {

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0)
    n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n_threads_ = n_threads;
  workers_.reserve(static_cast<size_t>(n_threads_ - 1));
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
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
  {
    std::lock_guard lock(mutex_);
    n_items_ = n_items;
    ctx_ = ctx;
    trampoline_ = trampoline;
    pending_.store(n_threads_ - 1, std::memory_order_relaxed);
    ++generation_;
  }
  wake_.notify_all();
  run_slice(0);
  // The workers' slices are about as long as ours, so a short spin usually suffices.
  int spins = 0;
  while (pending_.load(std::memory_order_acquire) != 0) {
    if (++spins > 1000) std::this_thread::yield();
  }
}

void ThreadPool::worker_loop(int thread_index) {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
    }
    run_slice(thread_index);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace capibara
