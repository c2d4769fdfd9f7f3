// The kernel layer's dispatch table: one set of function pointers per instruction set, chosen
// once at start-up from the CPU's features (`CAPIBARA_ISA=scalar|avx2|avx512|neon` overrides it
// for tests and benchmarks). The x86 tables come in two variants that differ only in how the
// decoding kernels prefetch (stream_prefetch.hpp), also chosen per CPU. Callers fetch the table
// once per operation, never per element.
//
// Thread safety: the active table is chosen on first use (thread-safe static initialisation)
// and immutable afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/ggml_type.hpp"
#include "kernels/attention_tiles.hpp"
#include "kernels/packed_weights.hpp"
#include "kernels/stream_prefetch.hpp"

namespace capibara::kernels {

// kAvxVnni: AVX2 with the VEX-encoded `vpdpbusd` (AVX-VNNI), for CPUs without AVX-512.
enum class Isa { kScalar, kAvx2, kAvxVnni, kAvx512, kNeon };
std::string_view isa_name(Isa isa);

// Slots of the per-type arrays below: GGUF type ids 0..30 (`GgmlType::kBF16` is the largest).
inline constexpr int kGgmlTypeSlots = 31;

// Converts `n` f32 activations to the activation type of a weight type (`activation_type` in
// quant_dot.hpp), writing `activation_row_bytes` bytes at `dst`.
using QuantizeActivationsFn = void (*)(const float* x, void* dst, int64_t n);
// Dot product of one weight row (`n` weights in the weight type) with one activation row (the
// same `n` values in the weight type's activation type), as ggml's `ggml_vec_dot_*` computes it.
using VecDotFn = float (*)(int64_t n, const void* w_row, const void* act_row);
// The prefill micro-kernel: the dots of a tile of `tile_rows` consecutive weight rows (`w_stride`
// bytes apart) with `tile_tokens` activation rows (`act_stride` bytes apart), written to
// `y[t * y_stride + r]`. Each weight block is loaded and unpacked once per tile and each
// activation block once per row group; every result is bit-identical to `vec_dot`'s.
using VecDotTileFn = void (*)(int64_t n, const void* w, size_t w_stride, const void* act,
                              size_t act_stride, float* y, size_t y_stride);

// The two kernels a matmul with one weight type needs. Both are null for weight types without
// an integer dot product (they fall back to dequantizing in `matmul`).
struct QuantDotKernels {
  QuantizeActivationsFn quantize_activations = nullptr;
  VecDotFn vec_dot = nullptr;
  // Optional (null: `matmul` calls `vec_dot` per row and token).
  VecDotTileFn vec_dot_tile = nullptr;
  int tile_rows = 0;
  int tile_tokens = 0;
};

struct KernelTable {
  Isa isa = Isa::kScalar;
  // How the packed Q4_0 and Q8_0 kernels stream weights when decoding. The scalar kernels never
  // prefetch; the NEON ones always do.
  StreamPrefetch stream_prefetch = StreamPrefetch::kHardware;
  // sum_i a[i] * b[i]
  float (*dot_f32)(const float* a, const float* b, int64_t n) = nullptr;
  // y[i] += alpha * x[i]
  void (*axpy_f32)(float alpha, const float* x, float* y, int64_t n) = nullptr;
  // Attention over one KV block: scores of a GQA group's query heads against a transposed key
  // tile, and the values they weigh (attention_tiles.hpp). Every table has them.
  AttnScoresFn attn_scores = nullptr;
  AttnValuesFn attn_values = nullptr;
  // The same on fp16 / bf16 tiles as the KV cache stores them; null where a table has none
  // (attention then widens the tiles first).
  AttnScoresHalfFn attn_scores_f16 = nullptr;
  AttnValuesHalfFn attn_values_f16 = nullptr;
  AttnScoresHalfFn attn_scores_bf16 = nullptr;
  AttnValuesHalfFn attn_values_bf16 = nullptr;
  // The online softmax between them (attention_tiles.hpp).
  AttnSoftmaxFn attn_softmax = nullptr;
  // Indexed by the weight type's GGUF id (see `quant_dot_kernels`).
  QuantDotKernels quant_dot[kGgmlTypeSlots] = {};
  // Kernels of the packed layout (packed_weights.hpp) by weight type; null where this table
  // does not pack that type (the loader then keeps the matrix row-major).
  PackedGemmFn packed_gemm[kGgmlTypeSlots] = {};
  // The activations of the 32-weight packed layouts: `n / 32` BlockQ8Sum at `dst`, byte-identical
  // to `scalar::quantize_q8_sum`. Every table has it. A decoding step quantizes each matmul's
  // input on one thread while the others wait, so it is worth a kernel of its own.
  QuantizeActivationsFn quantize_q8_sum = nullptr;
  // Null, or the widening that this table's packed Q8_0 kernel reads after the BlockQ8Sum blocks
  // when given at least `widen_q8_sum_from_tokens` tokens (packed_weights.hpp, BlockQ8Wide);
  // `matmul` then appends it to each activation row. Only AVX2's: its passes of more than a few
  // tokens multiply in int16.
  WidenQ8SumFn widen_q8_sum = nullptr;
  int widen_q8_sum_from_tokens = 2;

  // Row-wise operations of the forward pass; ops.hpp documents each and calls them through
  // `active_kernels()`. The scalar versions (ops_scalar.hpp) are the reference.
  void (*rms_norm)(const float* x, const float* weight, float* out, int64_t n, float eps) = nullptr;
  void (*layer_norm)(const float* x, const float* weight, float* out, int64_t n,
                     float eps) = nullptr;
  void (*softmax)(float* x, int64_t n) = nullptr;
  // out[i] = exp(x[i]); `out` may alias `x`.
  void (*exp)(const float* x, float* out, int64_t n) = nullptr;
  void (*swiglu)(float* gate, const float* up, int64_t n) = nullptr;
  void (*geglu_tanh)(float* gate, const float* up, int64_t n) = nullptr;
  // y[i] += x[i]
  void (*add)(const float* x, float* y, int64_t n) = nullptr;
  // RoPE on the first `n_rot` dimensions of each of `n_heads` heads of `head_dim` values, with
  // `cos_sin` ([n_rot / 2][2]) from `rope_angles`: adjacent pairs (normal) or halves (NeoX).
  void (*rope_normal)(const float* cos_sin, float* x, int64_t n_heads, int64_t head_dim,
                      int32_t n_rot) = nullptr;
  void (*rope_neox)(const float* cos_sin, float* x, int64_t n_heads, int64_t head_dim,
                    int32_t n_rot) = nullptr;
  // out[i] = the float value of the fp16 / bf16 bit pattern x[i], exactly (every half and bf16
  // value is a float); the KV cache reads its tiles through these.
  void (*fp16_to_f32)(const uint16_t* x, float* out, int64_t n) = nullptr;
  void (*bf16_to_f32)(const uint16_t* x, float* out, int64_t n) = nullptr;
  // out[i] = the fp8 E4M3 code x[i]'s value (core/fp8.hpp) times `scale`, rounded once: the KV
  // cache's fp8 tiles, each with its scale.
  void (*fp8_to_f32)(const uint8_t* x, float scale, float* out, int64_t n) = nullptr;
  // out[i] = the fp16 bit pattern of the E4M3 code x[i]'s value (`e4m3_to_f16_bits`, exact): a
  // decoding step's fp8 tiles, for the attention kernels that read fp16 tiles.
  void (*fp8_to_f16)(const uint8_t* x, uint16_t* out, int64_t n) = nullptr;
};

// The quantized-dot kernels of `table` for weights of `weight_type` (null pointers when the type
// has none). Callers fetch them once per operation.
const QuantDotKernels& quant_dot_kernels(const KernelTable& table, GgmlType weight_type);
// The packed kernel of `table` for `weight_type`, or null.
PackedGemmFn packed_gemm_kernel(const KernelTable& table, GgmlType weight_type);

// Tables compiled into this binary and usable on this CPU, scalar first: one per ISA, in this
// CPU's prefetch variant (`stream_prefetch_for_this_cpu`; InvalidArgumentError when
// `CAPIBARA_PREFETCH` is not a valid value).
std::vector<const KernelTable*> available_kernel_tables();
// The same with both prefetch variants of each x86 ISA, for tests and benchmarks that check or
// compare them.
std::vector<const KernelTable*> available_kernel_table_variants();
// Whether this CPU has AVX512_BF16: the AVX-512 table's BF16 matmuls then run on bf16 dot products
// (`vdpbf16ps`), and `bench --roofline` bounds them by their peak.
bool cpu_has_avx512_bf16();
// Whether this CPU has NEON's int8 matrix multiply (i8mm; aarch64 Linux, HWCAP2_I8MM): the NEON
// table's Q4_0 and Q8_0 prefill then runs on `smmla`.
bool cpu_has_neon_i8mm();
// The table in use: the best available, or the one `CAPIBARA_ISA` names (InvalidArgumentError
// when it names an unknown ISA or one this CPU lacks).
const KernelTable& active_kernels();

// Per-ISA tables, defined in their own translation units (x86/, arm/). Only call the ISA ones
// after checking the CPU (`available_kernel_tables` does).
const KernelTable& scalar_kernel_table();
const KernelTable* avx2_kernel_table(StreamPrefetch prefetch);      // nullptr when not compiled in
const KernelTable* avx_vnni_kernel_table(StreamPrefetch prefetch);  // nullptr when not compiled in
const KernelTable* avx512_kernel_table(StreamPrefetch prefetch);    // nullptr when not compiled in
const KernelTable* neon_kernel_table();  // nullptr when not compiled in (non-aarch64 builds)

}  // namespace capibara::kernels
