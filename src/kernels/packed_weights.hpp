// Weights repacked at load into row-interleaved groups, so that one SIMD register holds the same
// four weights of sixteen rows and a matrix product becomes a stream of `vpdpbusd`s with the
// activations broadcast, instead of one horizontal dot product per row.
//
// Why: a row-major Q4_0 dot spends most of its instructions on per-block bookkeeping (two scale
// conversions, a horizontal reduction per row, register joins); with sixteen rows side by side
// that bookkeeping is shared by the sixteen rows, and decoding moves from compute-bound to
// memory-bound. llama.cpp repacks for the same reason ("CPU_REPACK" buffers).
//
// Layout of a packed matrix: `n_rows / kPackRows` groups, `group_bytes` apart and 64-byte aligned.
// The 32-weight types' groups hold, for their 16 rows, `nb` blocks of 32 weights per row in
// pairs of blocks (`PairedBlocks`): [scales of b][scales of b + 1][quants of b][quants of b + 1],
// the last pair holding one block (and 32 bytes of padding) when nb is odd.
//   quants: `quant_bytes` per block (256 for Q4_0, 512 for Q8_0). Chunk k of block b is 64
//           bytes, 4 per row: row r's bytes [4k, 4k + 4) of the block's quants at offset 4 r.
//           Q4_0 keeps its nibbles (the low nibble of byte j is weight j, the high one weight
//           j + 16); Q8_0 stores q + 128 as an unsigned byte, so both are u8 x s8 dots.
//   scales: 32 bytes per block, the 16 rows' fp16 block scales of block b side by side.
// Why pairs: a pair is a whole number of cache lines, so the scales travel in the same line
// stream as the quants. With the scales after all the quants, a decode pass read two streams,
// and the scale lines were not in its software prefetch: the Q4_0 kernels streamed 6 % (AVX-512)
// and 20 % (AVX2) slower from DRAM (docs/PERFORMANCE.md, "Scales beside their quants").
// The unsigned offset (8 or 128) is taken out with the activations' block sums. The K-quants'
// layouts (packed_q4_k.cpp, packed_q6_k.cpp) follow the same idea per 256-weight super-block.
//
// Memory trade-off: a packed matrix is as large as the original tensor (Q6_K: 1 % more), but it
// lives in anonymous memory; the loader drops the mapped pages it replaces
// (`MappedFile::advise(kDone)`), so the resident size stays that of the model and only the load
// briefly holds both copies of one matrix. Packing a 1.1B Q4_0 model takes well under a second on
// two threads.
//
// Thread safety: pure functions; `pack_groups` may run on disjoint group ranges in parallel.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/ggml_type.hpp"

namespace capibara::kernels {

inline constexpr int kPackRows = 16;

// One block of 32 activations as the packed kernels read them: the Q8_0 quants and scale that
// llama.cpp computes (`d` is the fp16-rounded scale, widened), plus the sum of the quants.
struct BlockQ8Sum {
  float d;
  int32_t sum;
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8Sum) == 40);

// A BlockQ8Sum widened to int16, for a table whose multi-token Q8_0 pass multiplies int16 weights
// by int16 activations (AVX2's, which has no `vpdpbusd`: x86/packed_avx2.cpp says why). Each
// quad of quants (a0, a1, a2, a3) is stored a0, a2, a1, a3, the order in which that pass splits
// a row's four weight bytes into its even and odd bytes; `offset` is -128 x the block's sum, which
// takes out the + 128 of the stored Q8_0 weights.
struct BlockQ8Wide {
  float d;
  int32_t offset;
  int16_t qs[32];
};
static_assert(sizeof(BlockQ8Wide) == 72);

// Writes the widened copies of a row's `n / 32` BlockQ8Sum blocks (at `blocks`) to `wide`.
using WidenQ8SumFn = void (*)(const void* blocks, void* wide, int64_t n);

// Where block `b` of a 32-weight type's group lies (see the layout above), as byte offsets from
// the group.
template <size_t kQuantBytes>
struct PairedBlocks {
  static constexpr size_t kScaleBytes = kPackRows * sizeof(uint16_t);
  static constexpr size_t kPairBytes = 2 * (kScaleBytes + kQuantBytes);
  static_assert(kPairBytes % 64 == 0);

  static constexpr size_t pair(int64_t b) { return static_cast<size_t>(b) / 2 * kPairBytes; }
  static constexpr size_t scales(int64_t b) {
    return pair(b) + static_cast<size_t>(b & 1) * kScaleBytes;
  }
  static constexpr size_t quants(int64_t b) {
    return pair(b) + 2 * kScaleBytes + static_cast<size_t>(b & 1) * kQuantBytes;
  }
  // What a pass that streams the weights prefetches with block b: kHalfLines cache lines from
  // `half(b)`, the first half of the pair's lines with its first block and the second half with
  // its second. For an odd number of lines the halves share their middle line, so that the count
  // is a constant and the prefetch loop unrolls (a count alternating between 4 and 5 cost Q4_0
  // prefill ~5 %).
  static constexpr size_t kHalfLines = (kPairBytes / 64 + 1) / 2;
  static constexpr size_t half(int64_t b) {
    return pair(b) + static_cast<size_t>(b & 1) * (kPairBytes / 64 / 2) * 64;
  }
};

// The packed multiply of one group (`kPackRows` rows, `n` weights each) with `n_tokens`
// activation rows (of the layout's `PackedActivations`, e.g. `n / 32` BlockQ8Sum each,
// `act_stride` bytes apart): writes the 16 results of token t to y[t * y_stride + 0..15]. Every
// (row, token) result is the same whatever `n_tokens` is: for the quantized types, per block,
// the exact integer dot, then acc = fma(float(dot), d_w * d_a, acc).
using PackedGemmFn = void (*)(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                              int64_t n_tokens, float* y, size_t y_stride);

// What the kernels of a packed layout read as activations.
enum class PackedActivations {
  kQ8Sum,  // BlockQ8Sum rows (`quantize_q8_sum`): the 32-weight types
  kQ8_K,   // the K-quants' own Q8_K rows (with their 16-value sums)
  kF32,    // F32 weights: the activations as they are, f32 rows
  // F16 weights: f32 rows of the activations rounded to fp16 (as ggml's F16 dots round them),
  // widened back (`round_through_f16`).
  kF16Values,
  kBF16,  // BF16 weights: the activations rounded to bf16 (`quantize_bf16`), 2 bytes each
};

// One packed layout: how a group's rows are stored block by block, and its scalar reference.
struct PackedFormat {
  int64_t block_weights;  // weights of a row per block (32, or 256 for K-quants)
  size_t block_bytes;     // bytes of one block of all kPackRows rows
  PackedActivations activations;
  // Packs the kPackRows rows at `rows` (`row_bytes` apart, `nb` blocks each) into `dst`.
  void (*pack_group)(const uint8_t* rows, size_t row_bytes, int64_t nb, uint8_t* dst);
  // The reference kernel (scalar); SIMD kernels match it bit for bit.
  PackedGemmFn reference;
};

// The packed layout of `type`, or null (Q4_0, Q8_0, Q4_K, Q5_K, Q6_K, F32, F16 and BF16 have one).
const PackedFormat* packed_format(GgmlType type);
// Whether a matrix of this shape can be packed: a packed type, whole groups, whole blocks.
bool can_pack(GgmlType type, int64_t n_rows, int64_t row_length);
// Bytes of one activation row of `n` values that the packed kernels of `type` read (a packed type).
size_t packed_activation_row_bytes(GgmlType type, int64_t n);
// Bytes of the BlockQ8Wide copies of a row's `n / 32` blocks. Where a table has `widen_q8_sum`
// (kernel_table.hpp), its packed Q8_0 kernel, given at least `widen_q8_sum_from_tokens` tokens,
// reads each activation row as its BlockQ8Sum blocks followed at once by their widened copies.
size_t widened_q8_sum_bytes(int64_t n);
// Bytes of one packed group of rows of `row_length` weights (a multiple of 64).
size_t packed_group_bytes(GgmlType type, int64_t row_length);
// Bytes of a whole packed matrix. Precondition: `can_pack`.
size_t packed_matrix_bytes(GgmlType type, int64_t n_rows, int64_t row_length);

// Packs groups [first_group, last_group) of a row-major matrix (`row_bytes` apart) into `dst`,
// which points at the packed matrix's first group. Precondition: `can_pack`.
void pack_groups(GgmlType type, const uint8_t* src, size_t row_bytes, int64_t row_length,
                 int64_t first_group, int64_t last_group, uint8_t* dst);

// Activations for the kQ8Sum layouts: Q8_0 quantization (by `quantize_q8_0`, the table's
// kernel, so the quants are llama.cpp's) plus block sums. `n` is a multiple of 32.
using QuantizeQ8_0Fn = void (*)(const float* x, void* dst, int64_t n);
void quantize_q8_sum(QuantizeQ8_0Fn quantize_q8_0, const float* x, BlockQ8Sum* dst, int64_t n);

// Activations for the kF16Values layout: each value rounded to fp16 by `quantize_f16` (the table's
// kernel, into `temp`, n values) and widened back by `fp16_to_f32`.
using QuantizeF16Fn = void (*)(const float* x, void* dst, int64_t n);
using Fp16ToF32Fn = void (*)(const uint16_t* x, float* out, int64_t n);
void round_through_f16(QuantizeF16Fn quantize_f16, Fp16ToF32Fn fp16_to_f32, const float* x,
                       uint16_t* temp, float* dst, int64_t n);

namespace scalar {
// The kQ8Sum activations with the scalar Q8_0 quantizer (the tables' `quantize_q8_sum`
// reference): `n / 32` BlockQ8Sum at `dst`.
void quantize_q8_sum(const float* x, void* dst, int64_t n);
// The reference of the tables' `widen_q8_sum` (WidenQ8SumFn).
void widen_q8_sum(const void* blocks, void* wide, int64_t n);

// The references of the packed kernels: the same integer sums and the same float operations
// (std::fma) in the same order, so SIMD versions must match them bit for bit.
void packed_gemm_q4_0(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride);
void packed_gemm_q8_0(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride);
void packed_gemm_q4_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride);
void packed_gemm_q5_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride);
void packed_gemm_q6_k(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride);
// packed_float.cpp: float sums in four chains per row, in the order described there.
void packed_gemm_f32(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                     int64_t n_tokens, float* y, size_t y_stride);
void packed_gemm_f16(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                     int64_t n_tokens, float* y, size_t y_stride);
void packed_gemm_bf16(int64_t n, const uint8_t* group, const void* act, size_t act_stride,
                      int64_t n_tokens, float* y, size_t y_stride);
}  // namespace scalar

}  // namespace capibara::kernels
