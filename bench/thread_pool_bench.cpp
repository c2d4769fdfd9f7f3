// What one `parallel_for` costs with no work in it: the wake-up and the barrier every matmul and
// attention call pays. A decode step of a 22-layer model makes about 200 of them, so a few
// microseconds each is a visible share of a 20 ms step. Run `capibara_microbench
// --benchmark_filter=ThreadPool`.
#include <benchmark/benchmark.h>

#include <atomic>

#include "core/thread_pool.hpp"

namespace capibara {
namespace {

void BM_ThreadPoolEmptyParallelFor(benchmark::State& state) {
  ThreadPool pool(static_cast<int>(state.range(0)));
  std::atomic<int64_t> sink{0};
  for (auto _ : state) {
    pool.parallel_for(pool.size(), [&](int64_t begin, int64_t end, int) {
      sink.fetch_add(end - begin, std::memory_order_relaxed);
    });
  }
  benchmark::DoNotOptimize(sink.load());
  state.SetLabel(std::to_string(pool.size()) + " threads");
}
BENCHMARK(BM_ThreadPoolEmptyParallelFor)->Arg(1)->Arg(2)->Arg(4)->UseRealTime();

}  // namespace
}  // namespace capibara
