// The generic loops and the choice of a set.
#include "tools/peak_loops.hpp"

namespace capibara::tools {
namespace {

// An empty asm statement that claims to change `v`: the compiler must recompute what depends on
// it every iteration instead of hoisting loop-invariant products out of the loop.
template <typename T>
inline void opaque(T& v) {
  __asm__ volatile("" : "+r"(v));
}

uint64_t read_generic(const uint8_t* p, size_t n_bytes) {
  const auto* q = reinterpret_cast<const uint64_t*>(p);
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (size_t i = 0; i < n_bytes / 8; i += 4) {
    s0 += q[i];
    s1 += q[i + 1];
    s2 += q[i + 2];
    s3 += q[i + 3];
  }
  return s0 + s1 + s2 + s3;
}

constexpr int kGenericChains = 8;

float fp32_generic(int64_t iterations) {
  float acc[kGenericChains];
  for (int k = 0; k < kGenericChains; ++k) acc[k] = static_cast<float>(k) * 0.01f;
  volatile float opaque_a = 0.999f;  // not a constant the compiler could fold
  const float a = opaque_a;
  const float b = 0.001f;
  for (int64_t i = 0; i < iterations; ++i) {
    for (int k = 0; k < kGenericChains; ++k) acc[k] = acc[k] * a + b;
  }
  float s = 0;
  for (float v : acc) s += v;
  return s;
}

int32_t int8_generic(int64_t iterations) {
  // Unsigned sums: they wrap (as the SIMD ones do) instead of overflowing.
  uint32_t acc[kGenericChains] = {};
  uint32_t w[kGenericChains];
  for (int k = 0; k < kGenericChains; ++k) w[k] = static_cast<uint32_t>(k + 1);
  uint32_t x = 3;
  for (int64_t i = 0; i < iterations; ++i) {
    opaque(x);
    for (int k = 0; k < kGenericChains; ++k) acc[k] += w[k] * x;
  }
  uint32_t s = 0;
  for (uint32_t v : acc) s += v;
  return static_cast<int32_t>(s);
}

constexpr ReadLoop kGenericReads[] = {{"plain", read_generic}};

}  // namespace

const PeakLoops& generic_peak_loops() {
  static const PeakLoops loops{"generic",          kGenericReads, fp32_generic,
                               2 * kGenericChains, int8_generic,  2 * kGenericChains};
  return loops;
}

const PeakLoops& peak_loops_for(kernels::Isa isa) {
  if (isa == kernels::Isa::kAvx512) {
    if (const PeakLoops* l = x86_avx512_peak_loops()) return *l;
  }
  if (isa == kernels::Isa::kAvxVnni) {
    if (const PeakLoops* l = x86_avx_vnni_peak_loops()) return *l;
  }
  if (isa == kernels::Isa::kAvx2 || isa == kernels::Isa::kAvx512) {
    if (const PeakLoops* l = x86_avx2_peak_loops()) return *l;
  }
  return generic_peak_loops();
}

}  // namespace capibara::tools
