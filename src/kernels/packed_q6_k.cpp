// The packed layout of Q6_K (packed_weights.hpp) and its scalar reference.
//
// One block is a 256-weight super-block of the group's 16 rows, 3392 bytes = 53 x 64 (the rows
// take 16 x 210 = 3360 in the file; 32 bytes are zero padding, so that every block and chunk
// stays 64-byte aligned). Nothing is unpacked: the 6-bit quants keep their file encoding (low
// four bits in ql, high two bits in qh), only interleaved by rows:
//   scales [0, 256):     sub-block j (16 weights, 0..15): 16 bytes, row r's int8 scale at 16j + r.
//   d      [256, 288):   the rows' fp16 super-block scales, row r at 2r.
//   pad    [288, 320):   zero.
//   quants [320, 3392):  64-byte chunks; one holds the same 4 bytes of ql (or qh) of every row,
//                        row r's at offset 4r:
//     ql chunk c = 16h + 8u + k (h, u in {0, 1}, k in 0..7): bytes ql[4c, 4c + 4). Byte i carries
//       weight 128h + 32u + 4k + i in its low nibble and weight 128h + 64 + 32u + 4k + i in its
//       high nibble, as in the file.
//     qh chunk m = 8h + k: bytes qh[4m, 4m + 4). Bits 2f, 2f + 1 of byte i are the high bits of
//       weight 128h + 32f + 4k + i (f in 0..3), as in the file: field 0 goes with the low
//       nibbles of ql chunk 16h + k, field 1 with the low nibbles of chunk 16h + 8 + k, fields 2
//       and 3 with their high nibbles.
//   The chunks are stored in the order the kernels use them, four steps s = 2h + k / 4 of 768
//   bytes: the four ql chunks of u = 0, the four of u = 1, then the four qh chunks
//   (`q6_k_ql_chunk`, `q6_k_qh_chunk` in packed_formats.hpp). A kernel so reads the block front
//   to back, which the hardware prefetchers follow better than jumps between three regions.
// So one ql chunk, masked (`& 0x0F`) or shifted (`>> 4 & 0x0F`), and the matching qh chunk
// shifted to put field f at bits 4-5 (`& 0x30`), give 4 consecutive weights of 16 rows as bytes
// q in [0, 63], ready for `vpdpbusd` with 4 broadcast activation bytes.
//
// Per (row, token, super-block), with Q8_K activations (a.d, a.qs, a.bsums; the rows may be any
// number of bytes apart, so the kernels read them without assuming alignment):
//   total = sum_j sc_j * (sum_l q_{j,l} a_{16j+l} - 32 * bsums[j])    (exact int32)
//   acc = fma(float(total), d * a.d, acc)
// which is ggml's Q6_K dot, sum_j d sc_j sum_l (q - 32) a, up to float rounding order.
#include <cmath>
#include <cstddef>
#include <cstring>

#include "core/half.hpp"
#include "core/quant_blocks.hpp"
#include "kernels/packed_formats.hpp"

namespace capibara::kernels {
namespace {

static_assert(kQ6KBlockBytes % 64 == 0);
static_assert(kQ6KD + kPackRows * sizeof(uint16_t) <= kQ6KQuants);

void pack_q6_k_group(const uint8_t* rows, size_t row_bytes, int64_t nb, uint8_t* dst) {
  for (int r = 0; r < kPackRows; ++r) {
    const auto* row = reinterpret_cast<const BlockQ6_K*>(rows + static_cast<size_t>(r) * row_bytes);
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* out = dst + static_cast<size_t>(b) * kQ6KBlockBytes;
      for (int c = 0; c < 32; ++c) {
        std::memcpy(out + q6_k_ql_chunk(c / 16, c / 8 % 2, c % 8) + 4 * r, row[b].ql + 4 * c, 4);
      }
      for (int m = 0; m < 16; ++m) {
        std::memcpy(out + q6_k_qh_chunk(m / 8, m % 8) + 4 * r, row[b].qh + 4 * m, 4);
      }
      for (int j = 0; j < 16; ++j) {
        out[kQ6KScales + 16 * j + r] = static_cast<uint8_t>(row[b].scales[j]);
      }
      std::memcpy(out + kQ6KD + 2 * r, &row[b].d, 2);
    }
  }
  // The padding of every block (pack_groups clears whole groups; this keeps the function
  // self-contained for callers that do not).
  for (int64_t b = 0; b < nb; ++b) {
    std::memset(dst + static_cast<size_t>(b) * kQ6KBlockBytes + kQ6KD + 2 * kPackRows, 0,
                kQ6KQuants - kQ6KD - 2 * kPackRows);
  }
}

// The 6-bit quant q in [0, 63] of weight w (0..255) of row r in a packed block.
int q6(const uint8_t* blk, int r, int w) {
  const int h = w / 128;
  const int f = w % 128 / 32;  // which qh field, and which ql chunk / nibble
  const int k = w % 32 / 4;
  const int i = w % 4;
  const uint8_t ql = blk[q6_k_ql_chunk(h, f % 2, k) + 4 * static_cast<size_t>(r) + i];
  const uint8_t qh = blk[q6_k_qh_chunk(h, k) + 4 * static_cast<size_t>(r) + i];
  const int low = f < 2 ? ql & 0x0F : ql >> 4;
  return low | ((qh >> (2 * f)) & 3) << 4;
}

// One Q8_K activation block read byte-wise: the rows may be any number of bytes apart, so the
// block need not be aligned for its float and int16 members.
struct Q8K {
  const uint8_t* p;
  float d() const {
    float v;
    std::memcpy(&v, p + offsetof(BlockQ8_K, d), sizeof(v));
    return v;
  }
  int32_t bsum(int j) const {
    int16_t v;
    std::memcpy(&v, p + offsetof(BlockQ8_K, bsums) + sizeof(int16_t) * static_cast<size_t>(j),
                sizeof(v));
    return v;
  }
  int32_t q(int i) const {
    return static_cast<int8_t>(p[offsetof(BlockQ8_K, qs) + static_cast<size_t>(i)]);
  }
};

}  // namespace

const PackedFormat& packed_format_q6_k() {
  static constexpr PackedFormat kFormat{256, kQ6KBlockBytes, PackedActivations::kQ8_K,
                                        pack_q6_k_group, scalar::packed_gemm_q6_k};
  return kFormat;
}

namespace scalar {

void packed_gemm_q6_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  const int64_t nb = n / 256;
  for (int64_t t = 0; t < n_tokens; ++t) {
    const auto* row = static_cast<const uint8_t*>(act) + static_cast<size_t>(t) * act_stride;
    for (int r = 0; r < kPackRows; ++r) {
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = group + static_cast<size_t>(b) * kQ6KBlockBytes;
        const Q8K a{row + static_cast<size_t>(b) * sizeof(BlockQ8_K)};
        int32_t total = 0;
        for (int j = 0; j < 16; ++j) {
          int32_t dot = -32 * a.bsum(j);
          for (int l = 0; l < 16; ++l) dot += q6(blk, r, 16 * j + l) * a.q(16 * j + l);
          total += static_cast<int8_t>(blk[kQ6KScales + 16 * j + r]) * dot;
        }
        uint16_t d;
        std::memcpy(&d, blk + kQ6KD + 2 * r, 2);
        acc = std::fma(static_cast<float>(total), fp16_to_f32(d) * a.d(), acc);
      }
      y[static_cast<size_t>(t) * y_stride + static_cast<size_t>(r)] = acc;
    }
  }
}

}  // namespace scalar

}  // namespace capibara::kernels
