// A persistent pool of worker threads that splits a range of work items among itself and the
// calling thread. Threads are created once; an operation costs no allocation, no thread
// creation and, while the pool is busy, no wake-up: idle workers spin for 200 us for the next
// operation (yielding the core every 64 polls, for pools larger than the machine) before they
// sleep on a futex. An operation splits its range statically (`parallel_for`) or lets threads
// that finish early take over the rest of slower ones (`parallel_for_balanced`).
//
// An operation ends when its work is done, not when every worker has shown up: a worker joins
// an operation before it reads it, and the caller, once nothing is left to take, closes the
// operation to late workers and waits only for those that joined. On a busy machine a worker
// may not run for a whole scheduler slice; the caller then does its share instead of waiting.
//
// Thread safety: one thread at a time may call `parallel_for` or `parallel_for_balanced` (the
// engine thread that owns the pool); the callback runs concurrently on every pool thread. A
// callback may throw only on the calling thread (thread index 0): the operation then stops
// handing out pieces, waits for the workers' pieces in flight and rethrows. On a worker, an
// exception ends the process (std::terminate), as on any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
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

  // Where the pool's threads spent their time, for diagnostics (`capibara bench --pool-stats`):
  // off by default, because while it is on each piece of work costs two clock reads.
  struct Times {
    std::vector<int64_t> work_ns;  // per thread (0: the caller), inside the callbacks
    int64_t end_wait_ns = 0;       // the caller, waiting for the others at an operation's end
    int64_t operations = 0;
    int64_t short_handed = 0;  // operations that ended before every worker had joined them
  };
  // Turns the accounting on or off and zeroes it. Both calls only between operations, from the
  // thread that runs them.
  void set_timing(bool on);
  Times times() const;

  // Calls `fn(begin, end, thread_index)` on disjoint contiguous slices covering [0, n_items),
  // one slice per thread, and returns when all slices are done. A thread done with its own
  // slice runs whole slices of threads that have not started theirs, so `thread_index` names
  // the thread that runs the call (for per-thread scratch), not the slice.
  template <typename Fn>
  void parallel_for(int64_t n_items, Fn&& fn) {
    using F = std::remove_reference_t<Fn>;
    run(n_items, &fn, [](void* ctx, int64_t begin, int64_t end, int thread) {
      (*static_cast<F*>(ctx))(begin, end, thread);
    });
  }

  // Like `parallel_for`, but each thread works its slice in pieces of up to `grain` items, front
  // to back, and a thread whose slice is done takes pieces from the back of the slice with the
  // most items left. `fn` may so be called several times per thread, on disjoint contiguous
  // ranges that together cover [0, n_items) once (a pool of one thread, or one item, makes one
  // call on the whole range, as `parallel_for` does).
  //
  // Why: a static split waits for the slowest thread, and on a shared machine the threads do
  // not run at one speed (a vCPU whose host core is busy with another tenant). Decoding
  // TinyLlama on 2 vCPUs, the two slices of a matmul differed by 14-18 % of its time on
  // average. Owners still stream their slice in order, so the hardware prefetchers see one
  // sequential stream per thread for as long as no one steals.
  template <typename Fn>
  void parallel_for_balanced(int64_t n_items, int64_t grain, Fn&& fn) {
    using F = std::remove_reference_t<Fn>;
    run(
        n_items, &fn,
        [](void* ctx, int64_t begin, int64_t end, int thread) {
          (*static_cast<F*>(ctx))(begin, end, thread);
        },
        grain);
  }

 private:
  // A thread's remaining slice [front, back) as one word, so that its owner (taking from the
  // front) and thieves (taking from the back) claim pieces with one compare-exchange.
  struct alignas(64) SharedSlice {
    std::atomic<uint64_t> bounds{0};  // front | back << 32
  };
  using Trampoline = void (*)(void* ctx, int64_t begin, int64_t end, int thread);
  // `grain` 0: one static slice per thread; otherwise balanced, as `parallel_for_balanced`.
  void run(int64_t n_items, void* ctx, Trampoline trampoline, int64_t grain = 0);
  void worker_loop(int thread_index);
  void run_pieces(int thread_index);
  // Adds the calling worker to the open operation; false if it was closed first.
  bool join(uint32_t& generation);
  // Closes the operation to workers that have not joined and waits for those that did; returns
  // how many joined.
  int close_and_wait();
  // Calls the trampoline on one range, timed while timing is on.
  void work(Trampoline trampoline, void* ctx, int64_t begin, int64_t end, int thread_index);

  // One thread's work time, written only by that thread (atomic so that `times` and
  // `set_timing` may read and zero it between operations).
  struct alignas(64) WorkClock {
    std::atomic<int64_t> work_ns{0};
  };

  int n_threads_;
  std::vector<std::thread> workers_;
  // Bumped once per operation (and to stop); wraps. It repeats the operation word's generation
  // because workers sleep on it, and a futex word is 32 bits.
  std::atomic<uint32_t> generation_{0};
  std::atomic<int> sleepers_{0};  // workers blocked in generation_.wait
  std::atomic<bool> stopping_{false};
  // The operation's generation, whether it is closed, and how many workers joined it and are
  // done with it, in one word: a worker's join and the caller's close are ordered by it, so a
  // worker either joins before the close (and is waited for) or not at all.
  alignas(64) std::atomic<uint64_t> operation_{0};
  // The current operation; written before the operation word's release that opens it, read by
  // workers only after they joined, rewritten only once every joined worker is done.
  alignas(64) int64_t n_items_ = 0;
  void* ctx_ = nullptr;
  Trampoline trampoline_ = nullptr;
  int64_t grain_ = 0;
  std::unique_ptr<SharedSlice[]> slices_;  // [n_threads]
  // Set between operations; workers read it after joining the operation that follows.
  std::atomic<bool> timing_{false};
  std::unique_ptr<WorkClock[]> work_clocks_;  // [n_threads]
  int64_t end_wait_ns_ = 0;                   // the caller's own
  int64_t operations_ = 0;
  int64_t short_handed_ = 0;
};

}  // namespace capibara
