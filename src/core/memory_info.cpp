// /proc/meminfo, /proc/self/statm and the cgroup v2 (or v1) memory limit.
#include "core/memory_info.hpp"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

namespace capibara {
namespace {

int64_t meminfo_kb(const std::string& key) {
  std::ifstream in("/proc/meminfo");
  std::string name;
  int64_t value = 0;
  std::string unit;
  while (in >> name >> value >> unit) {
    if (name == key + ":") return value;
  }
  return 0;
}

// A cgroup file holding a byte count; nullopt-like -1 when absent or "max".
int64_t read_cgroup_bytes(const char* path) {
  std::ifstream in(path);
  std::string s;
  if (!(in >> s) || s == "max") return -1;
  try {
    return std::stoll(s);
  } catch (const std::exception&) {
    return -1;
  }
}

}  // namespace

MemoryInfo read_memory_info() {
  MemoryInfo m;
  m.total_bytes = meminfo_kb("MemTotal") * 1024;
  m.available_bytes = meminfo_kb("MemAvailable") * 1024;

  // A cgroup limit below the machine's RAM is the real ceiling (containers, CI runners).
  int64_t limit = read_cgroup_bytes("/sys/fs/cgroup/memory.max");
  int64_t usage = read_cgroup_bytes("/sys/fs/cgroup/memory.current");
  if (limit < 0) {
    limit = read_cgroup_bytes("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    usage = read_cgroup_bytes("/sys/fs/cgroup/memory/memory.usage_in_bytes");
  }
  if (limit > 0 && limit < m.total_bytes) {
    m.total_bytes = limit;
    if (usage >= 0)
      m.available_bytes = std::min(m.available_bytes, std::max<int64_t>(0, limit - usage));
  }

  std::ifstream statm("/proc/self/statm");
  int64_t size_pages = 0, resident_pages = 0;
  if (statm >> size_pages >> resident_pages) {
    m.process_rss_bytes = resident_pages * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
  }
  return m;
}

}  // namespace capibara
