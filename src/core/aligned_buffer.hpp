// A heap buffer of bytes aligned for SIMD loads (64 bytes: a cache line, a 512-bit register),
// freed with its owner. Uninitialised: whoever fills it writes every byte it reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

namespace capibara {

class AlignedBuffer {
 public:
  static constexpr size_t kAlignment = 64;

  AlignedBuffer() = default;
  // Throws std::bad_alloc when the memory is not there.
  explicit AlignedBuffer(size_t size)
      : data_(static_cast<uint8_t*>(std::aligned_alloc(kAlignment, round_up(size)))), size_(size) {
    if (size > 0 && data_ == nullptr) throw std::bad_alloc();
  }

  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  // aligned_alloc wants a size that is a multiple of the alignment.
  static size_t round_up(size_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> data_;
  size_t size_ = 0;
};

}  // namespace capibara
