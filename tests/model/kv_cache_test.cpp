// The paged KV pool's storage: every (block, layer, K/V, KV head, slot) has a place of its own,
// in full runs of blocks and in a short last run alike.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "model/kv_cache.hpp"

namespace capibara {
namespace {

// A value no other (block, layer, kv, head, slot, i) shares, exact in f32.
float tag(int64_t block, int64_t layer, int kv, int64_t head, int64_t slot, int64_t i) {
  return static_cast<float>(((((block * 3 + layer) * 2 + kv) * 2 + head) * 16 + slot) * 8 + i);
}

TEST(KvBlockPool, EveryBlockLayerHeadAndSlotReadsBackWhatWasStored) {
  // Two full runs and a short one; an odd head size.
  const int64_t n_layer = 3, n_head_kv = 2, head_dim = 5;
  const int64_t n_blocks = 2 * kKvRunBlocks + 5;
  KvBlockPool pool(n_layer, n_head_kv, head_dim, n_blocks, KvType::kF32);
  std::vector<float> k(static_cast<size_t>(n_head_kv * head_dim));
  std::vector<float> v(k.size());
  for (int32_t b = 0; b < n_blocks; ++b) {
    for (int64_t layer = 0; layer < n_layer; ++layer) {
      for (int64_t slot = 0; slot < kKvBlockTokens; ++slot) {
        for (int64_t h = 0; h < n_head_kv; ++h) {
          for (int64_t i = 0; i < head_dim; ++i) {
            k[static_cast<size_t>(h * head_dim + i)] = tag(b, layer, 0, h, slot, i);
            v[static_cast<size_t>(h * head_dim + i)] = tag(b, layer, 1, h, slot, i);
          }
        }
        pool.store(b, layer, slot, k.data(), v.data());
      }
    }
  }
  std::vector<float> kt(static_cast<size_t>(head_dim * kKvBlockTokens));
  std::vector<float> rows(kt.size());
  for (int32_t b = 0; b < n_blocks; ++b) {
    for (int64_t layer = 0; layer < n_layer; ++layer) {
      for (int64_t h = 0; h < n_head_kv; ++h) {
        pool.read_keys(b, layer, h, kt.data());
        pool.read_values(b, layer, h, 0, kKvBlockTokens, rows.data());
        for (int64_t slot = 0; slot < kKvBlockTokens; ++slot) {
          for (int64_t i = 0; i < head_dim; ++i) {
            ASSERT_EQ(kt[static_cast<size_t>(i * kKvBlockTokens + slot)],
                      tag(b, layer, 0, h, slot, i))
                << "key of block " << b << " layer " << layer << " head " << h << " slot " << slot;
            ASSERT_EQ(rows[static_cast<size_t>(slot * head_dim + i)], tag(b, layer, 1, h, slot, i))
                << "value of block " << b << " layer " << layer << " head " << h << " slot "
                << slot;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace capibara
