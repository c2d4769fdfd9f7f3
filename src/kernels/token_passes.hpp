// The split of a batch of tokens into passes of a kernel whose pass size is a template argument
// (the packed kernels keep one accumulator per token of a pass in registers): full passes of
// kMax tokens, then one pass of the rest.
//
// No intrinsics here, so every ISA's kernel file may include it; the functions have internal
// linkage (`static`) so that no copy compiled with one ISA's flags stands in for another's.
#pragma once

#include <cstddef>
#include <cstdint>

namespace capibara::kernels {

// Calls `pass.template operator()<kT>(a, out)` once, for the last pass: 1 <= kT = rest < kMax.
template <int kT, typename Pass>
static inline void last_pass(int64_t rest, const uint8_t* a, float* out, Pass& pass) {
  if constexpr (kT > 0) {
    if (rest == kT) {
      pass.template operator()<kT>(a, out);
    } else {
      last_pass<kT - 1>(rest, a, out, pass);
    }
  }
}

// Calls `pass.template operator()<kT>(a, out)` for passes of kT tokens covering [0, n_tokens):
// full passes of kMax, then one of the rest. `a` points at the pass's first token's activations
// (tokens act_stride bytes apart, from `act`), `out` at its first token's outputs (tokens
// y_stride floats apart, from `y`).
template <int kMax, typename Pass>
static inline void for_each_pass(int64_t n_tokens, const void* act, size_t act_stride, float* y,
                                 size_t y_stride, Pass&& pass) {
  const auto* a = static_cast<const uint8_t*>(act);
  int64_t t = 0;
  for (; t + kMax <= n_tokens; t += kMax) {
    pass.template operator()<kMax>(a + static_cast<size_t>(t) * act_stride,
                                   y + static_cast<size_t>(t) * y_stride);
  }
  last_pass<kMax - 1>(n_tokens - t, a + static_cast<size_t>(t) * act_stride,
                      y + static_cast<size_t>(t) * y_stride, pass);
}

}  // namespace capibara::kernels
