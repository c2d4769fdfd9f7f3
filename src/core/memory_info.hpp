// What the machine and this process use of memory: system total and available (the cgroup's
// limit when one is set, as in containers), and the process's resident set.
// Thread safety: reads /proc and /sys on each call; safe from any thread.
#pragma once

#include <cstdint>

namespace capibara {

struct MemoryInfo {
  int64_t total_bytes = 0;      // RAM, or the cgroup limit when lower
  int64_t available_bytes = 0;  // what can still be allocated without swapping / OOM
  int64_t process_rss_bytes = 0;
  double used_fraction() const {
    return total_bytes > 0
               ? 1.0 - static_cast<double>(available_bytes) / static_cast<double>(total_bytes)
               : 0.0;
  }
};

MemoryInfo read_memory_info();

}  // namespace capibara
