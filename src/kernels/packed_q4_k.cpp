// The packed layout of Q4_K (packed_weights.hpp) and its scalar reference.
//
// One block is a 256-weight super-block of the group's 16 rows, 2304 bytes (16 x 144, the rows'
// own bytes in the file, rearranged):
//   raw scales [0, 192):  12 chunks of 16 bytes; chunk c holds byte c of each row's 12-byte
//                         `scales` (six-bit scales and mins, ggml's `get_scale_min_k4`) at c
//                         16 + r. Each kernel unpacks them once per block (kQ4KUnpackedBytes,
//                         packed_formats.hpp), a few vector operations for the 16 rows.
//   d      [192, 224):    the rows' fp16 super-block scales; dmin [224, 256): their fp16 mins.
//   quants [256, 2304):   32 chunks of 64 bytes; chunk c holds row r's bytes qs[4c, 4c + 4) at
//                         offset 4r. Byte j of qs carries weight 64 (j / 32) + j % 32 in its low
//                         nibble (sub-block 2 (j / 32)) and weight 64 (j / 32) + 32 + j % 32 in
//                         its high nibble (sub-block 2 (j / 32) + 1), as in the file.
// The scales come first so that a kernel reads the block strictly front to back: with the
// scales after the quants, each block's reads jumped forward and back, and the hardware
// prefetcher followed the stream worse (AVX-512 decode streaming 28-29.5 -> 30.2-31.3 GB/s on
// two cores). They stay six-bit: unpacked to bytes in the layout, they made a packed matrix
// 2.8 % larger than the file's, and decoding read those bytes for every token.
//
// Per (row, token, super-block), with Q8_K activations (a.d, a.qs, a.bsums):
//   total = sum_s sc_s * sum_l q_{s,l} a_{s,l}    mins = sum_s m_s * (bsums[2s] + bsums[2s+1])
//   acc = fma(float(total), d * a.d, acc);  acc = fma(float(-mins), dmin * a.d, acc)
// which is ggml's Q4_K dot up to float rounding order.
#include <cmath>
#include <cstring>

#include "core/half.hpp"
#include "core/quant_blocks.hpp"
#include "kernels/dequantize.hpp"
#include "kernels/packed_formats.hpp"

namespace capibara::kernels {
namespace {

void pack_q4_k_group(const uint8_t* rows, size_t row_bytes, int64_t nb, uint8_t* dst) {
  for (int r = 0; r < kPackRows; ++r) {
    const auto* row = reinterpret_cast<const BlockQ4_K*>(rows + static_cast<size_t>(r) * row_bytes);
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* out = dst + static_cast<size_t>(b) * kQ4KBlockBytes;
      for (int c = 0; c < 32; ++c)
        std::memcpy(out + kQ4KQuants + 64 * c + 4 * r, row[b].qs + 4 * c, 4);
      for (int c = 0; c < kKScaleSize; ++c) out[kQ4KRawScales + 16 * c + r] = row[b].scales[c];
      std::memcpy(out + kQ4KD + 2 * r, &row[b].d, 2);
      std::memcpy(out + kQ4KDmin + 2 * r, &row[b].dmin, 2);
    }
  }
}

}  // namespace

const PackedFormat& packed_format_q4_k() {
  static constexpr PackedFormat kFormat{256, kQ4KBlockBytes, PackedActivations::kQ8_K,
                                        pack_q4_k_group, scalar::packed_gemm_q4_k};
  return kFormat;
}

namespace scalar {

void packed_gemm_q4_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride) {
  const int64_t nb = n / 256;
  for (int64_t t = 0; t < n_tokens; ++t) {
    const auto* a = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(act) +
                                                       static_cast<size_t>(t) * act_stride);
    for (int r = 0; r < kPackRows; ++r) {
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = group + static_cast<size_t>(b) * kQ4KBlockBytes;
        uint8_t raw[kKScaleSize];  // the row's `scales` bytes as in the file
        for (int c = 0; c < kKScaleSize; ++c) raw[c] = blk[kQ4KRawScales + 16 * c + r];
        int32_t total = 0;
        int32_t mins = 0;
        for (int s = 0; s < 8; ++s) {
          uint8_t sc;
          uint8_t m;
          get_scale_min_k4(s, raw, &sc, &m);
          int32_t dot = 0;
          for (int l = 0; l < 32; ++l) {
            const int j = 32 * (s / 2) + l;  // the byte of qs holding this weight
            const uint8_t byte = blk[kQ4KQuants + 64 * (j / 4) + 4 * r + j % 4];
            const int q = s % 2 == 0 ? byte & 0x0F : byte >> 4;
            dot += q * a[b].qs[32 * s + l];
          }
          total += sc * dot;
          mins += m * (a[b].bsums[2 * s] + a[b].bsums[2 * s + 1]);
        }
        uint16_t d;
        uint16_t dmin;
        std::memcpy(&d, blk + kQ4KD + 2 * r, 2);
        std::memcpy(&dmin, blk + kQ4KDmin + 2 * r, 2);
        acc = std::fma(static_cast<float>(total), fp16_to_f32(d) * a[b].d, acc);
        acc = std::fma(static_cast<float>(-mins), fp16_to_f32(dmin) * a[b].d, acc);
      }
      y[static_cast<size_t>(t) * y_stride + static_cast<size_t>(r)] = acc;
    }
  }
}

}  // namespace scalar

}  // namespace capibara::kernels
