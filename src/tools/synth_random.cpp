// Per-row seeds and the approximately normal fill.
#include "tools/synth_random.hpp"

#include <cmath>

namespace capibara::tools {

uint64_t row_seed(uint64_t seed, std::string_view name, int64_t row) {
  uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a over the name
  for (const char c : name) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001B3ull;
  }
  SplitMix64 mix(seed ^ h);
  SplitMix64 per_row(mix.next() + static_cast<uint64_t>(row) * 0xD1B54A32D192ED03ull);
  return per_row.next();
}

void fill_normal(uint64_t seed, float stddev, float* out, int64_t n) {
  SplitMix64 rng(seed);
  // Four uniforms (u + 0.5) / 65536 sum to mean 2, variance 1/3: (sum - 2) * sqrt(3) has unit
  // variance. In integers: (u0 + u1 + u2 + u3 - 131070) / 65536.
  const float scale = std::sqrt(3.0f) * stddev / 65536.0f;
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t r = rng.next();
    const auto sum = static_cast<int64_t>((r & 0xFFFF) + ((r >> 16) & 0xFFFF) +
                                          ((r >> 32) & 0xFFFF) + (r >> 48));
    out[i] = static_cast<float>(sum - 131070) * scale;
  }
}

}  // namespace capibara::tools
