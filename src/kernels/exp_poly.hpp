// The constants of the tables' vector exp (x86/exp_simd.hpp, arm/exp_neon.hpp), in one place so
// that every width and ISA computes the same polynomial.
//
// exp(x): x is clamped to [kMin, kMax], then x = k ln2 + r with k = round(x log2 e) and
// |r| <= ln2 / 2 (ln2 in two parts: k * kLn2Hi is exact for |k| < 2^11); exp(r) by Cephes'
// `expf` polynomial, 1 + r + r^2 (kP5 + r (kP4 + r (... kP0))), degree 7 overall, relative
// error below 1.5e-7 on that interval; times 2^k built in the exponent bits as two factors
// 2^(k/2) 2^(k - k/2), so results in the subnormal range (x down to -103.97) are right and
// nothing below it or above 88.72 needs a special case: the clamp gives 0 and +inf. -inf gives 0
// (masked softmax entries); NaN stays NaN (the vector max / min pass it through).
#pragma once

namespace capibara::kernels::exp_poly {

inline constexpr float kMin = -104.0f;
inline constexpr float kMax = 89.0f;
inline constexpr float kLog2e = 1.44269504088896341f;
inline constexpr float kLn2Hi = 0.693145751953125f;
inline constexpr float kLn2Lo = 1.428606765330187045e-06f;
inline constexpr float kP0 = 1.9875691500e-4f;
inline constexpr float kP1 = 1.3981999507e-3f;
inline constexpr float kP2 = 8.3334519073e-3f;
inline constexpr float kP3 = 4.1665795894e-2f;
inline constexpr float kP4 = 1.6666665459e-1f;
inline constexpr float kP5 = 5.0000001201e-1f;
inline constexpr int kExponentBias = 127;

}  // namespace capibara::kernels::exp_poly
