// Prefix-cache keys: a full KV block is identified by the hash of its parent block's key and its
// own token ids (a chain), so equal keys mean equal whole prefixes up to that block, and a block
// can be shared by every sequence whose prompt starts with the same tokens. xxHash (XXH3, 64
// bits) keeps hashing far cheaper than the forward pass it saves.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <span>

namespace capibara {

// The key of the first block of a sequence has this parent.
inline constexpr uint64_t kPrefixRootHash = 0x6361706962617261ULL;  // "capibara"

// Key of a full block holding `tokens` after the block keyed `parent`.
uint64_t prefix_block_hash(uint64_t parent, std::span<const int32_t> tokens);

}  // namespace capibara
