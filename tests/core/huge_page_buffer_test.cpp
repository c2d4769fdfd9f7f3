// HugePageBuffer: 2 MiB-aligned, writable to its last byte, movable, and eligible for
// transparent huge pages in the kernel's `madvise` mode (what the packed weights rely on).
#include "core/huge_page_buffer.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

namespace capibara {
namespace {

// The "THPeligible" field of the mapping holding `address` in /proc/self/smaps, if present.
std::optional<int> thp_eligible(const void* address) {
  std::ifstream smaps("/proc/self/smaps");
  const auto target = reinterpret_cast<uintptr_t>(address);
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t begin = 0;
    uintptr_t end = 0;
    char dash = 0;
    std::istringstream header(line);
    if (header >> std::hex >> begin >> dash >> end && dash == '-') {
      inside = begin <= target && target < end;
      continue;
    }
    if (inside && line.rfind("THPeligible:", 0) == 0) return std::stoi(line.substr(12));
  }
  return std::nullopt;
}

std::string thp_mode() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string mode;
  std::getline(f, mode);
  return mode;
}

TEST(HugePageBuffer, IsAlignedAndWritableToTheLastByte) {
  const size_t size = HugePageBuffer::kHugePage * 3 + 12345;
  HugePageBuffer buffer(size);
  ASSERT_NE(buffer.data(), nullptr);
  EXPECT_EQ(buffer.size(), size);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer.data()) % HugePageBuffer::kHugePage, 0u);
  std::memset(buffer.data(), 0xA5, size);
  EXPECT_EQ(buffer.data()[0], 0xA5);
  EXPECT_EQ(buffer.data()[size - 1], 0xA5);
}

TEST(HugePageBuffer, EmptyHasNoData) {
  HugePageBuffer empty(0);
  EXPECT_EQ(empty.data(), nullptr);
  EXPECT_EQ(empty.size(), 0u);
}

TEST(HugePageBuffer, MoveHandsOverTheMapping) {
  HugePageBuffer a(1000);
  a.data()[999] = 7;
  uint8_t* p = a.data();
  HugePageBuffer b(std::move(a));
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(b.data(), p);
  HugePageBuffer c;
  c = std::move(b);
  EXPECT_EQ(c.data(), p);
  EXPECT_EQ(c.data()[999], 7);
  EXPECT_EQ(c.size(), 1000u);
}

TEST(HugePageBuffer, IsEligibleForTransparentHugePages) {
  const std::string mode = thp_mode();
  if (mode.empty() || mode.find("[never]") != std::string::npos) {
    GTEST_SKIP() << "transparent huge pages are off on this kernel (mode: '" << mode << "')";
  }
  HugePageBuffer buffer(HugePageBuffer::kHugePage * 2);
  const std::optional<int> eligible = thp_eligible(buffer.data());
  if (!eligible) GTEST_SKIP() << "this kernel's smaps has no THPeligible field";
  EXPECT_EQ(*eligible, 1) << "mode: " << mode;
}

}  // namespace
}  // namespace capibara
