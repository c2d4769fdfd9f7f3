#include "core/huge_page_buffer.hpp"

#include <sys/mman.h>

#include <new>
#include <utility>

namespace capibara {
namespace {

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

}  // namespace

HugePageBuffer::HugePageBuffer(size_t size) : size_(size) {
  if (size == 0) return;
  mapped_ = round_up(size, kHugePage);
  // Over-map by one huge page so the start can be moved to a 2 MiB boundary: a huge page can only
  // back an aligned 2 MiB range.
  const size_t reserved = mapped_ + kHugePage;
  void* raw = ::mmap(nullptr, reserved, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto raw_address = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = round_up(raw_address, kHugePage);
  if (aligned > raw_address) ::munmap(raw, aligned - raw_address);
  const size_t tail = raw_address + reserved - (aligned + mapped_);
  if (tail > 0) ::munmap(reinterpret_cast<void*>(aligned + mapped_), tail);
  data_ = reinterpret_cast<uint8_t*>(aligned);
  // Advice only: a kernel without transparent huge pages answers EINVAL and the buffer works.
  ::madvise(data_, mapped_, MADV_HUGEPAGE);
}

HugePageBuffer::~HugePageBuffer() { release(); }

HugePageBuffer::HugePageBuffer(HugePageBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mapped_(std::exchange(other.mapped_, 0)) {}

HugePageBuffer& HugePageBuffer::operator=(HugePageBuffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    mapped_ = std::exchange(other.mapped_, 0);
  }
  return *this;
}

void HugePageBuffer::release() noexcept {
  if (data_ != nullptr) ::munmap(data_, mapped_);
  data_ = nullptr;
  size_ = 0;
  mapped_ = 0;
}

}  // namespace capibara
