// fp16 and bf16 conversions: exhaustive round trips over every 16-bit pattern, exact values,
// and round-to-nearest-even at every halfway point.
#include "core/half.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace capibara {
namespace {

bool is_fp16_nan(uint32_t h) { return (h & 0x7C00u) == 0x7C00u && (h & 0x3FFu) != 0; }
bool is_bf16_nan(uint32_t h) { return (h & 0x7F80u) == 0x7F80u && (h & 0x7Fu) != 0; }

// The value of an fp16 bit pattern from the IEEE definition, in double.
double fp16_value(uint32_t h) {
  const double sign = (h & 0x8000u) ? -1.0 : 1.0;
  const int exponent = static_cast<int>((h >> 10) & 0x1Fu);
  const double mantissa = static_cast<double>(h & 0x3FFu);
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  if (exponent == 31) return sign * std::numeric_limits<double>::infinity();
  return sign * std::ldexp(1024.0 + mantissa, exponent - 25);
}

TEST(Half, Fp16ToF32MatchesTheDefinitionForEveryPattern) {
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    const float f = fp16_to_f32(static_cast<uint16_t>(h));
    if (is_fp16_nan(h)) {
      EXPECT_TRUE(std::isnan(f)) << std::hex << h;
      continue;
    }
    ASSERT_EQ(static_cast<double>(f), fp16_value(h)) << std::hex << h;
    ASSERT_EQ(std::signbit(f), (h & 0x8000u) != 0) << std::hex << h;
  }
}

TEST(Half, Fp16RoundTripsEveryPattern) {
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    const uint16_t back = f32_to_fp16(fp16_to_f32(static_cast<uint16_t>(h)));
    if (is_fp16_nan(h)) {
      EXPECT_TRUE(is_fp16_nan(back)) << std::hex << h;  // stays a NaN (made quiet)
      EXPECT_EQ(back & 0x8000u, h & 0x8000u) << std::hex << h;
    } else {
      ASSERT_EQ(back, h) << std::hex << h;
    }
  }
}

// Between every two neighbouring fp16 values (subnormals included, and the last finite value
// with infinity): just below the midpoint rounds down, just above rounds up, the midpoint itself
// to the even pattern.
TEST(Half, Fp16RoundsToNearestEvenAtEveryHalfwayPoint) {
  for (uint32_t h = 0; h < 0x7C00u; ++h) {
    const double lo = fp16_value(h);
    const double hi = h == 0x7BFFu ? 65536.0 : fp16_value(h + 1);  // "next" past 65504
    const auto mid = static_cast<float>((lo + hi) / 2);            // exact in float
    ASSERT_EQ(static_cast<double>(mid), (lo + hi) / 2);
    const uint32_t even = (h & 1u) ? h + 1 : h;
    for (const uint32_t sign : {0u, 0x8000u}) {
      const float s = sign ? -1.0f : 1.0f;
      ASSERT_EQ(f32_to_fp16(s * static_cast<float>(lo)), h | sign) << std::hex << h;
      ASSERT_EQ(f32_to_fp16(s * mid), even | sign) << std::hex << h;
      ASSERT_EQ(f32_to_fp16(s * std::nextafter(mid, 0.0f)), h | sign) << std::hex << h;
      ASSERT_EQ(f32_to_fp16(s * std::nextafter(mid, 1e30f)), (h + 1) | sign) << std::hex << h;
    }
  }
}

TEST(Half, Fp16SpecialValues) {
  EXPECT_EQ(f32_to_fp16(0.0f), 0x0000);
  EXPECT_EQ(f32_to_fp16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_fp16(1.0f), 0x3C00);
  EXPECT_EQ(f32_to_fp16(-2.0f), 0xC000);
  EXPECT_EQ(f32_to_fp16(0.1f), 0x2E66);  // 0.0999755859375
  EXPECT_EQ(f32_to_fp16(65504.0f), 0x7BFF);
  EXPECT_EQ(f32_to_fp16(65519.99f), 0x7BFF);
  EXPECT_EQ(f32_to_fp16(65520.0f), 0x7C00);  // halfway to 65536 rounds to even: infinity
  EXPECT_EQ(f32_to_fp16(1e10f), 0x7C00);
  EXPECT_EQ(f32_to_fp16(-std::numeric_limits<float>::infinity()), 0xFC00);
  EXPECT_TRUE(is_fp16_nan(f32_to_fp16(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_EQ(f32_to_fp16(0x1p-24f), 0x0001);    // smallest subnormal
  EXPECT_EQ(f32_to_fp16(0x1p-25f), 0x0000);    // halfway to it: even (zero)
  EXPECT_EQ(f32_to_fp16(0x1.8p-24f), 0x0002);  // 1.5 ulp: even (2)
  EXPECT_EQ(f32_to_fp16(0x1p-26f), 0x0000);
  EXPECT_EQ(f32_to_fp16(0x1.ff8p-15f), 0x03FF);       // largest subnormal
  EXPECT_EQ(f32_to_fp16(0x1.ffcp-15f), 0x0400);       // tie: even, the smallest normal
  EXPECT_EQ(f32_to_fp16(1.0f + 0x1p-11f), 0x3C00);    // tie, even is 1.0
  EXPECT_EQ(f32_to_fp16(1.0f + 0x1.8p-10f), 0x3C02);  // tie, even is up
  EXPECT_EQ(f32_to_fp16(std::numeric_limits<float>::denorm_min()), 0x0000);
}

TEST(Half, Bf16RoundTripsEveryPattern) {
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    const float f = bf16_to_f32(static_cast<uint16_t>(h));
    ASSERT_EQ(std::bit_cast<uint32_t>(f), h << 16);
    const uint16_t back = f32_to_bf16(f);
    if (is_bf16_nan(h)) {
      EXPECT_TRUE(is_bf16_nan(back)) << std::hex << h;
      EXPECT_EQ(back & 0x8000u, h & 0x8000u) << std::hex << h;
    } else {
      ASSERT_EQ(back, h) << std::hex << h;
    }
  }
}

TEST(Half, Bf16RoundsToNearestEvenAtEveryHalfwayPoint) {
  for (uint32_t h = 0; h < 0x7F80u; ++h) {
    const uint32_t even = (h & 1u) ? h + 1 : h;  // 0x7F7F rounds up to infinity (0x7F80)
    for (const uint32_t sign : {0u, 0x8000u}) {
      const uint32_t base = (h | sign) << 16;
      ASSERT_EQ(f32_to_bf16(std::bit_cast<float>(base | 0x8000u)), even | sign) << std::hex << h;
      ASSERT_EQ(f32_to_bf16(std::bit_cast<float>(base | 0x7FFFu)), h | sign) << std::hex << h;
      ASSERT_EQ(f32_to_bf16(std::bit_cast<float>(base | 0x8001u)), (h + 1) | sign) << std::hex << h;
    }
  }
  EXPECT_EQ(f32_to_bf16(3.14159265f), 0x4049);
  EXPECT_TRUE(is_bf16_nan(f32_to_bf16(std::numeric_limits<float>::quiet_NaN())));
  // A signalling NaN whose payload lives only in the low bits must not become infinity.
  EXPECT_TRUE(is_bf16_nan(f32_to_bf16(std::bit_cast<float>(0x7F800001u))));
}

}  // namespace
}  // namespace capibara
