// Latency distribution for stats and metrics: cumulative buckets as Prometheus histograms want
// them (`_bucket{le=...}`, `_sum`, `_count`) plus p50 / p95 over the most recent samples.
//
// Thread safety: all members may be called from any thread (one mutex; observations are rare
// compared with the work they measure: one per token at most).
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <vector>

namespace capibara {

class LatencyHistogram {
 public:
  // Upper bounds in seconds, from 1 ms to 60 s.
  static constexpr std::array<double, 16> kBoundsSeconds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                            0.075, 0.1,    0.25,  0.5,  0.75,  1.0,
                                                            2.5,   5.0,    10.0,  60.0};

  struct Snapshot {
    std::array<uint64_t, kBoundsSeconds.size()> cumulative{};  // observations <= bound
    uint64_t count = 0;
    double sum_seconds = 0.0;
    double p50_seconds = 0.0;  // over the recent window; 0 when empty
    double p95_seconds = 0.0;
  };

  void observe(double seconds);
  Snapshot snapshot() const;

 private:
  static constexpr size_t kWindow = 2048;
  mutable std::mutex mutex_;
  std::array<uint64_t, kBoundsSeconds.size()> buckets_{};  // non-cumulative
  uint64_t count_ = 0;
  double sum_ = 0.0;
  std::vector<double> recent_;  // ring of the last kWindow observations
  size_t next_ = 0;
};

}  // namespace capibara
