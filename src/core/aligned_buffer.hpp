// Heap memory that starts on a cache line (64 bytes, a 512-bit register), freed with its owner:
// `AlignedBuffer`, uninitialised bytes, and `AlignedVector`, a std::vector. Activations and
// attention scratch are read and written in 64-byte vectors, row by row; a plain vector's storage
// is only 16-byte aligned (and, once large enough for malloc to map it, sits 16 bytes past a page
// start), so each such access would span two cache lines.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

namespace capibara {

inline constexpr size_t kCacheLineBytes = 64;

// Uninitialised: whoever fills it writes every byte it reads.
class AlignedBuffer {
 public:
  static constexpr size_t kAlignment = kCacheLineBytes;

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

template <class T>
struct CacheLineAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlignment{kCacheLineBytes};

  CacheLineAllocator() = default;
  template <class U>
  explicit CacheLineAllocator(const CacheLineAllocator<U>&) noexcept {}

  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlignment)); }
  void deallocate(T* p, size_t n) noexcept { ::operator delete(p, n * sizeof(T), kAlignment); }

  friend bool operator==(const CacheLineAllocator&, const CacheLineAllocator&) { return true; }
};

template <class T>
using AlignedVector = std::vector<T, CacheLineAllocator<T>>;

}  // namespace capibara
