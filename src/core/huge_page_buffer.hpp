// A large anonymous buffer backed by 2 MiB pages where the kernel grants them, freed with its
// owner. Used for the packed weights: decode streams every byte of them once per token, and with
// 4 KiB pages each 4 KiB of weights costs a TLB miss and a page walk the hardware prefetcher
// cannot run ahead of. Transparent huge pages are asked for with `madvise(MADV_HUGEPAGE)`, which
// is what a kernel in the common `madvise` mode needs; where they are off, the buffer is plain
// 4 KiB pages and only slower.
//
// Uninitialised as far as the caller is concerned (the kernel hands out zero pages).
#pragma once

#include <cstddef>
#include <cstdint>

namespace capibara {

class HugePageBuffer {
 public:
  static constexpr size_t kHugePage = size_t{2} << 20;

  HugePageBuffer() = default;
  // Throws std::bad_alloc when the address space or memory is not there.
  explicit HugePageBuffer(size_t size);
  ~HugePageBuffer();

  HugePageBuffer(HugePageBuffer&& other) noexcept;
  HugePageBuffer& operator=(HugePageBuffer&& other) noexcept;
  HugePageBuffer(const HugePageBuffer&) = delete;
  HugePageBuffer& operator=(const HugePageBuffer&) = delete;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void release() noexcept;

  uint8_t* data_ = nullptr;
  size_t size_ = 0;    // what the caller asked for
  size_t mapped_ = 0;  // [data_, data_ + mapped_) is mapped: size_ rounded up to kHugePage
};

}  // namespace capibara
