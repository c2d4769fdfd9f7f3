// The packed layout of Q5_K (packed_weights.hpp) and its scalar reference.
//
// One block is a 256-weight super-block of the group's 16 rows, 2816 bytes (16 x 176, the rows'
// own bytes in the file, rearranged). Q5_K is Q4_K plus a fifth bit per weight, and the layout
// is Q4_K's (packed_q4_k.cpp) with the fifth bits inserted before the quants:
//   raw scales [0, 192):   as Q4_K's (six-bit scales and mins, 12 chunks of 16 bytes).
//   d [192, 224), dmin [224, 256): the rows' fp16 super-block scales and mins.
//   high bits [256, 768):  8 chunks of 64 bytes; chunk c holds row r's qh[4c, 4c + 4) at 4r.
//                          Bit s of qh[l] is the fifth bit of weight 32 s + l (sub-block s).
//   quants [768, 2816):    as Q4_K's: chunk c holds row r's qs[4c, 4c + 4) at 4r; byte j carries
//                          sub-block 2 (j / 32) in its low nibble and 2 (j / 32) + 1 in its high.
// Chunk c of the high bits and chunk 8p + c of the quants cover the same positions l of their
// sub-blocks, so a kernel takes the fifth bits of sub-block pair p from the chunk it already
// holds: the high bits are read with the block's first pair, then again from L1.
//
// Per (row, token, super-block), with Q8_K activations (a.d, a.qs, a.bsums):
//   total = sum_s sc_s * sum_l q_{s,l} a_{s,l}    (q = nibble + 16 * fifth bit, 0..31)
//   mins = sum_s m_s * (bsums[2s] + bsums[2s+1])
//   acc = fma(float(total), d * a.d, acc);  acc = fma(float(-mins), dmin * a.d, acc)
// which is ggml's Q5_K dot up to float rounding order. |total| < 2^26: no overflow.
#include <cmath>
#include <cstring>

#include "core/half.hpp"
#include "core/quant_blocks.hpp"
#include "kernels/dequantize.hpp"
#include "kernels/packed_formats.hpp"

namespace capibara::kernels {
namespace {

void pack_q5_k_group(const uint8_t* rows, size_t row_bytes, int64_t nb, uint8_t* dst) {
  for (int r = 0; r < kPackRows; ++r) {
    const auto* row = reinterpret_cast<const BlockQ5_K*>(rows + static_cast<size_t>(r) * row_bytes);
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* out = dst + static_cast<size_t>(b) * kQ5KBlockBytes;
      for (int c = 0; c < kKScaleSize; ++c) out[kQ5KRawScales + 16 * c + r] = row[b].scales[c];
      std::memcpy(out + kQ5KD + 2 * r, &row[b].d, 2);
      std::memcpy(out + kQ5KDmin + 2 * r, &row[b].dmin, 2);
      for (int c = 0; c < 8; ++c)
        std::memcpy(out + kQ5KHigh + 64 * c + 4 * r, row[b].qh + 4 * c, 4);
      for (int c = 0; c < 32; ++c)
        std::memcpy(out + kQ5KQuants + 64 * c + 4 * r, row[b].qs + 4 * c, 4);
    }
  }
}

}  // namespace

const PackedFormat& packed_format_q5_k() {
  static constexpr PackedFormat kFormat{256, kQ5KBlockBytes, PackedActivations::kQ8_K,
                                        pack_q5_k_group, scalar::packed_gemm_q5_k};
  return kFormat;
}

namespace scalar {

void packed_gemm_q5_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  const int64_t nb = n / 256;
  for (int64_t t = 0; t < n_tokens; ++t) {
    const auto* a = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(act) +
                                                       static_cast<size_t>(t) * act_stride);
    for (int r = 0; r < kPackRows; ++r) {
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = group + static_cast<size_t>(b) * kQ5KBlockBytes;
        uint8_t raw[kKScaleSize];  // the row's `scales` bytes as in the file
        for (int c = 0; c < kKScaleSize; ++c) raw[c] = blk[kQ5KRawScales + 16 * c + r];
        int32_t total = 0;
        int32_t mins = 0;
        for (int s = 0; s < 8; ++s) {
          uint8_t sc;
          uint8_t m;
          get_scale_min_k4(s, raw, &sc, &m);
          int32_t dot = 0;
          for (int l = 0; l < 32; ++l) {
            const int j = 32 * (s / 2) + l;  // the byte of qs holding this weight
            const uint8_t byte = blk[kQ5KQuants + 64 * (j / 4) + 4 * r + j % 4];
            const uint8_t high = blk[kQ5KHigh + 64 * (l / 4) + 4 * r + l % 4];
            const int q = (s % 2 == 0 ? byte & 0x0F : byte >> 4) + 16 * ((high >> s) & 1);
            dot += q * a[b].qs[32 * s + l];
          }
          total += sc * dot;
          mins += m * (a[b].bsums[2 * s] + a[b].bsums[2 * s + 1]);
        }
        uint16_t d;
        uint16_t dmin;
        std::memcpy(&d, blk + kQ5KD + 2 * r, 2);
        std::memcpy(&dmin, blk + kQ5KDmin + 2 * r, 2);
        acc = std::fma(static_cast<float>(total), fp16_to_f32(d) * a[b].d, acc);
        acc = std::fma(static_cast<float>(-mins), fp16_to_f32(dmin) * a[b].d, acc);
      }
      y[static_cast<size_t>(t) * y_stride + static_cast<size_t>(r)] = acc;
    }
  }
}

}  // namespace scalar

}  // namespace capibara::kernels
