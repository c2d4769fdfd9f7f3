// The K-quant packed layouts, one file each (packed_q4_k.cpp, packed_q6_k.cpp), for
// `packed_format` (packed_weights.cpp) to list. Internal to the kernel layer.
#pragma once

#include <cstddef>

#include "kernels/packed_weights.hpp"

namespace capibara::kernels {

// Byte offsets in one packed Q4_K block (packed_q4_k.cpp describes the layout). Every kernel
// reads a block front to back: the scales it needs first, then the quants in order.
inline constexpr size_t kQ4KScales = 0;
inline constexpr size_t kQ4KMins = 128;
inline constexpr size_t kQ4KD = 256;
inline constexpr size_t kQ4KDmin = 288;
inline constexpr size_t kQ4KQuants = 320;
inline constexpr size_t kQ4KBlockBytes = 2368;
static_assert(kQ4KQuants % 64 == 0 && kQ4KBlockBytes % 64 == 0, "chunks stay 64-byte aligned");

const PackedFormat& packed_format_q4_k();
const PackedFormat& packed_format_q6_k();

}  // namespace capibara::kernels
