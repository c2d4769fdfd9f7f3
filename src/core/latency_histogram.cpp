// Buckets plus a ring of recent samples for quantiles.
#include "core/latency_histogram.hpp"

#include <algorithm>
#include <cmath>

namespace capibara {

void LatencyHistogram::observe(double seconds) {
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < kBoundsSeconds.size(); ++i) {
    if (seconds <= kBoundsSeconds[i]) {
      ++buckets_[i];
      break;
    }
  }
  ++count_;
  sum_ += seconds;
  if (recent_.size() < kWindow) {
    recent_.push_back(seconds);
  } else {
    recent_[next_] = seconds;
    next_ = (next_ + 1) % kWindow;
  }
}

LatencyHistogram::Snapshot LatencyHistogram::snapshot() const {
  Snapshot s;
  std::vector<double> sorted;
  {
    std::lock_guard lock(mutex_);
    uint64_t running = 0;
    for (size_t i = 0; i < buckets_.size(); ++i) {
      running += buckets_[i];
      s.cumulative[i] = running;
    }
    s.count = count_;
    s.sum_seconds = sum_;
    sorted = recent_;
  }
  if (!sorted.empty()) {
    std::sort(sorted.begin(), sorted.end());
    auto quantile = [&](double q) {
      const auto idx = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size()))) - 1;
      return sorted[std::min(idx, sorted.size() - 1)];
    };
    s.p50_seconds = quantile(0.50);
    s.p95_seconds = quantile(0.95);
  }
  return s;
}

}  // namespace capibara
