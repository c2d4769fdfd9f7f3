// The paged KV pool's storage: every (block, layer, K/V, KV head, slot) has a place of its own,
// in full runs of blocks and in a short last run alike.
#include <gtest/gtest.h>

#include <cmath>
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

// An fp8 pool reads its tiles unscaled: `read_keys` / `read_values` give each code's value, the
// codes `fp8_tile` holds, and `tile_scale` (a power of two) brings them to the rows stored, within
// E4M3's precision, also after a larger row made the block's scale grow and re-encode the rows
// before it. Values are the keys times 4, so their scales differ: a key / value mix-up shows.
TEST(KvBlockPool, Fp8TilesReadUnscaledWithAPowerOfTwoScale) {
  const int64_t head_dim = 7, n_head_kv = 2;
  KvBlockPool pool(1, n_head_kv, head_dim, 3, KvType::kFp8);
  std::vector<std::vector<float>> rows;
  for (int64_t slot = 0; slot < kKvBlockTokens; ++slot) {
    std::vector<float> row(static_cast<size_t>(n_head_kv * head_dim));
    for (size_t i = 0; i < row.size(); ++i) {
      // Slot 9 is 40x larger than the rows before it: the scale grows there.
      row[i] = (slot == 9 ? 40.0f : 1.0f) * (0.37f * static_cast<float>(i) - 1.1f) *
               (slot % 2 == 0 ? 1.0f : -0.6f);
    }
    std::vector<float> values = row;
    for (float& x : values) x *= 4.0f;
    pool.store(1, 0, slot, row.data(), values.data());
    rows.push_back(row);
  }
  std::vector<float> kt(static_cast<size_t>(head_dim * kKvBlockTokens));
  std::vector<float> vr(kt.size());
  for (int64_t h = 0; h < n_head_kv; ++h) {
    pool.read_keys(1, 0, h, kt.data());
    pool.read_values(1, 0, h, 0, kKvBlockTokens, vr.data());
    const float ks = pool.tile_scale(1, 0, 0, h), vs = pool.tile_scale(1, 0, 1, h);
    int e = 0;
    ASSERT_EQ(std::frexp(ks, &e), 0.5f) << "key scale " << ks << " is not a power of two";
    ASSERT_EQ(std::frexp(vs, &e), 0.5f) << "value scale " << vs << " is not a power of two";
    const uint8_t* k_codes = pool.fp8_tile(1, 0, 0, h);
    const uint8_t* v_codes = pool.fp8_tile(1, 0, 1, h);
    for (int64_t slot = 0; slot < kKvBlockTokens; ++slot) {
      for (int64_t i = 0; i < head_dim; ++i) {
        const auto kt_at = static_cast<size_t>(i * kKvBlockTokens + slot);
        const auto row_at = static_cast<size_t>(slot * head_dim + i);
        ASSERT_EQ(kt[kt_at], e4m3_to_f32(k_codes[kt_at]));
        ASSERT_EQ(vr[row_at], e4m3_to_f32(v_codes[row_at]));
        const float x = rows[static_cast<size_t>(slot)][static_cast<size_t>(h * head_dim + i)];
        // 3 mantissa bits: within 1/16 relative, or the subnormal step (2^-9 scale) near 0.
        const float tol = std::max(std::fabs(x) / 16.0f, std::ldexp(ks, -10));
        EXPECT_NEAR(kt[kt_at] * ks, x, tol) << "key slot " << slot << " dim " << i;
        EXPECT_NEAR(vr[row_at] * vs, 4.0f * x, 4.0f * tol) << "value slot " << slot << " dim " << i;
      }
    }
  }
  for (int64_t h = 0; h < n_head_kv; ++h) {
    EXPECT_EQ(pool.tile_scale(1, 0, 1, h), 4.0f * pool.tile_scale(1, 0, 0, h)) << "head " << h;
  }
  KvBlockPool f16(1, 1, 4, 1, KvType::kF16);
  EXPECT_EQ(f16.tile_scale(0, 0, 0, 0), 1.0f);
}

}  // namespace
}  // namespace capibara
