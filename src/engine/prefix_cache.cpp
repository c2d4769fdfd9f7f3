// Chained block keys with XXH3-64, seeded by the parent's key.
#include "engine/prefix_cache.hpp"

#include <xxhash.h>

namespace capibara {

uint64_t prefix_block_hash(uint64_t parent, std::span<const int32_t> tokens) {
  return XXH3_64bits_withSeed(tokens.data(), tokens.size_bytes(), parent);
}

}  // namespace capibara
