// The K-quant packed layouts, one file each (packed_q4_k.cpp, packed_q5_k.cpp,
// packed_q6_k.cpp), and the float ones (packed_float.cpp), for `packed_format`
// (packed_weights.cpp) to list. Internal to the kernel layer.
#pragma once

#include <cstddef>

#include "kernels/packed_weights.hpp"

namespace capibara::kernels {

// Byte offsets in one packed Q4_K block (packed_q4_k.cpp describes the layout). Every kernel
// reads a block front to back: the scales it needs first, then the quants in order.
inline constexpr size_t kQ4KRawScales = 0;  // 12 chunks of 16: byte c of row r at 16 c + r
inline constexpr size_t kQ4KD = 192;
inline constexpr size_t kQ4KDmin = 224;
inline constexpr size_t kQ4KQuants = 256;
inline constexpr size_t kQ4KBlockBytes = 2304;
static_assert(kQ4KQuants % 64 == 0 && kQ4KBlockBytes % 64 == 0, "chunks stay 64-byte aligned");
// The 6-bit scales and mins of a block as the kernels use them, unpacked per block into a
// kQ4KUnpackedBytes buffer: scale of sub-block s, row r at kQ4KScales + 16 s + r; the mins of
// sub-blocks 2p and 2p + 1 of row r side by side at kQ4KMins + 32 p + 2 r (int16 pairs).
inline constexpr size_t kQ4KScales = 0;
inline constexpr size_t kQ4KMins = 128;
inline constexpr size_t kQ4KUnpackedBytes = 256;

// Byte offsets in one packed Q5_K block (packed_q5_k.cpp describes the layout): Q4_K's, with the
// fifth bits between the mins and the quants; the scales unpack as Q4_K's do.
inline constexpr size_t kQ5KRawScales = 0;
inline constexpr size_t kQ5KD = 192;
inline constexpr size_t kQ5KDmin = 224;
inline constexpr size_t kQ5KHigh = 256;  // 8 chunks of 64: row r's qh[4c, 4c + 4) at 64 c + 4 r
inline constexpr size_t kQ5KQuants = 768;
inline constexpr size_t kQ5KBlockBytes = 2816;
static_assert(kQ5KQuants % 64 == 0 && kQ5KBlockBytes == 16 * 176, "the rows' own bytes");
// The offsets the Q4_K (kFive false) and Q5_K kernels share, for passes templated on the type.
template <bool kFive>
struct Q4KBlockLayout {
  static constexpr size_t kBlockBytes = kFive ? kQ5KBlockBytes : kQ4KBlockBytes;
  static constexpr size_t kQuants = kFive ? kQ5KQuants : kQ4KQuants;
  static constexpr size_t kD = kFive ? kQ5KD : kQ4KD;
  static constexpr size_t kDmin = kFive ? kQ5KDmin : kQ4KDmin;
};

// Byte offsets in one packed Q6_K block (packed_q6_k.cpp describes the layout), also read front
// to back: scales and d, then four steps of [ql chunks of field u = 0, of u = 1, qh chunks].
inline constexpr size_t kQ6KScales = 0;
inline constexpr size_t kQ6KD = 256;
inline constexpr size_t kQ6KQuants = 320;
inline constexpr size_t kQ6KStepBytes = 768;
inline constexpr size_t kQ6KBlockBytes = 3392;
static_assert(kQ6KQuants + 4 * kQ6KStepBytes == kQ6KBlockBytes);
// The ql chunk holding bytes ql[4 (16h + 8u + k), + 4) of every row (h, u in {0, 1}, k 0..7).
constexpr size_t q6_k_ql_chunk(int h, int u, int k) {
  return kQ6KQuants + kQ6KStepBytes * static_cast<size_t>(2 * h + k / 4) +
         64 * static_cast<size_t>(4 * u + k % 4);
}
// The qh chunk holding bytes qh[4 (8h + k), + 4) of every row.
constexpr size_t q6_k_qh_chunk(int h, int k) {
  return kQ6KQuants + kQ6KStepBytes * static_cast<size_t>(2 * h + k / 4) + 512 +
         64 * static_cast<size_t>(k % 4);
}

// Bytes of one packed block of the float types: 32 weights of each of the 16 rows
// (packed_float.cpp describes the layouts).
inline constexpr size_t kHalfBlockBytes = 1024;  // F16, BF16
inline constexpr size_t kF32BlockBytes = 2048;

const PackedFormat& packed_format_q4_k();
const PackedFormat& packed_format_q5_k();
const PackedFormat& packed_format_q6_k();
const PackedFormat& packed_format_f32();
const PackedFormat& packed_format_f16();
const PackedFormat& packed_format_bf16();

}  // namespace capibara::kernels
