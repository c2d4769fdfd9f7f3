// Deterministic random numbers for synthetic models: SplitMix64 (a fast generator whose every
// seed gives an independent-looking stream) and approximately normal weights.
//
// Every weight row has its own stream, seeded from the model seed, the tensor's name and the
// row, so rows can be generated in any order and on any thread with the same result, and a
// tensor has the same values whatever its storage type or position in the file.
//
// Thread safety: a `SplitMix64` belongs to one thread; the functions are pure.
#pragma once

#include <cstdint>
#include <string_view>

namespace capibara::tools {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1), 53 bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

// The seed of row `row` of tensor `name` in a model seeded with `seed`.
uint64_t row_seed(uint64_t seed, std::string_view name, int64_t row);

// `n` values with mean 0 and standard deviation `stddev` from the stream `seed`. Each value is
// the sum of four uniform 16-bit draws (Irwin-Hall), rescaled: a close, cheap approximation of a
// normal distribution, bounded at ±3.46 standard deviations (so no outlier dominates a
// quantization block).
void fill_normal(uint64_t seed, float stddev, float* out, int64_t n);

}  // namespace capibara::tools
