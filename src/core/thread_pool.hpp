// A persistent pool of worker threads that splits a range of work items among itself and the
// calling thread. Threads are created once; an operation costs no allocation, no thread
// creation and, while the pool is busy, no wake-up: idle workers spin for 200 us for the next
// operation (yielding the core every 64 polls, for pools larger than the machine) before they
// sleep on a futex.
//
// Thread safety: one thread at a time may call `parallel_for` (the engine thread that owns the
// pool); the callback runs concurrently on every pool thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <vector>

namespace capibara {

class ThreadPool {
 public:
  // `n_threads` counts the calling thread: 1 runs everything inline. 0 means all hardware threads.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls `fn(begin, end, thread_index)` on disjoint contiguous slices covering [0, n_items),
  // one slice per thread, and returns when all slices are done.
  template <typename Fn>
  void parallel_for(int64_t n_items, Fn&& fn) {
    using F = std::remove_reference_t<Fn>;
    run(n_items, &fn, [](void* ctx, int64_t begin, int64_t end, int thread) {
      (*static_cast<F*>(ctx))(begin, end, thread);
    });
  }

 private:
  using Trampoline = void (*)(void* ctx, int64_t begin, int64_t end, int thread);
  void run(int64_t n_items, void* ctx, Trampoline trampoline);
  void worker_loop(int thread_index);
  void run_slice(int thread_index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::atomic<uint32_t> generation_{0};  // bumped once per operation (and to stop); wraps
  std::atomic<int> sleepers_{0};         // workers blocked in generation_.wait
  std::atomic<bool> stopping_{false};
  // The current operation; written before the generation bump, read by workers after it.
  int64_t n_items_ = 0;
  void* ctx_ = nullptr;
  Trampoline trampoline_ = nullptr;
  std::atomic<int> pending_{0};
};

}  // namespace capibara
