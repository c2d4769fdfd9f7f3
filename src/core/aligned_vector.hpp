// A std::vector whose storage starts on a cache line (64 bytes, a 512-bit register). Activations
// and attention scratch are read and written in 64-byte vectors, row by row; a plain vector's
// storage is only 16-byte aligned (and, once large enough for malloc to map it, sits 16 bytes
// past a page start), so each such access would span two cache lines.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace capibara {

template <class T>
struct CacheLineAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlignment{64};

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
