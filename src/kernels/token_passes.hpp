// The split of a batch of tokens into passes of a kernel whose pass size is a template argument
// (the packed kernels keep one accumulator per token of a pass in registers): full passes of
// kMax tokens, then one pass of the rest.
//
// No intrinsics here, so every ISA's kernel file may include it; the functions have internal
// linkage (`static`) so that no copy compiled with one ISA's flags stands in for another's.
#pragma once

#include <cstdint>

namespace capibara::kernels {

// Calls `pass.template operator()<kT>(t)` once for tokens [t, t + kT) with 1 <= kT < kMax.
template <int kT, typename Pass>
static inline void last_pass(int64_t rest, int64_t t, Pass& pass) {
  if constexpr (kT > 0) {
    if (rest == kT) {
      pass.template operator()<kT>(t);
    } else {
      last_pass<kT - 1>(rest, t, pass);
    }
  }
}

// Calls `pass.template operator()<kT>(t)` for tokens [t, t + kT) covering [0, n_tokens).
template <int kMax, typename Pass>
static inline void for_each_pass(int64_t n_tokens, Pass&& pass) {
  int64_t t = 0;
  for (; t + kMax <= n_tokens; t += kMax) pass.template operator()<kMax>(t);
  last_pass<kMax - 1>(n_tokens - t, t, pass);
}

}  // namespace capibara::kernels
